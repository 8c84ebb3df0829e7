package cases

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// TestAddAllInBatches: more new customers and cases than one statement
// takes (batchRows), in one AddAll and over several, give the same cases as
// adding the events one by one would: each with its own id, reference,
// customer and counts; a second report finds them all again.
func TestAddAllInBatches(t *testing.T) {
	t.Parallel()
	const customers = 2*batchRows + 7
	for _, per := range []int{customers * 2, 333} { // items per AddAll call
		t.Run("per "+strconv.Itoa(per), func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				now := time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC)
				a := testAggregator(t, Config{}, &now)
				seen := now.Add(-time.Hour)
				// Two events per customer: the second, a minute later, from
				// another address.
				var items []Item
				for round := range 2 {
					for c := range customers {
						ip := fmt.Sprintf("10.%d.%d.%d", c/256, c%256, round+1)
						items = append(items, item(dnsEvent(t, ip), fmt.Sprintf("c%04d", c), seen.Add(time.Duration(round)*time.Minute)))
					}
				}
				run := func() Summary {
					var sum Summary
					err := db.InTx(ctx, func(tx *sqlx.Tx) error {
						s := a.Begin(db, tx)
						out := make([]Assigned, len(items))
						for i := 0; i < len(items); i += per {
							end := min(i+per, len(items))
							if err := s.AddAll(ctx, items[i:end], out[i:end]); err != nil {
								return err
							}
						}
						for i, o := range out {
							if o.CaseID == 0 || o.CustomerID == 0 || o != out[i%customers] {
								return fmt.Errorf("item %d assigned %+v, its customer's first item %+v", i, o, out[i%customers])
							}
						}
						var err error
						sum, err = s.Finish(ctx)
						return err
					})
					if err != nil {
						t.Fatal(err)
					}
					return sum
				}
				if sum := run(); sum.NewCases != customers || sum.Operations != 2*customers {
					t.Fatalf("first report: %+v, want %d new cases", sum, customers)
				}
				list, err := List(ctx, db, Filter{State: "all"})
				if err != nil {
					t.Fatal(err)
				}
				if len(list) != customers {
					t.Fatalf("%d cases, want %d", len(list), customers)
				}
				refs := map[string]bool{}
				for _, c := range list {
					if c.Reference != "ABUSE-"+strconv.FormatInt(c.ID, 10) || refs[c.Reference] {
						t.Fatalf("case %s (id %d) has reference %q", c.Key, c.ID, c.Reference)
					}
					refs[c.Reference] = true
					if c.Events != 2 || c.IPs != 2 || !c.FirstSeen.Equal(seen) || !c.LastSeen.Equal(seen.Add(time.Minute)) {
						t.Fatalf("case %s: %d events, %d addresses, seen %v..%v", c.Key, c.Events, c.IPs, c.FirstSeen, c.LastSeen)
					}
				}
				var n int
				if err := db.GetContext(ctx, &n, `SELECT count(*) FROM customers`); err != nil || n != customers {
					t.Fatalf("%d customers (%v), want %d", n, err, customers)
				}
				now = now.Add(time.Hour)
				if sum := run(); sum.NewCases != 0 || sum.UpdatedCases != customers || sum.Operations != 0 {
					t.Fatalf("second report: %+v, want %d updated cases", sum, customers)
				}
			})
		})
	}
}
