package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/auto"
	"github.com/abusegw/abusegw/normalizer/shadowserver"
)

// maxListedRejections bounds how many rejected rows parse lists per file.
const maxListedRejections = 20

func newParseCmd(e *env, g *globals) *cobra.Command {
	var opts auto.Options
	cmd := &cobra.Command{
		Use:   "parse [--type T] [--format F] FILE...",
		Short: "normalize reports and print their events as JSON lines",
		Long: `parse reads each FILE ("-" for standard input), detects its format (or takes
--format), and prints its events to standard output as JSON lines with IntelMQ
field names as keys. A summary per file goes to standard error: the format, the
number of events, and each rejected row with its reason.

Formats: shadowserver, xarf, arf, mail, intelmq, csv (generic CSV feeds from
normalizer.csv in the configuration). --type names the Shadowserver report type
when the file name does not (e.g. --type scan_ntp).

It exits 0 when every file gave at least one event or was recognised and
legitimately empty, and 1 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(e)
			if err != nil {
				return err
			}
			schema, source, err := shadowserver.LoadSchemaFrom(cfg.DataDir)
			if err != nil {
				return err
			}
			opts.ShadowserverSchema = schema
			opts.CSV = cfg.Normalizer.CSV
			out := bufio.NewWriterSize(e.stdout, 64<<10)
			defer out.Flush()
			failed := 0
			for _, arg := range args {
				if !parseOne(e, out, arg, opts, source) {
					failed++
				}
			}
			if err := out.Flush(); err != nil {
				return fmt.Errorf("writing events: %w", err)
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d file(s) gave no events", failed, len(args))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Type, "type", "", "Shadowserver report type, when the file name does not say (e.g. scan_ntp)")
	cmd.Flags().StringVar(&opts.Format, "format", "", "force the format: shadowserver, xarf, arf, mail, intelmq, csv")
	return cmd
}

// parseOne prints the events of one file and its summary; it reports
// whether the file counts as a success.
func parseOne(e *env, out io.Writer, arg string, opts auto.Options, schemaSource string) bool {
	var r io.Reader
	name := arg
	if arg == "-" {
		r, name = e.stdin, "stdin"
	} else {
		f, err := os.Open(arg)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", arg, err)
			return false
		}
		defer f.Close()
		r = f
		opts.Filename = filepath.Base(arg)
	}
	reader, info, err := auto.Open(r, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %s\n", name, describe(err))
		return false
	}
	var events, rejected int
	var fatal error
	for {
		ev, err := reader.Next()
		if err == io.EOF {
			break
		}
		var rowErr *normalizer.RowError
		if errors.As(err, &rowErr) {
			rejected++
			if rejected <= maxListedRejections {
				fmt.Fprintf(e.stderr, "%s: rejected: %v\n", name, rowErr)
			}
			continue
		}
		if err != nil {
			fatal = err
			break
		}
		events++
		if err := normalizer.WriteJSONLines(out, ev); err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
			return false
		}
	}
	if rejected > maxListedRejections {
		fmt.Fprintf(e.stderr, "%s: … and %d more rejected\n", name, rejected-maxListedRejections)
	}
	format := info.Format
	if info.Detail != "" {
		format += " (" + info.Detail + ")"
	}
	if info.Format == auto.FormatShadowserver && schemaSource != shadowserver.SourceEmbedded {
		format += ", schema " + schemaSource
	}
	fmt.Fprintf(e.stderr, "%s: format %s, %d events, %d rejected\n", name, format, events, rejected)
	if fatal != nil {
		fmt.Fprintf(e.stderr, "%s: %s\n", name, describe(fatal))
		return events > 0
	}
	return events > 0 || rejected == 0
}

func describe(err error) string {
	if errors.Is(err, normalizer.ErrUnrecognized) {
		msg := err.Error()
		if !strings.Contains(msg, "unrecognised") {
			msg = "unrecognised: " + msg
		}
		return msg
	}
	return err.Error()
}
