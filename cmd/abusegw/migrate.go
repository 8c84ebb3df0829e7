package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
)

func newMigrateCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "create or update the database schema (serve does this too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(e)
			if err != nil {
				return err
			}
			db, err := app.OpenDB(cmd.Context(), cfg, newLogger(cfg, e.stderr))
			if err != nil {
				return err
			}
			defer db.Close()
			applied, err := db.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			current, _, err := db.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			for _, a := range applied {
				fmt.Fprintf(e.stdout, "applied %s\n", a)
			}
			fmt.Fprintf(e.stdout, "%s: schema at version %d\n", db, current)
			return nil
		},
	}
}
