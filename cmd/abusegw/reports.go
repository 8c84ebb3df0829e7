package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/channels/httpapi"
	"github.com/abusegw/abusegw/gateway/config"
)

func newReportsCmd(e *env, g *globals) *cobra.Command {
	var (
		jsonOut bool
		f       httpapi.ReportFilter
	)
	cmd := &cobra.Command{
		Use:   "reports [--failed] [--json]",
		Short: "list stored reports with their processing status (--failed: those that failed, with the error)",
		Long: `reports lists the stored reports, newest first: where each came from, its
status (received, processing, processed, partial, failed, unrecognized), its
format and its event counts. --failed lists only the reports that failed or
that no parser recognised, with the error; after a parser fix, abusegw
reprocess ID processes one again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, db, err := openReadyDB(ctx, e, g)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := httpapi.ListReports(ctx, db, f)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if jsonOut {
				enc := json.NewEncoder(e.stdout)
				for _, r := range list {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			if f.Failed {
				fmt.Fprintln(tw, "ID\tRECEIVED\tCHANNEL\tNAME\tSTATUS\tREJECTED\tERROR")
			} else {
				fmt.Fprintln(tw, "ID\tRECEIVED\tCHANNEL\tNAME\tSIZE\tSTATUS\tFORMAT\tEVENTS\tREJECTED")
			}
			for _, r := range list {
				received := r.ReceivedAt.Format(time.DateTime)
				if f.Failed {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, received, r.Channel, truncate(r.Name, 40), r.Status,
						r.Rejected, truncate(r.Error, 120))
					continue
				}
				format := r.Format
				if r.Detail != "" {
					format += "/" + r.Detail
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\n", r.ID, received, r.Channel, truncate(r.Name, 40), r.Size,
					r.Status, truncate(format, 40), r.Events, r.Rejected)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per line")
	cmd.Flags().BoolVar(&f.Failed, "failed", false, "only failed and unrecognized reports, with their error")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "the newest N reports (0: all)")
	return cmd
}

func newReprocessCmd(e *env, g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "reprocess ID...",
		Short: "process failed or unrecognized reports again (after a parser or configuration fix)",
		Long: `reprocess sets each failed or unrecognized report back to received and
processes it again from its stored bytes, with the current parsers and
configuration. Reports that were processed, even partially, are refused: their
events are already in cases. See abusegw reports --failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]int64, 0, len(args))
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return &exitError{code: 2, err: fmt.Errorf("report ID %q is not a positive number", a)}
				}
				ids = append(ids, id)
			}
			return withRuntime(cmd.Context(), e, g, func(_ *config.Config, rt *app.Runtime) error {
				ctx := cmd.Context()
				var failed int
				for _, id := range ids {
					if err := httpapi.Requeue(ctx, rt.DB, id); err != nil {
						if errors.Is(err, httpapi.ErrNoReport) || errors.Is(err, httpapi.ErrNotRequeueable) {
							fmt.Fprintln(e.stderr, "abusegw reprocess:", err)
							failed++
							continue
						}
						return err
					}
					if _, err := rt.Pipeline.Process(ctx, id); err != nil {
						return err
					}
					r, err := httpapi.LookupReport(ctx, rt.DB, id)
					if err != nil {
						return err
					}
					if jsonOut {
						if err := json.NewEncoder(e.stdout).Encode(r); err != nil {
							return err
						}
					} else {
						fmt.Fprintf(e.stdout, "report %d: %s, %d events, %d rejected", r.ID, r.Status, r.Events, r.Rejected)
						if r.Error != "" {
							fmt.Fprintf(e.stdout, " (%s)", truncate(r.Error, 200))
						}
						fmt.Fprintln(e.stdout)
					}
					if r.Status == "failed" || r.Status == "unrecognized" {
						failed++
					}
				}
				if failed > 0 {
					return &exitError{code: 1, err: fmt.Errorf("%d of %d report(s) still not processed", failed, len(ids))}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print each report's outcome as JSON")
	return cmd
}
