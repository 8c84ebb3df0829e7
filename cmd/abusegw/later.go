package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// laterCmds are subcommands whose capability has not landed yet. They exist
// so that scripts and --help show the whole tool, and they say plainly that
// they do nothing yet instead of pretending.
func laterCmds(e *env) []*cobra.Command {
	type later struct{ use, short, issue string }
	var cmds []*cobra.Command
	for _, l := range []later{} {
		cmds = append(cmds, &cobra.Command{
			Use:                l.use,
			Short:              l.short + " (not available yet)",
			DisableFlagParsing: true,
			RunE: func(c *cobra.Command, _ []string) error {
				return &exitError{code: 1, err: fmt.Errorf("%s: not available in this version yet; it arrives with issue %s", c.Name(), l.issue)}
			},
		})
	}
	return cmds
}
