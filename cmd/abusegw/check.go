package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/store"
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
			list, cleanup := checks(cfg)
			defer cleanup()
			for _, c := range list {
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

// checks lists what check verifies: the database, then (over it) the
// wiring, every contact source and every helpdesk.
func checks(cfg *config.Config) ([]check, func()) {
	var db *store.DB
	var rt *app.Runtime
	out := []check{{
		name: "database",
		run: func(ctx context.Context) error {
			var err error
			db, err = app.OpenDB(ctx, cfg, nil)
			if err != nil {
				return err
			}
			current, target, err := db.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			if current < target {
				return fmt.Errorf("%s reachable, but schema at version %d of %d: run `abusegw migrate` (serve does it too)", db, current, target)
			}
			return nil
		},
	}, {
		name: "templates, routing and contact sources load",
		run: func(ctx context.Context) error {
			if db == nil {
				return errors.New("skipped: no database")
			}
			var err error
			rt, err = app.Build(ctx, cfg, db, app.BuildOptions{})
			return err
		},
	}}
	if len(cfg.Contacts) > 0 {
		out = append(out, check{
			name: "contact sources answer",
			run: func(ctx context.Context) error {
				if rt == nil {
					return errors.New("skipped: the contact sources did not load")
				}
				// One error per failing source, each naming it.
				return errors.Join(rt.Contacts.Check(ctx)...)
			},
		})
	}
	for _, k := range cfg.Connectors {
		out = append(out, check{
			name: fmt.Sprintf("connector %s (%s)", k.Name(), k.Type()),
			run: func(ctx context.Context) error {
				if rt == nil {
					return errors.New("skipped: the connectors did not load")
				}
				c, ok := rt.Connectors[k.Name()].(connectors.Checker)
				if !ok {
					return nil
				}
				return errors.Join(c.Check(ctx)...)
			},
		})
	}
	for _, m := range cfg.IMAP {
		out = append(out, check{name: "imap " + m.Name, run: func(ctx context.Context) error {
			if rt == nil {
				return errors.New("skipped: the runtime did not load")
			}
			for _, p := range rt.IMAP {
				if p.Config().Name == m.Name {
					return p.Check(ctx)
				}
			}
			return nil
		}})
	}
	if cfg.ShadowserverAPI.Enabled {
		out = append(out, check{name: "shadowserver api", run: func(ctx context.Context) error {
			if rt == nil || rt.Shadowserver == nil {
				return errors.New("skipped: the runtime did not load")
			}
			return rt.Shadowserver.Check(ctx)
		}})
	}
	cleanup := func() {
		if rt != nil {
			rt.Close()
		}
		if db != nil {
			db.Close()
		}
	}
	return out, cleanup
}
