package sync_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

func tk(id, status string, canonical connectors.Status, updated time.Time, reason string) connectors.Ticket {
	return connectors.Ticket{ID: id, Status: status, Canonical: canonical, Updated: updated, ClosureReason: reason}
}

func mustApply(t *testing.T, a *gwsync.Applier, ticket connectors.Ticket, src gwsync.Source, delivery string, want gwsync.Outcome) {
	t.Helper()
	got, err := a.Apply(context.Background(), "rt", ticket, src, delivery)
	if err != nil {
		t.Fatalf("Apply(%s %s): %v", ticket.ID, ticket.Status, err)
	}
	if got != want {
		t.Fatalf("Apply(%s %s @%s) = %s, want %s", ticket.ID, ticket.Status, ticket.Updated.Format(time.TimeOnly), got, want)
	}
}

// TestApplyDeskLifecycle: a desk resolves, reopens and rejects a ticket; each
// step changes the case once, with a history row naming source and reason,
// and repeats or older states change nothing.
func TestApplyDeskLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock(t0.Add(time.Hour))
		a := newApplier(db, clk)
		id := insertCase(t, db, "ip:192.0.2.1", "rt", "101", "new", t0)
		t1 := t0.Add(10 * time.Minute)
		t2, t3 := t1.Add(time.Minute), t1.Add(2*time.Minute)

		mustApply(t, a, tk("101", "resolved", connectors.StatusResolved, t1, "patched"), gwsync.SourceWebhook, "tx-1", gwsync.OutcomeChanged)
		c := readCase(t, db, id)
		if c.State != "resolved" || c.Status != "resolved" || c.ClosureReason != "patched" || c.ReopenCount != 0 {
			t.Fatalf("after resolve: %+v", c)
		}
		if !c.ResolvedAt.Valid || !c.ResolvedAt.Time.Equal(t1) || !c.FirstResponse.Time.Equal(t1) {
			t.Fatalf("resolved_at %v first_response_at %v, want %v", c.ResolvedAt, c.FirstResponse, t1)
		}
		// The same state again (a repeated webhook, the nightly reconcile).
		mustApply(t, a, tk("101", "resolved", connectors.StatusResolved, t1, "patched"), gwsync.SourceReconcile, "", gwsync.OutcomeUnchanged)

		// A desk member reopens it: the case reopens and the reopen counts.
		mustApply(t, a, tk("101", "open", connectors.StatusOpen, t2, ""), gwsync.SourceReconcile, "", gwsync.OutcomeChanged)
		c = readCase(t, db, id)
		if c.State != "open" || c.Status != "open" || c.ResolvedAt.Valid || c.ClosureReason != "" || c.ReopenCount != 1 {
			t.Fatalf("after desk reopen: %+v", c)
		}
		if !c.FirstResponse.Time.Equal(t1) {
			t.Fatalf("first_response_at moved to %v", c.FirstResponse.Time)
		}

		// Rejected: closed, with the reason the desk gave.
		mustApply(t, a, tk("101", "rejected", connectors.StatusClosed, t3, "not our customer"), gwsync.SourceWebhook, "tx-3", gwsync.OutcomeChanged)
		c = readCase(t, db, id)
		if c.State != "closed" || c.Status != "closed" || c.ClosureReason != "not our customer" || !c.ResolvedAt.Time.Equal(t3) || c.ReopenCount != 1 {
			t.Fatalf("after reject: %+v", c)
		}

		// Out of order: the resolve of t1 and the reopen of t2 arrive late.
		mustApply(t, a, tk("101", "open", connectors.StatusOpen, t2, ""), gwsync.SourceWebhook, "tx-2", gwsync.OutcomeStale)
		mustApply(t, a, tk("101", "resolved", connectors.StatusResolved, t1, "patched"), gwsync.SourceWebhook, "tx-1", gwsync.OutcomeStale)
		if c2 := readCase(t, db, id); c2 != c {
			t.Fatalf("a stale state changed the case: %+v, was %+v", c2, c)
		}

		want := []historyRow{
			{From: "new", To: "resolved", Source: "webhook", Reason: "patched", Delivery: "tx-1"},
			{From: "resolved", To: "open", Source: "reconcile", Reason: "reopened in the helpdesk"},
			{From: "open", To: "closed", Source: "webhook", Reason: "not our customer", Delivery: "tx-3"},
		}
		got := history(t, db, id)
		if len(got) != len(want) {
			t.Fatalf("history has %d rows, want %d: %+v", len(got), len(want), got)
		}
		for i, at := range []time.Time{t1, t2, t3} {
			if !got[i].At.Time.Equal(at) {
				t.Errorf("history[%d].at = %v, want %v", i, got[i].At.Time, at)
			}
			got[i].At = store.NullTime{}
			if got[i] != want[i] {
				t.Errorf("history[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		tr := readTicket(t, db, "rt", "101")
		if tr.ExternalStatus != "rejected" || tr.Status != "closed" || tr.ClosureReason != "not our customer" || !tr.ExtUpdated.Time.Equal(t3) {
			t.Errorf("ticket row %+v", tr)
		}
	})
}

// TestApplyOwnReopenNotUndone: abusegw reopened a resolved case (it was seen
// again); a reconcile that still sees the old resolved ticket, because the
// outbox has not reopened it in the helpdesk yet, must not resolve it again,
// and the reopen carried out later is not a desk reopen.
func TestApplyOwnReopenNotUndone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock(t0.Add(time.Hour))
		a := newApplier(db, clk)
		id := insertCase(t, db, "ip:192.0.2.2", "rt", "102", "open", t0)
		t1 := t0.Add(10 * time.Minute)
		mustApply(t, a, tk("102", "resolved", connectors.StatusResolved, t1, ""), gwsync.SourceWebhook, "tx-1", gwsync.OutcomeChanged)

		// What cases.Session.reopen does, 20 minutes later.
		reopenAt := store.Time(t1.Add(20*time.Minute + 123456*time.Microsecond))
		if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE cases SET state = 'open', status = 'open', reopen_count = reopen_count + 1,
			resolved_at = NULL, version = version + 1, updated_at = ? WHERE id = ?`), reopenAt, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO status_history (case_id, from_status, to_status, at, source, reason, created_at)
			VALUES (?, 'resolved', 'open', ?, 'gateway', 'seen again after closure: reopened', ?)`), id, reopenAt, reopenAt); err != nil {
			t.Fatal(err)
		}

		clk.Set(reopenAt.Add(time.Hour))
		mustApply(t, a, tk("102", "resolved", connectors.StatusResolved, t1, ""), gwsync.SourceReconcile, "", gwsync.OutcomeStale)
		c := readCase(t, db, id)
		if c.State != "open" || c.ReopenCount != 1 || c.ResolvedAt.Valid {
			t.Fatalf("the stale reconcile undid abusegw's reopen: %+v", c)
		}
		if tr := readTicket(t, db, "rt", "102"); !tr.LastSynced.Time.Equal(clk.Now()) {
			t.Errorf("ticket not touched: last_synced_at %v", tr.LastSynced)
		}

		// The outbox reopens the ticket in RT; its webhook is no desk reopen.
		mustApply(t, a, tk("102", "open", connectors.StatusOpen, reopenAt.Add(2*time.Second), ""), gwsync.SourceWebhook, "tx-2", gwsync.OutcomeUnchanged)
		if c := readCase(t, db, id); c.State != "open" || c.ReopenCount != 1 {
			t.Fatalf("after the helpdesk carried out abusegw's reopen: %+v", c)
		}
		if n := len(history(t, db, id)); n != 1 {
			t.Errorf("%d sync history rows, want 1 (the resolve)", n)
		}
	})
}

// TestApplyUnknownStatus: a status the map lacks changes no case but the
// ticket row shows it was seen; a ticket that is not ours is ignored.
func TestApplyUnknownStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock(t0.Add(time.Hour))
		a := newApplier(db, clk)
		id := insertCase(t, db, "ip:192.0.2.3", "rt", "103", "open", t0)
		before := readCase(t, db, id)
		mustApply(t, a, tk("103", "escalated", "", t0.Add(time.Minute), ""), gwsync.SourceWebhook, "tx-9", gwsync.OutcomeUnknown)
		if c := readCase(t, db, id); c != before {
			t.Fatalf("case changed: %+v, was %+v", c, before)
		}
		tr := readTicket(t, db, "rt", "103")
		if tr.ExternalStatus != "escalated" || tr.Status != "open" || !tr.LastSynced.Time.Equal(clk.Now()) {
			t.Errorf("ticket row %+v", tr)
		}
		if n := len(history(t, db, id)); n != 0 {
			t.Errorf("%d history rows", n)
		}
		mustApply(t, a, tk("999", "resolved", connectors.StatusResolved, t0, ""), gwsync.SourceReconcile, "", gwsync.OutcomeUnknown)
		if n := count(t, db, `SELECT count(*) FROM status_history`); n != 0 {
			t.Errorf("%d history rows after a foreign ticket", n)
		}
	})
}

// TestApplyClosureReasonFromRT: the rt connector reads reason_field into the
// ticket, and the case keeps it.
func TestApplyClosureReasonFromRT(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, conn := newRT(t, nil)
		id, tid := createTicket(t, db, conn, "ip:192.0.2.4", t0)
		n, _ := strconv.Atoi(tid)
		if err := srv.SetCustomField(n, "ClosureReason", "customer fixed it"); err != nil {
			t.Fatal(err)
		}
		if err := srv.SetStatus(n, "resolved"); err != nil {
			t.Fatal(err)
		}
		got, err := conn.Get(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		if got.ClosureReason != "customer fixed it" || got.Canonical != connectors.StatusResolved || got.Updated.IsZero() {
			t.Fatalf("Get: %+v", got)
		}
		a := newApplier(db, newClock(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)))
		mustApply(t, a, got, gwsync.SourceReconcile, "", gwsync.OutcomeChanged)
		if c := readCase(t, db, id); c.State != "resolved" || c.ClosureReason != "customer fixed it" {
			t.Fatalf("case %+v", c)
		}
	})
}

// TestMarkGone: a ticket deleted in the helpdesk closes its case, with a
// reason and a history row, once.
func TestMarkGone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock(t0.Add(time.Hour))
		a := newApplier(db, clk)
		id := insertCase(t, db, "ip:192.0.2.5", "rt", "105", "open", t0)
		for range 2 {
			if err := a.MarkGone(ctx, "rt", "105", connectors.ErrNotFound); err != nil {
				t.Fatal(err)
			}
		}
		c := readCase(t, db, id)
		if c.State != "closed" || c.Status != "closed" || c.ClosureReason == "" || !c.ResolvedAt.Time.Equal(clk.Now()) {
			t.Fatalf("case %+v", c)
		}
		if tr := readTicket(t, db, "rt", "105"); tr.Status != "deleted" {
			t.Errorf("ticket status %q", tr.Status)
		}
		h := history(t, db, id)
		if len(h) != 1 || h[0].To != "closed" || h[0].Source != "reconcile" || h[0].Reason != c.ClosureReason {
			t.Errorf("history %+v", h)
		}
		// Not ours: nothing, no error.
		if err := a.MarkGone(ctx, "rt", "999", connectors.ErrNotFound); err != nil {
			t.Fatal(err)
		}
	})
}
