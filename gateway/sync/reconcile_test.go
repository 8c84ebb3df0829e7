package sync_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	gosync "sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/connectors/rt/rttest"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

const overlap = 5 * time.Minute

var errPage = errors.New("helpdesk unavailable")

func newReconciler(t testing.TB, db *store.DB, clk *clock, conns map[string]connectors.Connector) *gwsync.Reconciler {
	t.Helper()
	r, err := gwsync.NewReconciler(db, conns, gwsync.NewApplier(db, clk.Now, nil), gwsync.ReconcilerOptions{Overlap: overlap, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type watermark struct {
	Watermark   store.NullTime `db:"watermark"`
	LastRun     store.NullTime `db:"last_run_at"`
	LastSuccess store.NullTime `db:"last_success_at"`
	LastError   string         `db:"last_error"`
}

func readWatermark(t testing.TB, db *store.DB, connector string) watermark {
	t.Helper()
	var w watermark
	if err := db.GetContext(context.Background(), &w, db.Rebind(`SELECT watermark, last_run_at, last_success_at, last_error FROM sync_watermarks WHERE connector = ?`), connector); err != nil {
		t.Fatalf("reading the watermark: %v", err)
	}
	return w
}

// spy wraps a connector: it records the since of each ListUpdated, can fail
// one page, and can hold a call until released.
type spy struct {
	connectors.Connector
	mu      gosync.Mutex
	sinces  []time.Time
	failAt  connectors.Cursor // fail the page with this cursor ("" = none)
	entered chan struct{}     // non-nil: ListUpdated signals here, then waits on release
	release chan struct{}
}

func (s *spy) ListUpdated(ctx context.Context, since time.Time, cursor connectors.Cursor) (connectors.Page, error) {
	s.mu.Lock()
	s.sinces = append(s.sinces, since)
	fail := s.failAt != "" && cursor == s.failAt
	s.mu.Unlock()
	if s.entered != nil && cursor == "" {
		s.entered <- struct{}{}
		<-s.release
	}
	if fail {
		return connectors.Page{}, fmt.Errorf("spy: page %s failed: %w", cursor, errPage)
	}
	return s.Connector.ListUpdated(ctx, since, cursor)
}

func (s *spy) lastSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sinces[len(s.sinces)-1]
}

// resolvedTickets makes n cases with RT tickets and resolves them in RT.
func resolvedTickets(t *testing.T, db *store.DB, srv *rttest.Server, conn connectors.Connector, prefix string, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		id, tid := createTicket(t, db, conn, fmt.Sprintf("%s-%d", prefix, i), t0)
		num, _ := strconv.Atoi(tid)
		if err := srv.SetStatus(num, "resolved"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestReconcilePaging: more changed tickets than one page; every page is
// read and applied, and the watermark moves to the run's start.
func TestReconcilePaging(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv, conn := newRT(t, func(c *rt.Config) { c.PageSize = 2 })
		ids := resolvedTickets(t, db, srv, conn, "page", 5)
		clk := newClock(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
		r := newReconciler(t, db, clk, map[string]connectors.Connector{"rt": conn})
		st, err := r.Run(context.Background(), "rt", gwsync.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want := (gwsync.Stats{Connector: "rt", Tickets: 5, Changed: 5, Pages: 3}); st != want {
			t.Fatalf("stats %+v, want %+v", st, want)
		}
		for _, id := range ids {
			if c := readCase(t, db, id); c.State != "resolved" {
				t.Errorf("case %d: %+v", id, c)
			}
			if h := history(t, db, id); len(h) != 1 || h[0].Source != "reconcile" {
				t.Errorf("case %d history %+v", id, h)
			}
		}
		if w := readWatermark(t, db, "rt"); !w.Watermark.Time.Equal(clk.Now()) || w.LastError != "" {
			t.Errorf("watermark %+v, want %v", w, clk.Now())
		}
		// Again: nothing new, nothing changes.
		st, err = r.Run(context.Background(), "rt", gwsync.Options{})
		if err != nil || st.Changed != 0 {
			t.Fatalf("second run: %+v, %v", st, err)
		}
	})
}

// TestReconcileWatermarkOnFailure: a run that fails (RT answers 500, or a
// later page fails after earlier ones were applied) keeps the watermark, so
// the next run lists from the same point.
func TestReconcileWatermarkOnFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, conn := newRT(t, func(c *rt.Config) { c.PageSize = 2 })
		sp := &spy{Connector: conn}
		// Before the fake RT's clock (2026-01-01 on), so the tickets
		// changed after the first run are newer than its watermark.
		clk := newClock(t0.Add(time.Hour))
		r := newReconciler(t, db, clk, map[string]connectors.Connector{"rt": sp})
		if _, err := r.Run(ctx, "rt", gwsync.Options{}); err != nil {
			t.Fatal(err)
		}
		w1 := clk.Now()

		ids := resolvedTickets(t, db, srv, conn, "wm", 3)
		clk.Advance(24 * time.Hour)
		srv.Inject(rttest.Fault{Method: "GET", Path: "/tickets", Status: 500})
		if _, err := r.Run(ctx, "rt", gwsync.Options{}); err == nil {
			t.Fatal("no error from a run whose search failed")
		}
		if !sp.lastSince().Equal(w1.Add(-overlap)) {
			t.Errorf("listed since %v, want the watermark minus the overlap %v", sp.lastSince(), w1.Add(-overlap))
		}
		w := readWatermark(t, db, "rt")
		if !w.Watermark.Time.Equal(w1) || !w.LastSuccess.Time.Equal(w1) || !w.LastRun.Time.Equal(clk.Now()) || w.LastError == "" {
			t.Fatalf("after a failed run: %+v (watermark must stay %v)", w, w1)
		}
		if c := readCase(t, db, ids[0]); c.State != "open" {
			t.Fatalf("case changed by a failed run: %+v", c)
		}

		// The first page succeeds, the second fails: what was applied
		// stays applied, and the watermark still does not move.
		srv.ClearFaults()
		clk.Advance(time.Hour)
		sp.mu.Lock()
		sp.failAt = "2"
		sp.mu.Unlock()
		st, err := r.Run(ctx, "rt", gwsync.Options{})
		if err == nil {
			t.Fatal("no error from a run whose second page failed")
		}
		if st.Changed != 2 || st.Pages != 1 {
			t.Errorf("stats %+v, want 2 changed on 1 page", st)
		}
		if w := readWatermark(t, db, "rt"); !w.Watermark.Time.Equal(w1) {
			t.Fatalf("watermark moved to %v after a partial run", w.Watermark.Time)
		}
		if !sp.lastSince().Equal(w1.Add(-overlap)) {
			t.Errorf("listed since %v", sp.lastSince())
		}

		// Healthy again: everything is applied and the watermark moves.
		sp.mu.Lock()
		sp.failAt = ""
		sp.mu.Unlock()
		clk.Advance(time.Hour)
		st, err = r.Run(ctx, "rt", gwsync.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Changed != 1 || st.Tickets != 3 {
			t.Errorf("stats %+v, want 3 tickets, 1 changed", st)
		}
		for _, id := range ids {
			if c := readCase(t, db, id); c.State != "resolved" {
				t.Errorf("case %d: %+v", id, c)
			}
		}
		if w := readWatermark(t, db, "rt"); !w.Watermark.Time.Equal(clk.Now()) || w.LastError != "" {
			t.Errorf("watermark %+v, want %v", w, clk.Now())
		}
	})
}

// TestReconcileFullFindsGone: --full reads every open case's ticket; one RT
// does not have (deleted, or moved out of reach) closes its case, loudly.
func TestReconcileFullFindsGone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, conn := newRT(t, nil)
		clk := newClock(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
		r := newReconciler(t, db, clk, map[string]connectors.Connector{"rt": conn})
		live, tid := createTicket(t, db, conn, "full-live", t0)
		gone := insertCase(t, db, "full-gone", "rt", "4711", "open", t0)
		if _, err := r.Run(ctx, "rt", gwsync.Options{}); err != nil {
			t.Fatal(err)
		}
		if c := readCase(t, db, gone); c.State != "open" {
			t.Fatalf("an incremental run closed the case of a ticket it never listed: %+v", c)
		}
		// The live ticket was stalled in RT long ago (before the
		// watermark, so the incremental list would not see it again).
		num, _ := strconv.Atoi(tid)
		if err := srv.SetStatus(num, "stalled"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
		st, err := r.Run(ctx, "rt", gwsync.Options{Full: true, Since: clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if st.Gone != 1 || st.Changed != 1 {
			t.Errorf("stats %+v, want 1 gone, 1 changed", st)
		}
		c := readCase(t, db, gone)
		if c.State != "closed" || c.ClosureReason == "" {
			t.Fatalf("gone ticket's case: %+v", c)
		}
		if h := history(t, db, gone); len(h) != 1 || h[0].Source != "reconcile" || h[0].Reason != c.ClosureReason {
			t.Errorf("history %+v", h)
		}
		if c := readCase(t, db, live); c.State != "pending" {
			t.Errorf("live case %+v", c)
		}
		// Again: the gone ticket is not counted twice.
		if st, err := r.Run(ctx, "rt", gwsync.Options{Full: true}); err != nil || st.Gone != 0 {
			t.Errorf("second full run: %+v, %v", st, err)
		}
	})
}

// TestReconcileBusy: while one reconciler runs a connector, another gets
// ErrBusy (PostgreSQL: the advisory lock; SQLite: the lease), and gets the
// lock once the first is done.
func TestReconcileBusy(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		_, conn := newRT(t, nil)
		sp := &spy{Connector: conn, entered: make(chan struct{}), release: make(chan struct{})}
		clk := newClock(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
		r1 := newReconciler(t, db, clk, map[string]connectors.Connector{"rt": sp, "rt2": conn})
		r2 := newReconciler(t, db, clk, map[string]connectors.Connector{"rt": conn, "rt2": conn})

		done := make(chan error, 1)
		go func() {
			_, err := r1.Run(ctx, "rt", gwsync.Options{})
			done <- err
		}()
		<-sp.entered // r1 holds the lock
		if _, err := r2.Run(ctx, "rt", gwsync.Options{}); !errors.Is(err, gwsync.ErrBusy) {
			t.Errorf("second reconciler: %v, want ErrBusy", err)
		}
		// Another connector is not blocked.
		if _, err := r2.Run(ctx, "rt2", gwsync.Options{}); err != nil {
			t.Errorf("other connector: %v", err)
		}
		close(sp.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := r2.Run(ctx, "rt", gwsync.Options{}); err != nil {
			t.Errorf("after the first finished: %v", err)
		}
	})
}

// TestReconcileLeaseExpiry (SQLite): a lease outlives a stuck holder by an
// hour; the one who takes it over keeps it even when the old holder finally
// finishes.
func TestReconcileLeaseExpiry(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	_, conn := newRT(t, nil)
	stuck := &spy{Connector: conn, entered: make(chan struct{}), release: make(chan struct{})}
	later := &spy{Connector: conn, entered: make(chan struct{}), release: make(chan struct{})}
	clk := newClock(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC))
	clk2 := newClock(clk.Now().Add(2 * time.Hour))
	r1 := newReconciler(t, db, clk, map[string]connectors.Connector{"rt": stuck})
	r2 := newReconciler(t, db, clk2, map[string]connectors.Connector{"rt": later})
	r3 := newReconciler(t, db, clk2, map[string]connectors.Connector{"rt": conn})

	done1, done2 := make(chan error, 1), make(chan error, 1)
	go func() { _, err := r1.Run(ctx, "rt", gwsync.Options{}); done1 <- err }()
	<-stuck.entered
	go func() { _, err := r2.Run(ctx, "rt", gwsync.Options{}); done2 <- err }()
	<-later.entered // r2 took the expired lease over
	close(stuck.release)
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if _, err := r3.Run(ctx, "rt", gwsync.Options{}); !errors.Is(err, gwsync.ErrBusy) {
		t.Errorf("while r2 holds the lease: %v, want ErrBusy (r1's unlock must not release r2's lease)", err)
	}
	close(later.release)
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if _, err := r3.Run(ctx, "rt", gwsync.Options{}); err != nil {
		t.Errorf("after r2 finished: %v", err)
	}
}
