package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/abusegw/abusegw/gateway/cases"
)

func newCasesCmd(e *env, g *globals) *cobra.Command {
	var (
		jsonOut bool
		f       cases.Filter
		maxIPs  int
	)
	cmd := &cobra.Command{
		Use:   "cases [--json] [--state open|closed|all] [--customer C]",
		Short: "list cases: key, customer, classification, state, IPs, events, first/last seen, ticket",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, db, err := openReadyDB(ctx, e, g)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := cases.List(ctx, db, f)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			type withIPs struct {
				cases.Listed
				Addresses []string `json:"addresses"`
			}
			out := make([]withIPs, 0, len(list))
			for _, c := range list {
				ips, err := cases.IPs(ctx, db, c.ID, maxIPs)
				if err != nil {
					return err
				}
				out = append(out, withIPs{c, ips})
			}
			if jsonOut {
				enc := json.NewEncoder(e.stdout)
				for _, c := range out {
					if err := enc.Encode(c); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REF\tKEY\tCUSTOMER\tCLASSIFICATION\tSTATE\tIPS\tEVENTS\tFIRST SEEN\tLAST SEEN\tTICKET\tADDRESSES")
			for _, c := range out {
				ticket := c.Ticket
				if ticket == "" {
					ticket = "-"
				} else {
					ticket = c.Connector + "#" + ticket
				}
				addrs := strings.Join(c.Addresses, ",")
				if c.IPs > len(c.Addresses) {
					addrs += fmt.Sprintf(",…(+%d)", c.IPs-len(c.Addresses))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", c.Reference, c.Key, c.Customer, c.Classification,
					c.State, c.IPs, c.Events, c.FirstSeen.Format("2006-01-02 15:04"), c.LastSeen.Format("2006-01-02 15:04"), ticket, addrs)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per line")
	cmd.Flags().StringVar(&f.State, "state", "open", "open, closed, all, pending or resolved")
	cmd.Flags().StringVar(&f.Customer, "customer", "", "only this customer (its key)")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many cases (0: all)")
	cmd.Flags().IntVar(&maxIPs, "ips", 5, "addresses listed per case")
	return cmd
}
