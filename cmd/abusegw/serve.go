package main

import (
	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
)

func newServeCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "run the gateway: HTTP API, webhooks, workers and schedules",
		Long: `serve migrates the database, then answers HTTP on http.listen
(default 127.0.0.1:8080): /healthz, /readyz, /metrics. SIGTERM or SIGINT
stop it gracefully: in-flight requests finish, the database closes cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(e)
			if err != nil {
				return err
			}
			logger := newLogger(cfg, e.stderr)
			return app.Serve(cmd.Context(), cfg, logger, app.Options{Version: versionString(), OnListen: e.onListen})
		},
	}
}
