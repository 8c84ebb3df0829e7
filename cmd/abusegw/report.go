package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/metrics"
)

func newReportCmd(e *env, g *globals) *cobra.Command {
	var from, to, groupBy, format string
	cmd := &cobra.Command{
		Use:   "report [--from D] [--to D] [--group-by customer|classification|feed|connector] [--format table|csv|json]",
		Short: "compliance figures: how many reports were acted on, how fast, why not",
		Long: "report computes the compliance figures (README: Compliance metrics) for the cases received in\n" +
			"[--from, --to) as they stood at --to. Dates are YYYY-MM-DD (midnight UTC) or RFC 3339 times;\n" +
			"--from defaults to the beginning, --to to now.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := metrics.ParseQuery(from, to, groupBy)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			switch format {
			case metrics.FormatTable, metrics.FormatCSV, metrics.FormatJSON:
			default:
				return &exitError{code: 2, err: fmt.Errorf("--format %q: want table, csv or json", format)}
			}
			ctx := cmd.Context()
			cfg, db, err := openReadyDB(ctx, e, g)
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := metrics.Compute(ctx, db, cfg.Metrics, q, time.Now())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return metrics.WriteReport(e.stdout, rep, format)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day (or time) of the period; default: the beginning")
	cmd.Flags().StringVar(&to, "to", "", "end of the period, exclusive; default: now")
	cmd.Flags().StringVar(&groupBy, "group-by", "", "customer, classification, feed or connector; default: totals only")
	cmd.Flags().StringVar(&format, "format", metrics.FormatTable, "table, csv or json")
	return cmd
}
