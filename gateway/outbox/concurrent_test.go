package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt/rttest"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// countingConn counts the calls that change the helpdesk, per key.
type countingConn struct {
	commentFinder
	mu    sync.Mutex
	calls map[string]int // "Create case-key", "Reply op-key", …
}

func (c *countingConn) count(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[what]++
}

func (c *countingConn) Create(ctx context.Context, req connectors.CreateRequest) (connectors.Ticket, error) {
	c.count("Create " + req.CaseKey)
	return c.commentFinder.Create(ctx, req)
}

func (c *countingConn) Comment(ctx context.Context, id string, m connectors.Message) error {
	c.count("Comment " + m.OpKey)
	return c.commentFinder.Comment(ctx, id, m)
}

func (c *countingConn) Reply(ctx context.Context, id string, m connectors.Message) error {
	c.count("Reply " + m.OpKey)
	return c.commentFinder.Reply(ctx, id, m)
}

func (c *countingConn) FindByKey(ctx context.Context, key string) ([]connectors.Ticket, error) {
	c.count("FindByKey " + key)
	return c.commentFinder.FindByKey(ctx, key)
}

// TestTwoDispatchers: two dispatchers (two replicas of serve) share one
// database and drain it at the same time. No operation runs twice, and no
// case gets two tickets. On PostgreSQL the claims race for real (FOR UPDATE
// SKIP LOCKED); on SQLite they queue for the one writer.
func TestTwoDispatchers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := rttest.New(t)
		clk := newClock()
		const cases = 16
		want := map[string][]string{}
		for i := range cases {
			key := fmt.Sprintf("cust%02d:dns", i)
			id := newCase(t, db, key)
			enqueue(t, db, t0, caseOps(id, "rt", key)...)
			up := updateOp(id, "rt", key, t0)
			enqueue(t, db, t0, up)
			want[key] = []string{key + ":create:reply", up.Key}
		}
		rtc := newRTClient(t, srv)
		var conns []*countingConn
		var ds []*outbox.Dispatcher
		for _, w := range []string{"replica-1", "replica-2"} {
			c := &countingConn{commentFinder: rtc, calls: map[string]int{}}
			d, err := outbox.NewDispatcher(db, outbox.Config{Batch: 3}, outbox.Options{
				Connectors: map[string]connectors.Connector{"rt": c},
				Limits:     map[string]outbox.Limits{"rt": {Concurrency: 4}},
				Now:        clk.Now, Jitter: half, Worker: w,
			})
			if err != nil {
				t.Fatal(err)
			}
			conns, ds = append(conns, c), append(ds, d)
		}
		start := make(chan struct{})
		errs := make(chan error, len(ds))
		for _, d := range ds {
			go func() {
				<-start
				// Drain until nothing is left open: an empty drain only means
				// the other replica holds what remains.
				for range 10000 {
					if _, err := d.Drain(context.Background()); err != nil {
						errs <- err
						return
					}
					var open int
					if err := db.GetContext(context.Background(), &open, `SELECT count(*) FROM outbox WHERE state <> 'completed'`); err != nil {
						errs <- err
						return
					}
					if open == 0 {
						errs <- nil
						return
					}
				}
				errs <- fmt.Errorf("operations still open")
			}()
		}
		close(start)
		for range ds {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		total := map[string]int{}
		for _, c := range conns {
			for k, n := range c.calls {
				total[k] += n
			}
		}
		for key, ops := range want {
			if n := total["Create "+key]; n != 1 {
				t.Errorf("case %s created %d times", key, n)
			}
			if n := total["FindByKey "+key]; n != 0 {
				t.Errorf("case %s looked for %d times: some attempt was repeated", key, n)
			}
			if n := total["Reply "+ops[0]]; n != 1 {
				t.Errorf("%s sent %d times", ops[0], n)
			}
			if n := total["Comment "+ops[1]]; n != 1 {
				t.Errorf("%s sent %d times", ops[1], n)
			}
		}
		var attempts []struct {
			By string `db:"attempted_by"`
			N  int    `db:"n"`
		}
		if err := db.SelectContext(context.Background(), &attempts, `SELECT attempted_by, count(*) AS n FROM outbox GROUP BY attempted_by`); err != nil {
			t.Fatal(err)
		}
		t.Logf("operations per replica: %+v", attempts)
		if n := count(t, db, `SELECT count(*) FROM outbox WHERE attempt <> 1`); n != 0 {
			t.Errorf("%d operations took more than one attempt", n)
		}
		assertExactlyOnce(t, srv, db, want)
	})
}
