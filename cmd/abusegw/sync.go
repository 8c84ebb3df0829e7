package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
	"github.com/abusegw/abusegw/normalizer"
)

func newSyncCmd(e *env, g *globals) *cobra.Command {
	var (
		connector string
		since     string
		full      bool
		jsonOut   bool
	)
	cmd := &cobra.Command{
		Use:   "sync [--connector NAME] [--since T] [--full]",
		Short: "reconcile ticket statuses with the helpdesks now",
		Long: `sync lists the tickets changed in each helpdesk since the last successful run
(with an overlap; or since --since) and applies their status to the cases:
resolved or closed tickets close their cases, reopened tickets reopen them,
each change recorded in the status history. --full also reads every ticket of
an open case one by one and closes the cases of tickets that are gone (deleted,
or moved out of reach). The watermark advances only when the run succeeded.
serve runs the same on the schedule in sync.schedule (default nightly 03:00).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sinceT time.Time
			if since != "" {
				t, err := normalizer.ParseTime(since)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--since %q: want a date or time (2026-11-01, 2026-11-01T10:00:00Z)", since)}
				}
				sinceT = t
			}
			return withRuntime(cmd.Context(), e, g, func(cfg *config.Config, rt *app.Runtime) error {
				names := cfg.ConnectorNames()
				if connector != "" {
					if !slices.Contains(names, connector) {
						return &exitError{code: 2, err: fmt.Errorf("--connector: no connector %q (have %v)", connector, names)}
					}
					names = []string{connector}
				}
				if len(names) == 0 {
					return &exitError{code: 2, err: errors.New("no connectors configured: nothing to sync")}
				}
				var failed error
				for _, name := range names {
					st, err := rt.Reconciler.Run(cmd.Context(), name, gwsync.Options{Since: sinceT, Full: full})
					if err != nil {
						failed = err
						fmt.Fprintf(e.stderr, "sync %s: %v\n", name, err)
						continue
					}
					if jsonOut {
						_ = json.NewEncoder(e.stdout).Encode(st)
					} else {
						fmt.Fprintf(e.stdout, "%s: %d tickets read, %d cases changed, %d stale, %d not ours, %d gone\n",
							name, st.Tickets, st.Changed, st.Stale, st.Unknown, st.Gone)
					}
				}
				if failed != nil {
					return &exitError{code: 1, err: errors.New("reconcile failed for some connectors")}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&connector, "connector", "", "only this connector")
	cmd.Flags().StringVar(&since, "since", "", "list tickets changed since this time instead of the watermark")
	cmd.Flags().BoolVar(&full, "full", false, "also read every ticket of an open case and find tickets that are gone")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per connector")
	return cmd
}
