package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt/rttest"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// crasher counts the dispatcher's steps (each clock reading, and the moment
// before and after each helpdesk call) and kills the dispatcher, by
// cancelling its context, at step n.
type crasher struct {
	mu      sync.Mutex
	n, step int
	kill    context.CancelFunc
	where   string
}

func (c *crasher) tick(where string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step++
	if c.step == c.n && c.kill != nil {
		c.where = where
		c.kill()
	}
}

func (c *crasher) crashed() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.where, c.step >= c.n
}

// crashingConn is a connector whose every call is two steps of a crasher.
type crashingConn struct {
	c connectors.Connector
	k *crasher
}

type commentFinder interface {
	connectors.Connector
	connectors.CommentFinder
}

func (w crashingConn) Create(ctx context.Context, req connectors.CreateRequest) (connectors.Ticket, error) {
	w.k.tick("before Create")
	defer w.k.tick("after Create")
	return w.c.Create(ctx, req)
}

func (w crashingConn) Comment(ctx context.Context, id string, m connectors.Message) error {
	w.k.tick("before Comment")
	defer w.k.tick("after Comment")
	return w.c.Comment(ctx, id, m)
}

func (w crashingConn) Reply(ctx context.Context, id string, m connectors.Message) error {
	w.k.tick("before Reply")
	defer w.k.tick("after Reply")
	return w.c.Reply(ctx, id, m)
}

func (w crashingConn) SetStatus(ctx context.Context, id string, s connectors.Status) error {
	w.k.tick("before SetStatus")
	defer w.k.tick("after SetStatus")
	return w.c.SetStatus(ctx, id, s)
}

func (w crashingConn) Get(ctx context.Context, id string) (connectors.Ticket, error) {
	return w.c.Get(ctx, id)
}

func (w crashingConn) ListUpdated(ctx context.Context, since time.Time, c connectors.Cursor) (connectors.Page, error) {
	return w.c.ListUpdated(ctx, since, c)
}

func (w crashingConn) FindByKey(ctx context.Context, key string) ([]connectors.Ticket, error) {
	w.k.tick("before FindByKey")
	defer w.k.tick("after FindByKey")
	return w.c.FindByKey(ctx, key)
}

func (w crashingConn) FindOp(ctx context.Context, id, op string) (bool, error) {
	w.k.tick("before FindOp")
	defer w.k.tick("after FindOp")
	return w.c.(connectors.CommentFinder).FindOp(ctx, id, op)
}

// TestCrash kills the dispatcher at every step of a case's life in turn
// (create, reply, a later update comment, then a reopen): before and after
// each helpdesk call, and at each clock reading (rescue, claim, recording
// the ticket, recording the outcome). A new dispatcher takes over once the
// lease has expired. Each run must end with exactly one ticket and each
// message once.
func TestCrash(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			// One database for all runs (each its own case), so PostgreSQL
			// does not migrate a schema per step.
			db := storetest.Open(t, dialect)
			srv := rttest.New(t)
			for n := 1; ; n++ {
				if !crashAt(t, db, srv, n) {
					if n < 10 {
						t.Fatalf("the run took only %d steps", n-1)
					}
					t.Logf("crashed at each of %d steps", n-1)
					return
				}
			}
		})
	}
}

// crashAt runs one case with a crash at step n; it reports whether the
// crash happened (false: the run has fewer steps).
func crashAt(t *testing.T, db *store.DB, srv *rttest.Server, n int) bool {
	t.Helper()
	const lease = 5 * time.Minute
	clk := newClock()
	k := &crasher{n: n}
	conn := crashingConn{c: newRTClient(t, srv), k: k}
	cfg := outbox.Config{Lease: lease, MaxBackoff: time.Minute}
	key := fmt.Sprintf("acme:dns:%d", n)
	id := newCase(t, db, key)
	enqueue(t, db, t0, caseOps(id, "rt", key)...)
	update := updateOp(id, "rt", key, t0.Add(time.Hour))
	update.NotBefore = t0.Add(time.Hour)
	enqueue(t, db, t0.Add(time.Hour), update)
	reopen := outbox.Op{CaseID: id, Connector: "rt", Kind: outbox.KindReopen, Key: key + ":reopen:1", NotBefore: t0.Add(2 * time.Hour),
		Payload: outbox.Payload{CaseKey: key, Subject: "seen again", Body: "seen again: 192.0.2.9", Notify: true}}
	enqueue(t, db, t0.Add(time.Hour), reopen)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k.kill = cancel
	clk.onRead = func() { k.tick("clock") }
	d1, err := outbox.NewDispatcher(db, cfg, outbox.Options{
		Connectors: map[string]connectors.Connector{"rt": conn}, Now: clk.Now, Jitter: half, Worker: "w1",
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first process runs through the day until it dies.
	for range 3 {
		if _, err := d1.Drain(ctx); err != nil {
			break
		}
		clk.Advance(time.Hour)
	}
	where, crashed := k.crashed()
	if !crashed {
		return false
	}
	clk.onRead = nil

	// Its successor takes over. While the lease lasts, what the dead one
	// was running stays untouched.
	d2, err := outbox.NewDispatcher(db, cfg, outbox.Options{
		Connectors: map[string]connectors.Connector{"rt": newRTClient(t, srv)}, Now: clk.Now, Jitter: half, Worker: "w2",
	})
	if err != nil {
		t.Fatal(err)
	}
	running, err := outbox.List(context.Background(), db, "running", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range running {
		if got := loadOp(t, db, r.ID); got.State != "running" || got.AttemptedBy != "w1" {
			t.Fatalf("crash at step %d (%s): %s was taken over before its lease expired: %+v", n, where, r.Key, got)
		}
	}
	clk.Advance(lease + time.Second)
	if due := t0.Add(3 * time.Hour); clk.Peek().Before(due) {
		clk.Set(due) // past the update's and the reopen's NotBefore too
	}
	drainAll(t, db, clk, d2, 20)
	if t.Failed() {
		return false
	}
	assertExactlyOnce(t, srv, db, map[string][]string{key: {key + ":create:reply", update.Key, reopen.Key}})
	if t.Failed() {
		t.Fatalf("after a crash at step %d (%s)", n, where)
	}
	for _, tk := range srv.Tickets() {
		if tk.CustomFields[rttest.KeyField] == key && tk.Status != "open" {
			t.Fatalf("crash at step %d (%s): ticket %+v, want it reopened", n, where, tk)
		}
	}
	if got := count(t, db, `SELECT count(*) FROM tickets`); got != n || len(srv.Tickets()) != n {
		t.Fatalf("crash at step %d (%s): %d tickets recorded, %d in RT, want %d", n, where, got, len(srv.Tickets()), n)
	}
	return true
}
