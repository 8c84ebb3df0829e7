package outbox_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

func TestEnqueue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		id := newCase(t, db, "acme:dns")
		op := caseOps(id, "rt", "acme:dns")[0]
		op.NotBefore = t0.Add(-time.Hour) // in the past: due now
		var first int64
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			var created bool
			var err error
			first, created, err = outbox.Enqueue(ctx, tx, op, t0)
			if err != nil || !created {
				t.Errorf("first enqueue: created %v, err %v", created, err)
			}
			again, created, err := outbox.Enqueue(ctx, tx, op, t0.Add(time.Minute))
			if err != nil || created || again != 0 {
				t.Errorf("second enqueue of one key: id %d, created %v, err %v; want 0, false, nil", again, created, err)
			}
			for _, bad := range []outbox.Op{{Connector: "rt", Kind: outbox.KindCreate}, {Key: "k", Kind: outbox.KindCreate}, {Key: "k", Connector: "rt"}} {
				if _, _, err := outbox.Enqueue(ctx, tx, bad, t0); err == nil {
					t.Errorf("Enqueue(%+v) succeeded, want an error", bad)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := loadOp(t, db, first)
		if r.State != "available" || !r.ScheduledAt.Equal(t0) || r.Attempt != 0 {
			t.Errorf("enqueued row = %+v, want available at %v, attempt 0", r, t0)
		}
		if n := count(t, db, `SELECT count(*) FROM outbox`); n != 1 {
			t.Errorf("%d rows, want 1", n)
		}
	})
}

// TestDrain: creates, then replies, each recorded; a second drain does
// nothing.
func TestDrain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{Concurrency: 4})
		keys := []string{"acme:dns", "globex:ntp", "initech:smb"}
		ids := map[string]int64{}
		var opIDs []int64
		for _, k := range keys {
			ids[k] = newCase(t, db, k)
			opIDs = append(opIDs, enqueue(t, db, t0, caseOps(ids[k], "rt", k)...)...)
		}
		st := b.drain(t)
		if st != (outbox.Stats{Completed: 6}) {
			t.Errorf("stats = %+v, want 6 completed", st)
		}
		for _, k := range keys {
			ts := b.desk.ticketsOf(k)
			if len(ts) != 1 {
				t.Fatalf("case %s has %d tickets, want 1", k, len(ts))
			}
			if got := ts[0].opKeys(); !slices.Equal(got, []string{k + ":create:reply"}) || ts[0].Kinds[0] != "Reply" {
				t.Errorf("case %s messages %v %v, want one reply", k, got, ts[0].Kinds)
			}
			var ext string
			if err := db.GetContext(context.Background(), &ext, db.Rebind(`SELECT external_id FROM tickets WHERE case_id = ?`), ids[k]); err != nil || ext != ts[0].ID {
				t.Errorf("recorded ticket of %s = %q (%v), want %s", k, ext, err, ts[0].ID)
			}
			if n := count(t, db, `SELECT count(*) FROM cases WHERE id = ? AND notified_at IS NOT NULL`, ids[k]); n != 1 {
				t.Errorf("case %s: notified_at not set", k)
			}
		}
		for k, s := range states(t, db) {
			if s != "completed" {
				t.Errorf("%s is %s, want completed", k, s)
			}
		}
		var res struct {
			TicketID string `json:"ticket_id"`
		}
		r := loadOp(t, db, opIDs[0])
		if err := json.Unmarshal([]byte(r.Result), &res); err != nil || res.TicketID == "" || !r.Finalized.Valid || r.LeaseUntil.Valid {
			t.Errorf("completed create row = %+v, want a result with the ticket, finalized, no lease", r)
		}
		calls := len(b.desk.Calls())
		if st := b.drain(t); st != (outbox.Stats{}) {
			t.Errorf("second drain = %+v, want nothing", st)
		}
		if len(b.desk.Calls()) != calls {
			t.Errorf("second drain called the desk")
		}
		// No FindByKey on a first attempt: nothing can exist yet.
		for _, c := range b.desk.Calls() {
			if c.Method == "FindByKey" || c.Method == "FindOp" {
				t.Errorf("first attempts looked for earlier effects: %+v", c)
			}
		}
	})
}

// TestCaseOrder: a case's operations run in order; a failing create holds
// back its case's reply (and not other cases'), until it completes, is
// retried or is dropped.
func TestCaseOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{Concurrency: 4})
		a, c := newCase(t, db, "a"), newCase(t, db, "c")
		aIDs := enqueue(t, db, t0, caseOps(a, "rt", "a")...)
		enqueue(t, db, t0, caseOps(c, "rt", "c")...)
		// a's create fails for now (retryable), then for good.
		b.desk.fail("Create a", fault{err: retryable("boom")})
		b.drain(t)
		if got := states(t, db); got["a:create"] != "retryable" || got["a:create:reply"] != "available" || got["c:create:reply"] != "completed" {
			t.Fatalf("states after a failed create = %v", got)
		}
		// Due or not, the reply waits for its create.
		b.clock.Advance(time.Hour)
		b.desk.fail("FindByKey a", fault{err: permanent("no rights")})
		b.drain(t)
		got := states(t, db)
		if got["a:create"] != "dead" || got["a:create:reply"] != "available" {
			t.Fatalf("states after a dead create = %v", got)
		}
		for range 3 {
			b.clock.Advance(24 * time.Hour)
			if st := b.drain(t); st != (outbox.Stats{}) {
				t.Fatalf("a dead create let its case run: %+v", st)
			}
		}
		for _, c := range b.desk.Calls() {
			if c.Method == "Reply" && strings.HasPrefix(c.Key, "a:") {
				t.Fatalf("the reply ran before its case's create: %v", b.desk.callKeys())
			}
		}
		// Retry: the create runs again (fresh attempts), then the reply.
		if err := outbox.Retry(context.Background(), db, aIDs[0], b.clock.Peek()); err != nil {
			t.Fatal(err)
		}
		if r := loadOp(t, db, aIDs[0]); r.State != "available" || r.Attempt != 0 || r.Finalized.Valid {
			t.Errorf("retried row = %+v", r)
		}
		if st := b.drain(t); st.Completed != 2 {
			t.Errorf("drain after Retry = %+v, want 2 completed", st)
		}
		var order []string
		for _, c := range b.desk.Calls() {
			if c.Key == "a" || strings.HasPrefix(c.Key, "a:") {
				order = append(order, c.Method)
			}
		}
		// Attempt 1 created nothing (retryable), attempt 2 died in
		// FindByKey, the retried attempt 1 creates without looking.
		if want := []string{"Create", "FindByKey", "Create", "Reply"}; !slices.Equal(order, want) {
			t.Errorf("calls for case a = %v, want %v", order, want)
		}
		if n := len(b.desk.ticketsOf("a")); n != 1 {
			t.Errorf("case a has %d tickets", n)
		}
	})
}

// TestDropUnblocks: dropping a dead create lets the case's later operations
// run; without a ticket they fail for good instead of waiting forever.
func TestDropUnblocks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{})
		id := newCase(t, db, "a")
		ids := enqueue(t, db, t0, caseOps(id, "rt", "a")...)
		b.desk.fail("Create", fault{err: permanent("unknown queue")})
		if st := b.drain(t); st != (outbox.Stats{Dead: 1}) {
			t.Fatalf("drain = %+v, want 1 dead", st)
		}
		if err := outbox.Drop(context.Background(), db, ids[0], b.clock.Peek()); err != nil {
			t.Fatal(err)
		}
		if st := b.drain(t); st != (outbox.Stats{Dead: 1}) {
			t.Fatalf("drain after drop = %+v, want the reply dead", st)
		}
		r := loadOp(t, db, ids[1])
		if r.State != "dead" || !strings.Contains(r.LastError, "has no rt ticket") {
			t.Errorf("reply after the create was dropped = %+v", r)
		}
		if got := states(t, db); got["a:create"] != "cancelled" {
			t.Errorf("states = %v", got)
		}
	})
}

// TestBackoff: attempt⁴ seconds, ±10 % jitter, capped at MaxBackoff; the
// attempts are capped and the last failure goes to the dead letter with its
// history.
func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		jitter float64
		max    time.Duration
		want   []time.Duration // delay after attempt 1, 2, ...
	}{
		{"middle", 0.5, 0, []time.Duration{1 * time.Second, 16 * time.Second, 81 * time.Second, 256 * time.Second}},
		{"low", 0, 0, []time.Duration{900 * time.Millisecond, 14400 * time.Millisecond, 72900 * time.Millisecond, 230400 * time.Millisecond}},
		{"high", 0.75, 0, []time.Duration{1050 * time.Millisecond, 16800 * time.Millisecond, 85050 * time.Millisecond, 268800 * time.Millisecond}},
		{"capped", 0.5, time.Minute, []time.Duration{1 * time.Second, 16 * time.Second, time.Minute, time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				clk := newClock()
				desk := newFakeDesk()
				d, err := outbox.NewDispatcher(db, outbox.Config{MaxBackoff: tc.max}, outbox.Options{
					Connectors: map[string]connectors.Connector{"rt": desk}, Now: clk.Now,
					Jitter: func() float64 { return tc.jitter },
				})
				if err != nil {
					t.Fatal(err)
				}
				cid := newCase(t, db, "a")
				op := caseOps(cid, "rt", "a")[0]
				op.MaxAttempts = len(tc.want) + 1
				id := enqueue(t, db, t0, op)[0]
				for range op.MaxAttempts {
					desk.fail("Create", fault{err: retryable("HTTP 500")})
				}
				for i, want := range tc.want {
					now := clk.Peek()
					st, err := d.Drain(context.Background())
					if err != nil || st != (outbox.Stats{Retried: 1}) {
						t.Fatalf("attempt %d: %+v, %v", i+1, st, err)
					}
					r := loadOp(t, db, id)
					if got := r.ScheduledAt.Sub(now); r.State != "retryable" || r.Attempt != i+1 || (got-want).Abs() > time.Microsecond {
						t.Fatalf("after attempt %d: %s, attempt %d, due in %v; want retryable, %d, %v", i+1, r.State, r.Attempt, got, i+1, want)
					}
					// Not a moment before it is due.
					clk.Set(r.ScheduledAt.Add(-time.Microsecond))
					if st, _ := d.Drain(context.Background()); st != (outbox.Stats{}) {
						t.Fatalf("ran %v early", time.Microsecond)
					}
					clk.Set(r.ScheduledAt)
				}
				if st, err := d.Drain(context.Background()); err != nil || st != (outbox.Stats{Dead: 1}) {
					t.Fatalf("last attempt: %+v, %v; want dead", st, err)
				}
				r := loadOp(t, db, id)
				var hist []struct {
					Attempt int    `json:"attempt"`
					Kind    string `json:"kind"`
				}
				if err := json.Unmarshal([]byte(r.Errors), &hist); err != nil {
					t.Fatal(err)
				}
				if r.State != "dead" || r.Attempt != op.MaxAttempts || len(hist) != op.MaxAttempts || hist[0].Kind != "retryable" || !r.Finalized.Valid {
					t.Errorf("dead row = %+v, history %+v", r, hist)
				}
				if n := desk.ticketCount(); n != 0 {
					t.Errorf("%d tickets", n)
				}
			})
		})
	}
}

// TestRetryAfter: a 429's Retry-After sets the next attempt exactly, and
// does not use up an attempt, not even the last one.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{})
		cid := newCase(t, db, "a")
		op := caseOps(cid, "rt", "a")[0]
		op.MaxAttempts = 1
		id := enqueue(t, db, t0, op)[0]
		b.desk.fail("Create", fault{err: rateLimited(90 * time.Second)}, fault{err: rateLimited(30 * time.Second)})
		for _, wait := range []time.Duration{90 * time.Second, 30 * time.Second} {
			now := b.clock.Peek()
			if st := b.drain(t); st != (outbox.Stats{Retried: 1}) {
				t.Fatalf("drain = %+v, want 1 retried", st)
			}
			r := loadOp(t, db, id)
			if r.State != "retryable" || r.Attempt != 0 || !r.ScheduledAt.Equal(now.Add(wait)) {
				t.Fatalf("after a 429: %+v; want retryable, attempt 0, due at %v", r, now.Add(wait))
			}
			b.clock.Set(r.ScheduledAt.Add(-time.Second))
			if st := b.drain(t); st != (outbox.Stats{}) {
				t.Fatalf("ran before Retry-After: %+v", st)
			}
			b.clock.Set(r.ScheduledAt)
		}
		if st := b.drain(t); st != (outbox.Stats{Completed: 1}) {
			t.Fatalf("drain = %+v, want completed", st)
		}
		if r := loadOp(t, db, id); r.Attempt != 1 {
			t.Errorf("attempts used = %d, want 1", r.Attempt)
		}
	})
}

// TestPermanent: a permanent error is dead at once, whatever the attempts
// left.
func TestPermanent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{})
		cid := newCase(t, db, "a")
		id := enqueue(t, db, t0, caseOps(cid, "rt", "a")...)[0]
		b.desk.fail("Create", fault{err: permanent("No permission to create tickets in the queue 'X'")})
		if st := b.drain(t); st != (outbox.Stats{Dead: 1}) {
			t.Fatalf("drain = %+v", st)
		}
		r := loadOp(t, db, id)
		if r.State != "dead" || r.Attempt != 1 || !strings.Contains(r.LastError, "No permission") || !r.Finalized.Valid {
			t.Errorf("row = %+v", r)
		}
		rows, err := outbox.List(context.Background(), db, "dead", 0)
		if err != nil || len(rows) != 1 || rows[0].ID != id || rows[0].CaseKey.String != "a" {
			t.Errorf("List(dead) = %+v, %v", rows, err)
		}
	})
}

// TestUnknownOutcome: after an unknown outcome nothing is repeated
// blindly: a create looks for the ticket by key, a reply for its marker.
func TestUnknownOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		applied   bool
		wantCalls []string
	}{
		{"create landed", "Create", true, []string{"Create a", "FindByKey a", "Reply a:create:reply"}},
		{"create lost", "Create", false, []string{"Create a", "FindByKey a", "Create a", "Reply a:create:reply"}},
		{"reply landed", "Reply", true, []string{"Create a", "Reply a:create:reply", "FindOp a:create:reply"}},
		{"reply lost", "Reply", false, []string{"Create a", "Reply a:create:reply", "FindOp a:create:reply", "Reply a:create:reply"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				b := newBundle(t, db, outbox.Config{}, outbox.Limits{})
				cid := newCase(t, db, "a")
				enqueue(t, db, t0, caseOps(cid, "rt", "a")...)
				b.desk.fail(tc.method, fault{err: unknown("read: connection reset by peer"), apply: tc.applied})
				if st := b.drain(t); st.Retried != 1 {
					t.Fatalf("drain = %+v, want 1 retried", st)
				}
				var unknownRows []outbox.Row
				rows, err := outbox.List(context.Background(), db, "retryable", 0)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					if r.OutcomeUnknown {
						unknownRows = append(unknownRows, r)
					}
				}
				if len(unknownRows) != 1 {
					t.Fatalf("retryable rows %+v, want one with its outcome unknown", rows)
				}
				b.clock.Advance(time.Minute)
				b.drain(t)
				if got := b.desk.callKeys(); !slices.Equal(got, tc.wantCalls) {
					t.Errorf("calls = %v, want %v", got, tc.wantCalls)
				}
				ts := b.desk.ticketsOf("a")
				if len(ts) != 1 || !slices.Equal(ts[0].opKeys(), []string{"a:create:reply"}) {
					t.Errorf("tickets = %+v, want one with one reply", ts)
				}
				for k, s := range states(t, db) {
					if s != "completed" {
						t.Errorf("%s is %s", k, s)
					}
				}
			})
		})
	}
}

// TestLeaseAndRescue: a claimed operation is leased to its worker; nobody
// else runs it while the lease lasts; when its worker dies (the context
// ends mid-call) it stays running until the lease expires, and is then run
// again with its outcome unknown: found, not repeated.
func TestLeaseAndRescue(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cfg := outbox.Config{Lease: 10 * time.Minute}
		b := newBundle(t, db, cfg, outbox.Limits{})
		other := b.dispatcher(t, cfg, outbox.Limits{}, "w2")
		cid := newCase(t, db, "a")
		ids := enqueue(t, db, t0, caseOps(cid, "rt", "a")...)
		b.desk.gate()
		// The create lands in the desk, then the worker dies before it
		// hears back.
		ctx, cancel := context.WithCancel(context.Background())
		b.desk.fail("Create", fault{err: unknown("worker died"), apply: true, then: cancel})
		done := make(chan error, 1)
		go func() { _, err := b.d.Drain(ctx); done <- err }()
		if m := <-b.desk.entered; m != "Create" {
			t.Fatalf("first call %s", m)
		}
		r := loadOp(t, db, ids[0])
		if r.State != "running" || r.Attempt != 1 || r.AttemptedBy != "w1" || !r.LeaseUntil.Valid || !r.LeaseUntil.Time.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("claimed row = %+v, want running for w1 until %v", r, t0.Add(10*time.Minute))
		}
		// The other worker finds nothing to do: the create is leased and
		// the reply waits for it.
		if st, err := other.Drain(context.Background()); err != nil || st != (outbox.Stats{}) {
			t.Fatalf("other worker: %+v, %v", st, err)
		}
		b.desk.release <- struct{}{} // the call lands, and the process is gone
		if err := <-done; err == nil {
			t.Fatal("a cancelled drain reported no error")
		}
		if n := len(b.desk.ticketsOf("a")); n != 1 {
			t.Fatalf("%d tickets after the crash", n)
		}
		if r := loadOp(t, db, ids[0]); r.State != "running" {
			t.Fatalf("after the crash the create is %s, want still running (leased)", r.State)
		}
		b.desk.entered, b.desk.release = nil, nil // no more gate
		// Before the lease expires: still nothing to do.
		b.clock.Advance(10*time.Minute - time.Second)
		if st, err := other.Drain(context.Background()); err != nil || st != (outbox.Stats{}) {
			t.Fatalf("other worker before the lease expired: %+v, %v", st, err)
		}
		// After: rescued with the outcome unknown, found, not repeated.
		b.clock.Advance(2 * time.Second)
		if st, err := other.Drain(context.Background()); err != nil || st != (outbox.Stats{Completed: 2}) {
			t.Fatalf("other worker after the lease expired: %+v, %v", st, err)
		}
		if got, want := b.desk.callKeys(), []string{"Create a", "FindByKey a", "Reply a:create:reply"}; !slices.Equal(got, want) {
			t.Errorf("calls = %v, want %v", got, want)
		}
		r = loadOp(t, db, ids[0])
		if r.AttemptedBy != "w2" || r.Attempt != 2 || r.State != "completed" || r.Unknown {
			t.Errorf("rescued row = %+v", r)
		}
		if !strings.Contains(r.Result, `"found_existing":true`) {
			t.Errorf("result %s, want found_existing", r.Result)
		}
	})
}

// TestConcurrency: a connector never runs more operations at once than its
// limit, and other connectors have their own.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		desks := map[string]*fakeDesk{"wide": newFakeDesk(), "narrow": newFakeDesk()}
		limits := map[string]outbox.Limits{"wide": {Concurrency: 3}, "narrow": {Concurrency: 1}}
		conns := map[string]connectors.Connector{}
		for name, d := range desks {
			d.gate()
			conns[name] = d
		}
		d, err := outbox.NewDispatcher(db, outbox.Config{}, outbox.Options{Connectors: conns, Limits: limits, Now: clk.Now, Jitter: half})
		if err != nil {
			t.Fatal(err)
		}
		const perDesk = 8
		for name := range desks {
			for i := range perDesk {
				key := name + ":" + string(rune('a'+i))
				enqueue(t, db, t0, caseOps(newCase(t, db, key), name, key)[0])
			}
		}
		done := make(chan error, 1)
		go func() { _, err := d.Drain(context.Background()); done <- err }()
		var wg sync.WaitGroup
		for name, desk := range desks {
			limit := limits[name].Concurrency
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Let the desk fill up to its limit, then let one call finish
				// at a time: each makes room for exactly one more.
				for range limit {
					<-desk.entered
				}
				for i := range perDesk {
					desk.release <- struct{}{}
					if i+limit < perDesk {
						<-desk.entered
					}
				}
			}()
		}
		wg.Wait()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for name, desk := range desks {
			if desk.maxIn != limits[name].Concurrency {
				t.Errorf("%s: at most %d calls at once, want %d", name, desk.maxIn, limits[name].Concurrency)
			}
			if n := desk.ticketCount(); n != perDesk {
				t.Errorf("%s: %d tickets, want %d", name, n, perDesk)
			}
		}
	})
}

// TestRateLimit: a connector's calls keep to its rate. The limiter runs on
// the real clock, so this test takes about (ops-burst)/rate seconds.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	const (
		rate = 20.0
		ops  = 30
	)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{Concurrency: 8, RateLimit: rate})
		for i := range ops {
			key := "c" + string(rune('a'+i))
			enqueue(t, db, t0, caseOps(newCase(t, db, key), "rt", key)[0])
		}
		if st := b.drain(t); st.Completed != ops {
			t.Fatalf("drain = %+v", st)
		}
		calls := b.desk.Calls()
		slices.SortFunc(calls, func(a, b fakeCall) int { return a.At.Compare(b.At) })
		burst := int(rate)
		// Token bucket: between call i and call j at most burst + rate·Δt
		// calls, so t_j - t_i >= (j-i-burst)/rate. Allow 5 ms of slack for
		// the clock readings.
		for i := range calls {
			for j := i + burst; j < len(calls); j++ {
				least := time.Duration(float64(j-i-burst) / rate * float64(time.Second))
				if got := calls[j].At.Sub(calls[i].At); got < least-5*time.Millisecond {
					t.Fatalf("calls %d and %d %v apart, want at least %v", i, j, got, least)
				}
			}
		}
	})
}

// TestAdmin: List by state, Retry and Drop and what they refuse.
func TestAdmin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{})
		a, c := newCase(t, db, "a"), newCase(t, db, "c")
		aIDs := enqueue(t, db, t0, caseOps(a, "rt", "a")...)
		cIDs := enqueue(t, db, t0, caseOps(c, "rt", "c")...)
		b.desk.fail("Create", fault{err: permanent("nope")}) // one of the two creates dies
		b.drain(t)
		dead, err := outbox.List(ctx, db, "dead", 0)
		if err != nil || len(dead) != 1 {
			t.Fatalf("List(dead) = %+v, %v", dead, err)
		}
		deadID := dead[0].ID
		blocked, done := aIDs, cIDs
		if deadID == cIDs[0] {
			blocked, done = cIDs, aIDs
		}
		tests := []struct {
			state string
			want  []int64
		}{
			{"", []int64{blocked[0], blocked[1]}},
			{"all", []int64{aIDs[0], aIDs[1], cIDs[0], cIDs[1]}},
			{"completed", []int64{done[0], done[1]}},
			{"available", []int64{blocked[1]}},
			{"running", nil},
		}
		for _, tc := range tests {
			rows, err := outbox.List(ctx, db, tc.state, 0)
			if err != nil {
				t.Fatalf("List(%q): %v", tc.state, err)
			}
			var got []int64
			for _, r := range rows {
				got = append(got, r.ID)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("List(%q) = %v, want %v", tc.state, got, want)
			}
		}
		if rows, err := outbox.List(ctx, db, "all", 1); err != nil || len(rows) != 1 {
			t.Errorf("List(all, 1) = %d rows, %v", len(rows), err)
		}
		if _, err := outbox.List(ctx, db, "bogus", 0); err == nil {
			t.Error("List(bogus) succeeded")
		}
		refusals := []struct {
			name string
			fn   func() error
		}{
			{"retry completed", func() error { return outbox.Retry(ctx, db, done[0], t0) }},
			{"retry missing", func() error { return outbox.Retry(ctx, db, 9999, t0) }},
			{"drop completed", func() error { return outbox.Drop(ctx, db, done[1], t0) }},
			{"drop missing", func() error { return outbox.Drop(ctx, db, 9999, t0) }},
		}
		for _, r := range refusals {
			if err := r.fn(); err == nil {
				t.Errorf("%s succeeded", r.name)
			}
		}
		// Drop the waiting reply, then the dead create; Retry brings the
		// create back, and the dropped reply stays dropped.
		if err := outbox.Drop(ctx, db, blocked[1], t0); err != nil {
			t.Fatal(err)
		}
		if err := outbox.Drop(ctx, db, blocked[1], t0); err == nil {
			t.Error("dropping twice succeeded")
		}
		if err := outbox.Retry(ctx, db, deadID, t0); err != nil {
			t.Fatal(err)
		}
		if st := b.drain(t); st != (outbox.Stats{Completed: 1}) {
			t.Errorf("drain after retry = %+v, want the create only", st)
		}
		if got := loadOp(t, db, blocked[1]); got.State != "cancelled" || !got.Finalized.Valid {
			t.Errorf("dropped reply = %+v", got)
		}
		if rows, _ := outbox.List(ctx, db, "", 0); len(rows) != 1 || rows[0].State != "cancelled" {
			t.Errorf("List() = %+v, want only the dropped reply", rows)
		}
	})
}

// TestTicketOfAnotherCase: when the ticket a create finds is already
// recorded for another case (the helpdesk merged the two), the create fails
// for good, saying so, instead of completing without a ticket and leaving
// the case's later operations to fail with "no ticket".
func TestTicketOfAnotherCase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBundle(t, db, outbox.Config{}, outbox.Limits{})
		a := newCase(t, db, "a")
		enqueue(t, db, t0, caseOps(a, "rt", "a")[0])
		b.drain(t)
		c := newCase(t, db, "c")
		ids := enqueue(t, db, t0, caseOps(c, "rt", "c")...)
		b.desk.fail("Create c", fault{err: unknown("timeout")})
		b.drain(t)
		// Meanwhile a desk member merged c's ticket into a's.
		b.desk.mu.Lock()
		b.desk.byKey["c"] = b.desk.byKey["a"]
		b.desk.mu.Unlock()
		b.clock.Advance(time.Minute)
		b.drain(t)
		r := loadOp(t, db, ids[0])
		if r.State != "dead" || !strings.Contains(r.LastError, "already recorded for case") {
			t.Errorf("create = %+v, want dead: ticket of another case", r)
		}
		if n := count(t, db, `SELECT count(*) FROM tickets WHERE case_id = ?`, c); n != 0 {
			t.Errorf("case c has %d tickets recorded", n)
		}
	})
}
