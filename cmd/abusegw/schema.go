package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/normalizer/shadowserver"
)

func newSchemaCmd(e *env, g *globals) *cobra.Command {
	schema := &cobra.Command{
		Use:   "schema",
		Short: "manage the Shadowserver report schema",
	}
	var from string
	update := &cobra.Command{
		Use:   "update [--from URL|FILE]",
		Short: "fetch, validate and install a newer Shadowserver schema in the data directory",
		Long: `update fetches Shadowserver's IntelMQ schema (by default from
` + shadowserver.DefaultSchemaURL + `), checks that every report type in it
compiles, and installs it as ` + shadowserver.SchemaFileName + ` in data_dir, where it is
used in preference to the schema built into abusegw. The previous file is kept
with a .bak suffix.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(e)
			if err != nil {
				return err
			}
			res, err := shadowserver.UpdateSchema(cmd.Context(), from, cfg.DataDir, &http.Client{Timeout: 2 * time.Minute})
			if err != nil {
				return err
			}
			if !res.Changed {
				fmt.Fprintf(e.stdout, "%s already holds this schema (version %s, %d report types)\n", res.Path, res.Version, res.Types)
				return nil
			}
			fmt.Fprintf(e.stdout, "installed %s: version %s, %d report types", res.Path, res.Version, res.Types)
			if res.Previous != "" {
				fmt.Fprintf(e.stdout, " (was %s, kept as %s)", res.Previous, res.Backup)
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	update.Flags().StringVar(&from, "from", "", "URL or file to read the schema from (default: Shadowserver's)")
	schema.AddCommand(update)
	return schema
}
