package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/outbox"
)

// withRuntime opens the database, migrates it and wires the pipeline.
func withRuntime(ctx context.Context, e *env, g *globals, fn func(cfg *config.Config, rt *app.Runtime) error) error {
	cfg, err := g.loadConfig(e)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, e.stderr)
	db, err := app.OpenDB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	rt, err := app.Build(ctx, cfg, db, app.BuildOptions{Logger: logger})
	if err != nil {
		return err
	}
	defer rt.Close()
	return fn(cfg, rt)
}

func newDispatchCmd(e *env, g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "dispatch",
		Short: "run every due helpdesk operation in the outbox, then exit",
		Long: `dispatch enqueues the update messages that are due (at most one per case per
cases.update_interval), then executes every outbox operation that is due against
its helpdesk, and exits when none is left due: for cron-style deployments and
scripts. serve does the same continuously. Operations that fail and may succeed
later wait for their backoff; those that cannot succeed go to the dead letter
(see abusegw outbox).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRuntime(cmd.Context(), e, g, func(_ *config.Config, rt *app.Runtime) error {
				ctx := cmd.Context()
				if len(rt.Connectors) == 0 {
					return &exitError{code: 2, err: fmt.Errorf("no connectors configured: there is no helpdesk to dispatch to")}
				}
				updates, err := rt.Aggregator.FlushUpdates(ctx, rt.DB)
				if err != nil {
					return err
				}
				st, err := rt.Dispatcher.Drain(ctx)
				if jsonOut {
					_ = json.NewEncoder(e.stdout).Encode(struct {
						Updates int `json:"updates_enqueued"`
						outbox.Stats
					}{updates, st})
				} else {
					fmt.Fprintf(e.stdout, "updates enqueued: %d\noperations: %d completed, %d to retry later, %d dead\n", updates, st.Completed, st.Retried, st.Dead)
				}
				if err != nil {
					return err
				}
				if st.Dead > 0 {
					return &exitError{code: 1, err: fmt.Errorf("%d operation(s) failed for good: see abusegw outbox list --state dead", st.Dead)}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}

func newOutboxCmd(e *env, g *globals) *cobra.Command {
	var (
		jsonOut bool
		state   string
		limit   int
	)
	cmd := &cobra.Command{
		Use:   "outbox [list|retry ID|drop ID] [--json]",
		Short: "list, retry or drop helpdesk operations",
		Long: `outbox shows the helpdesk operations that have not completed (list, the
default; --state all|dead|retryable|… to choose), makes a dead operation due
again (retry ID), or drops an operation (drop ID) so that the operations of its
case queued behind it can run.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			verb := "list"
			if len(args) > 0 {
				verb = args[0]
			}
			_, db, err := openReadyDB(ctx, e, g)
			if err != nil {
				return err
			}
			defer db.Close()
			switch verb {
			case "list":
				rows, err := outbox.List(ctx, db, state, limit)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				if jsonOut {
					enc := json.NewEncoder(e.stdout)
					for _, r := range rows {
						if err := enc.Encode(r); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tKIND\tCONNECTOR\tCASE\tATTEMPT\tNEXT\tLAST ERROR")
				for _, r := range rows {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, r.State, r.Kind, r.Connector, r.CaseKey.String,
						r.Attempt, r.MaxAttempts, r.ScheduledAt.UTC().Format(time.RFC3339), truncate(r.LastError, 80))
				}
				return tw.Flush()
			case "retry", "drop":
				if len(args) != 2 {
					return &exitError{code: 2, err: fmt.Errorf("outbox %s needs an operation ID", verb)}
				}
				id, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("operation ID %q is not a number", args[1])}
				}
				if verb == "retry" {
					err = outbox.Retry(ctx, db, id, time.Now())
				} else {
					err = outbox.Drop(ctx, db, id, time.Now())
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "operation %d: %s\n", id, map[string]string{"retry": "due again", "drop": "dropped"}[verb])
				return nil
			}
			return &exitError{code: 2, err: fmt.Errorf("unknown outbox verb %q (want list, retry ID or drop ID)", verb)}
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per line")
	cmd.Flags().StringVar(&state, "state", "", "operations in this state (default: all not completed; all; dead; retryable; …)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
