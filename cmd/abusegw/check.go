package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
)

func newCheckCmd(e *env, g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "validate the configuration and reach everything it names",
		Long: `check validates the configuration and connects to the database (and, as
they are configured, to helpdesks and contact sources). It prints one line per
check and exits 0 only when all is well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(e)
			if err != nil {
				// One problem per line.
				var ee *exitError
				if errors.As(err, &ee) {
					for _, line := range strings.Split(strings.TrimPrefix(ee.err.Error(), "configuration: "), "\n") {
						fmt.Fprintln(e.stdout, "FAIL config:", line)
					}
					return &exitError{code: 1, err: errors.New("configuration is invalid")}
				}
				return err
			}
			fmt.Fprintln(e.stdout, "ok   config")
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			problems := 0
			for _, c := range checks(cfg) {
				if err := c.run(ctx); err != nil {
					problems++
					for _, line := range strings.Split(err.Error(), "\n") {
						fmt.Fprintf(e.stdout, "FAIL %s: %s\n", c.name, line)
					}
					continue
				}
				fmt.Fprintf(e.stdout, "ok   %s\n", c.name)
			}
			if problems > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d check(s) failed", problems)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up on all checks after this long")
	return cmd
}

type check struct {
	name string
	run  func(ctx context.Context) error
}

func checks(cfg *config.Config) []check {
	return []check{{
		name: "database",
		run: func(ctx context.Context) error {
			db, err := app.OpenDB(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			current, target, err := db.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			if current < target {
				return fmt.Errorf("%s reachable, but schema at version %d of %d: run `abusegw migrate` (serve does it too)", db, current, target)
			}
			return nil
		},
	}}
}
