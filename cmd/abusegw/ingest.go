package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/ingest"
)

func newIngestCmd(e *env, g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "ingest FILE|DIR|-",
		Short: "store reports, normalize them, update cases and enqueue helpdesk operations",
		Long: `ingest stores each report (a file, every new file below a directory, or
standard input for "-") before anything else, then normalizes it, looks up the
customer of each event, routes it, and updates cases, enqueueing the helpdesk
operations (create, update, reopen) that ` + "`abusegw dispatch`" + ` or ` + "`serve`" + ` carry out.

A report ingested before is recognised by its SHA-256 and changes nothing; a
report whose processing was interrupted is completed. A summary follows.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRuntime(cmd.Context(), e, g, func(_ *config.Config, rt *app.Runtime) error {
				return runIngest(cmd.Context(), e, rt, args, jsonOut)
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the summary as JSON")
	return cmd
}

// runIngest ingests every argument and prints the summary.
func runIngest(ctx context.Context, e *env, rt *app.Runtime, args []string, jsonOut bool) error {
	var total ingest.Summary
	// Reports left half-processed by an earlier crash come first.
	pending, err := rt.Pipeline.ProcessPending(ctx)
	if err != nil {
		return err
	}
	total.Add(pending)
	var failed error
	for _, arg := range args {
		sum, err := rt.Pipeline.IngestPath(ctx, arg, e.stdin, newProgress(e))
		total.Add(sum)
		if err != nil {
			failed = err
			fmt.Fprintln(e.stderr, "abusegw ingest:", err)
		}
	}
	if jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(total); err != nil {
			return err
		}
	} else {
		printSummary(e.stdout, total)
	}
	if failed != nil {
		return &exitError{code: 1, err: fmt.Errorf("some reports could not be ingested")}
	}
	return nil
}

func printSummary(w io.Writer, s ingest.Summary) {
	fmt.Fprintf(w, "reports: %d (%d already known, %d unrecognised, %d failed)\n", s.Reports+s.Duplicates, s.Duplicates, s.Unrecognized, s.Failed)
	fmt.Fprintf(w, "events: %d (%d rejected rows, %d unowned, %d ignored)\n", s.Events, s.Rejected, s.Unowned, s.Ignored)
	fmt.Fprintf(w, "cases: %d new, %d updated, %d reopened\n", s.NewCases, s.UpdatedCases, s.Reopened)
	fmt.Fprintf(w, "helpdesk operations enqueued: %d\n", s.Operations)
}

// progress shows a bar on a terminal and nothing elsewhere, so that logs
// and cron mails stay clean.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newProgress(e *env) ingest.Progress {
	f, ok := e.stderr.(*os.File)
	if !ok {
		return &progress{}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return &progress{}
	}
	return &progress{w: f}
}

func (p *progress) Start(files int, bytes int64) {
	// Only big inputs are worth a bar.
	if p.w == nil || (files < 2 && bytes < 16<<20) {
		return
	}
	p.bar = progressbar.NewOptions64(bytes,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetDescription(fmt.Sprintf("ingesting %d file(s)", files)),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
}

func (p *progress) Done(_ string, size int64, _ ingest.Summary, _ error) {
	if p.bar != nil {
		_ = p.bar.Add64(size)
	}
}
