package metrics_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/metrics"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

// The report reads what it needs of a case from the case's own columns,
// which triggers keep (migration 00008_case_facts). These tests write a
// random history through every kind of statement the triggers watch, then
// check the columns against their definitions, and the report against the
// queries it replaced, which read the definitions from the status history,
// the outbox and the other cases directly.

// history writes a random history of cases, status changes and helpdesk
// operations: inserts, updates and deletes, one row and several at a time.
type history struct {
	t     *testing.T
	db    *store.DB
	rng   *rand.Rand
	base  time.Time
	custs []int64
	cases []int64
	hist  []int64
	ops   []int64
	n     int
}

func newHistory(t *testing.T, db *store.DB, seed uint64) *history {
	h := &history{t: t, db: db, rng: rand.New(rand.NewPCG(seed, 7)), base: ts("2026-10-01 00:00")}
	for _, k := range []string{"A", "B", "C"} {
		var id int64
		h.get(&id, `INSERT INTO customers (key, name, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id`, k, "Customer "+k, h.base, h.base)
		h.custs = append(h.custs, id)
	}
	return h
}

func (h *history) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.db.ExecContext(context.Background(), h.db.Rebind(q), args...); err != nil {
		h.t.Fatalf("%s %v: %v", q, args, err)
	}
}

func (h *history) get(dest any, q string, args ...any) {
	h.t.Helper()
	if err := h.db.GetContext(context.Background(), dest, h.db.Rebind(q), args...); err != nil {
		h.t.Fatalf("%s %v: %v", q, args, err)
	}
}

// boundaries are the durations the figures compare with (the SLAs, the age
// buckets and the relapse windows of the tests' configurations), and
// deltas what a time lands beside them by: on either side of a half
// millisecond, which rounds up.
var (
	boundaries = []time.Duration{24 * time.Hour, 30 * time.Hour, 48 * time.Hour, 50 * time.Hour, 72 * time.Hour,
		3 * 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
	deltas = []time.Duration{-time.Millisecond, -500 * time.Microsecond, -499 * time.Microsecond, 0,
		499 * time.Microsecond, 500 * time.Microsecond, 501 * time.Microsecond, time.Millisecond}
)

// ends are the ends of the tests' periods, which ages are measured from.
var ends = []time.Time{ts("2027-01-10 00:00"), ts("2026-12-01 00:00"), ts("2026-11-15 12:00").Add(1500 * time.Microsecond),
	ts("2026-11-03 07:00").Add(500 * time.Microsecond)}

// at is a random time in the three months from October 2026, often on a
// whole hour, sometimes with microseconds (half milliseconds included),
// sometimes just about a boundary before the end of a period.
func (h *history) at() time.Time {
	if h.rng.IntN(5) == 0 {
		return store.Time(pick(h, ends).Add(-pick(h, boundaries)).Add(pick(h, deltas)))
	}
	t := h.base.Add(time.Duration(h.rng.IntN(90*24)) * time.Hour)
	switch h.rng.IntN(4) {
	case 0:
		t = t.Add(time.Duration(h.rng.IntN(3600_000_000)) * time.Microsecond)
	case 1:
		t = t.Add(time.Duration(h.rng.IntN(3600)) * time.Second).Add(500 * time.Microsecond)
	}
	return store.Time(t)
}

// near is a time close to t: the same, a little before, a boundary later
// give or take a delta, or at most a few days later.
func (h *history) near(t time.Time) time.Time {
	switch h.rng.IntN(5) {
	case 0:
		return t
	case 1:
		return store.Time(t.Add(-time.Duration(h.rng.IntN(2000)) * time.Millisecond))
	case 2:
		return store.Time(t.Add(pick(h, boundaries)).Add(pick(h, deltas)))
	}
	return store.Time(t.Add(time.Duration(h.rng.IntN(96*3600)) * time.Second).Add(time.Duration(h.rng.IntN(1000)) * time.Microsecond))
}

func (h *history) maybe(t time.Time) any {
	if h.rng.IntN(3) == 0 {
		return nil
	}
	return t
}

func pick[T any](h *history, xs []T) T { return xs[h.rng.IntN(len(xs))] }

func (h *history) customer() any {
	if h.rng.IntN(8) == 0 {
		return nil
	}
	return pick(h, h.custs)
}

// newCase inserts one case (or, sometimes, several in one statement), some
// already resolved, as the fixtures and imports do.
func (h *history) newCase() {
	rows := 1 + h.rng.IntN(2)*h.rng.IntN(4)
	var b strings.Builder
	b.WriteString(`INSERT INTO cases (case_key, base_key, customer_id, classification_identifier, feed_name, connector, notify, state, status,
		first_seen, last_seen, notified_at, first_response_at, resolved_at, closure_reason, reopen_count, created_at, updated_at) VALUES `)
	var args []any
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		h.n++
		created := h.at()
		customer, cls := h.customer(), pick(h, []string{"open-dns", "botnet", "spam"})
		if len(h.cases) > 0 && h.rng.IntN(3) == 0 {
			// A relapse window, give or take a delta, after another case of
			// the customer and classification was resolved.
			var p struct {
				Customer sql.NullInt64
				Cls      string
				Resolved store.NullTime
			}
			h.get(&p, `SELECT customer_id AS customer, classification_identifier AS cls, resolved_at AS resolved FROM cases WHERE id = ?`, pick(h, h.cases))
			if p.Resolved.Valid {
				customer, cls = p.Customer, p.Cls
				created = store.Time(p.Resolved.Time.Add(pick(h, []time.Duration{48 * time.Hour, 30 * 24 * time.Hour})).Add(pick(h, deltas)))
			}
		}
		state, resolved, reason := "open", any(nil), ""
		if h.rng.IntN(3) == 0 {
			state, resolved, reason = pick(h, []string{"resolved", "closed", "open"}), h.near(created), pick(h, []string{"fixed", " No Response", "won't fix", "", "FIXED "})
		}
		key := "k" + strconv.Itoa(h.n)
		args = append(args, key, key, customer, cls, pick(h, []string{"f1", "f2"}),
			pick(h, []string{"rt", "jira", ""}), h.rng.IntN(2) == 0, state, created, created, h.maybe(h.near(created)), h.maybe(h.near(created)),
			resolved, reason, h.rng.IntN(2), created, created)
	}
	b.WriteString(" RETURNING id")
	var ids []int64
	if err := h.db.SelectContext(context.Background(), &ids, h.db.Rebind(b.String()), args...); err != nil {
		h.t.Fatalf("inserting cases: %v", err)
	}
	h.cases = append(h.cases, ids...)
}

// changeCase resolves, reopens, notifies or moves a case (or several).
func (h *history) changeCase() {
	id := pick(h, h.cases)
	var created time.Time
	var createdNT store.NullTime
	h.get(&createdNT, `SELECT created_at FROM cases WHERE id = ?`, id)
	created = createdNT.Time
	switch h.rng.IntN(8) {
	case 0, 1:
		h.exec(`UPDATE cases SET state = ?, resolved_at = ?, closure_reason = ?, version = version + 1 WHERE id = ?`,
			pick(h, []string{"resolved", "closed"}), h.near(created), pick(h, []string{"fixed", "no response", "Customer unreachable", ""}), id)
	case 2:
		h.exec(`UPDATE cases SET state = 'open', resolved_at = NULL, closure_reason = '', reopen_count = reopen_count + 1 WHERE id = ?`, id)
	case 3:
		h.exec(`UPDATE cases SET notified_at = COALESCE(notified_at, ?) WHERE id = ?`, h.near(created), id)
	case 4:
		h.exec(`UPDATE cases SET first_response_at = ?, notify = ? WHERE id = ?`, h.maybe(h.near(created)), h.rng.IntN(2) == 0, id)
	case 5:
		// A case moved: its customer, classification or receipt changes.
		h.exec(`UPDATE cases SET customer_id = ?, classification_identifier = ?, created_at = ? WHERE id = ?`,
			h.customer(), pick(h, []string{"open-dns", "botnet"}), h.near(created), id)
	case 6:
		// Several at once, as a sweep would.
		other := pick(h, h.cases)
		h.exec(`UPDATE cases SET state = 'closed', resolved_at = ?, closure_reason = 'gone' WHERE id IN (?, ?)`, h.near(created), id, other)
	case 7:
		if h.rng.IntN(2) == 0 {
			h.exec(`UPDATE cases SET events_count = events_count + 1, updated_at = ? WHERE id = ?`, h.at(), id)
		} else {
			// Closed without a time (no helpdesk does this; the data may).
			h.exec(`UPDATE cases SET state = 'closed' WHERE id = ?`, id)
		}
	}
}

// deleteCase deletes a case nothing refers to.
func (h *history) deleteCase() {
	id := pick(h, h.cases)
	var refs int
	h.get(&refs, `SELECT (SELECT count(*) FROM status_history WHERE case_id = ?) + (SELECT count(*) FROM outbox WHERE case_id = ?)`, id, id)
	if refs > 0 {
		return
	}
	h.exec(`DELETE FROM cases WHERE id = ?`, id)
	h.cases = slices.DeleteFunc(h.cases, func(c int64) bool { return c == id })
}

func (h *history) statusChange() {
	switch {
	case len(h.hist) == 0 || h.rng.IntN(3) > 0:
		id := pick(h, h.cases)
		var created store.NullTime
		h.get(&created, `SELECT created_at FROM cases WHERE id = ?`, id)
		var hid int64
		h.get(&hid, `INSERT INTO status_history (case_id, from_status, to_status, at, source, reason, created_at) VALUES (?, '', 'open', ?, ?, '', ?) RETURNING id`,
			id, h.near(created.Time), pick(h, []string{"gateway", "webhook", "reconcile", "manual"}), h.at())
		h.hist = append(h.hist, hid)
	case h.rng.IntN(3) == 0:
		hid := pick(h, h.hist)
		h.exec(`DELETE FROM status_history WHERE id = ?`, hid)
		h.hist = slices.DeleteFunc(h.hist, func(x int64) bool { return x == hid })
	default:
		h.exec(`UPDATE status_history SET at = ?, source = ?, case_id = ? WHERE id = ?`,
			h.at(), pick(h, []string{"gateway", "webhook"}), pick(h, h.cases), pick(h, h.hist))
	}
}

func (h *history) operation() {
	switch {
	case len(h.ops) == 0 || h.rng.IntN(3) > 0:
		id := pick(h, h.cases)
		var created store.NullTime
		h.get(&created, `SELECT created_at FROM cases WHERE id = ?`, id)
		state := pick(h, []string{"completed", "available", "dead"})
		var fin any
		if state != "available" {
			fin = h.near(created.Time)
		}
		var oid int64
		h.n++
		h.get(&oid, `INSERT INTO outbox (case_id, connector, kind, idempotency_key, state, scheduled_at, created_at, finalized_at) VALUES (?, 'rt', ?, ?, ?, ?, ?, ?) RETURNING id`,
			id, pick(h, []string{"reply", "reply", "create", "comment"}), "op"+strconv.Itoa(h.n), state, created.Time, created.Time, fin)
		h.ops = append(h.ops, oid)
	case h.rng.IntN(4) == 0:
		oid := pick(h, h.ops)
		h.exec(`DELETE FROM outbox WHERE id = ?`, oid)
		h.ops = slices.DeleteFunc(h.ops, func(x int64) bool { return x == oid })
	default:
		// The outbox's own moves: claimed, completed, failed for good, made
		// due again; sometimes a completion time or case changes.
		oid := pick(h, h.ops)
		switch h.rng.IntN(5) {
		case 0:
			h.exec(`UPDATE outbox SET state = 'running', finalized_at = NULL WHERE id = ?`, oid)
		case 1:
			h.exec(`UPDATE outbox SET state = 'completed', finalized_at = ? WHERE id = ?`, h.at(), oid)
		case 2:
			h.exec(`UPDATE outbox SET state = 'dead', finalized_at = ? WHERE id = ?`, h.at(), oid)
		case 3:
			h.exec(`UPDATE outbox SET state = 'available', finalized_at = NULL WHERE id = ?`, oid)
		case 4:
			h.exec(`UPDATE outbox SET case_id = ?, kind = ? WHERE id = ?`, pick(h, h.cases), pick(h, []string{"reply", "create"}), oid)
		}
	}
}

func (h *history) step() {
	switch r := h.rng.IntN(20); {
	case r < 5 || len(h.cases) < 5:
		h.newCase()
	case r < 10:
		h.changeCase()
	case r < 11:
		h.deleteCase()
	case r < 16:
		h.statusChange()
	default:
		h.operation()
	}
}

// checkFacts compares every case's kept columns with their definitions.
func checkFacts(t *testing.T, db *store.DB, when string) {
	t.Helper()
	ne := "IS DISTINCT FROM"
	if db.Dialect() == store.SQLite {
		ne = "IS NOT"
	}
	var bad []struct {
		ID                                 int64
		Reply, Outside, Prior, Recorded    store.NullTime
		WantReply, WantOutside, WantPrior  store.NullTime
		Notification, Response             store.NullTime
		NotifyMS, ResponseMS, ResolveMS    sql.NullInt64
		RelapseMS                          sql.NullInt64
		WantNotifyMS, WantResponseMS       sql.NullInt64
		WantResolveMS, WantRelapseMS       sql.NullInt64
		WantNotification, WantResponseTime store.NullTime
	}
	ms := func(a, b string) string {
		if db.Dialect() == store.Postgres {
			return "CAST(round(EXTRACT(EPOCH FROM (" + a + " - " + b + ")) * 1000) AS BIGINT)"
		}
		return "CAST(round((julianday(" + a + ") - julianday(" + b + ")) * 86400000.0) AS INTEGER)"
	}
	v := func(name string) string { return metrics.CaseValue(db.Dialect(), name) }
	q := `SELECT * FROM (SELECT c.id, c.first_reply_at AS reply, c.first_outside_change_at AS outside, c.prior_resolved_at AS prior,
			c.first_response_at AS recorded,
			(SELECT min(o.finalized_at) FROM outbox o WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed') AS wantreply,
			(SELECT min(h.at) FROM status_history h WHERE h.case_id = c.id AND h.source <> 'gateway') AS wantoutside,
			(SELECT max(p.resolved_at) FROM cases p WHERE p.customer_id = c.customer_id AND p.classification_identifier = c.classification_identifier
				AND p.resolved_at <= c.created_at AND p.id <> c.id) AS wantprior,
			` + v("notification_at") + ` AS notification, ` + v("response_at") + ` AS response,
			` + v("time_to_notify_ms") + ` AS notifyms, ` + v("time_to_response_ms") + ` AS responsems,
			` + v("time_to_resolve_ms") + ` AS resolvems, ` + v("relapse_gap_ms") + ` AS relapsems,
			` + ms("CASE WHEN c.notify THEN c.first_reply_at ELSE c.notified_at END", "c.created_at") + ` AS wantnotifyms,
			` + ms("COALESCE(c.first_response_at, c.first_outside_change_at)", "c.created_at") + ` AS wantresponsems,
			` + ms("c.resolved_at", "c.created_at") + ` AS wantresolvems,
			` + ms("c.created_at", "c.prior_resolved_at") + ` AS wantrelapsems,
			CASE WHEN c.notify THEN c.first_reply_at ELSE c.notified_at END AS wantnotification,
			COALESCE(c.first_response_at, c.first_outside_change_at) AS wantresponsetime
		FROM cases c) x
		WHERE reply ` + ne + ` wantreply OR (recorded IS NULL AND outside ` + ne + ` wantoutside) OR prior ` + ne + ` wantprior
			OR notification ` + ne + ` wantnotification OR response ` + ne + ` wantresponsetime
			OR notifyms ` + ne + ` wantnotifyms OR responsems ` + ne + ` wantresponsems
			OR resolvems ` + ne + ` wantresolvems OR relapsems ` + ne + ` wantrelapsems`
	if err := db.SelectContext(context.Background(), &bad, q); err != nil {
		t.Fatalf("checking the cases' facts: %v", err)
	}
	for _, b := range bad {
		t.Errorf("%s: case %d kept %+v", when, b.ID, b)
	}
	if db.Dialect() != store.SQLite {
		return
	}
	// The report reads cases_report_idx alone: its stored values must be
	// the table's.
	var ok string
	if err := db.GetContext(context.Background(), &ok, `PRAGMA integrity_check`); err != nil || ok != "ok" {
		t.Errorf("%s: integrity_check: %q, %v", when, ok, err)
	}
	cols := `c.id, c.created_at, c.customer_id, c.classification_identifier, c.feed_name, c.connector, c.state, c.reopen_count,
		c.closure_reason, c.resolved_at`
	for _, n := range []string{"notification_at", "response_at", "time_to_notify_ms", "time_to_response_ms", "time_to_resolve_ms", "relapse_gap_ms", "received_ms"} {
		cols += ", " + v(n)
	}
	var diff int
	if err := db.GetContext(context.Background(), &diff, `SELECT count(*) FROM (
		SELECT `+cols+` FROM cases c INDEXED BY cases_report_idx WHERE c.created_at > ''
		EXCEPT SELECT `+cols+` FROM cases c NOT INDEXED)`); err != nil || diff != 0 {
		t.Errorf("%s: cases_report_idx differs from the table in %d rows (%v)", when, diff, err)
	}
}

func TestCaseFactsFollowTheirSources(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHistory(t, db, 1)
		for i := range 1500 {
			h.step()
			if i%100 == 99 {
				checkFacts(t, db, fmt.Sprintf("after %d steps", i+1))
				if t.Failed() {
					return
				}
			}
		}
	})
}

// TestStatusWritersKeepCaseFacts applies helpdesk states through the sync
// applier, as webhooks and reconciles do: the first response and the later
// case's prior resolution follow.
func TestStatusWritersKeepCaseFacts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHistory(t, db, 4)
		var ids [2]int64
		for i, created := range []time.Time{ts("2026-11-01 00:00"), ts("2026-11-10 00:00")} {
			h.get(&ids[i], `INSERT INTO cases (case_key, base_key, customer_id, classification_identifier, state, status, first_seen, last_seen, created_at, updated_at)
				VALUES (?, ?, ?, 'open-dns', 'open', 'open', ?, ?, ?, ?) RETURNING id`, "s"+strconv.Itoa(i), "s"+strconv.Itoa(i), h.custs[0], created, created, created, created)
			h.exec(`INSERT INTO tickets (case_id, connector, external_id, status, created_at, updated_at) VALUES (?, 'rt', ?, 'open', ?, ?)`,
				ids[i], "T"+strconv.Itoa(i), created, created)
		}
		a := gwsync.NewApplier(db, func() time.Time { return ts("2026-12-01 00:00") }, nil)
		// The first response: recorded by the applier, else the first
		// change from outside (MarkGone records none).
		facts := func(id int64) (response, prior store.NullTime) {
			var f struct{ Response, Prior store.NullTime }
			h.get(&f, `SELECT COALESCE(first_response_at, first_outside_change_at) AS response, prior_resolved_at AS prior FROM cases WHERE id = ?`, id)
			return f.Response, f.Prior
		}
		apply := func(ticket string, status connectors.Status, at string, src gwsync.Source) {
			t.Helper()
			if _, err := a.Apply(ctx, "rt", connectors.Ticket{ID: ticket, Status: string(status), Canonical: status, Updated: ts(at), ClosureReason: "fixed"}, src, ""); err != nil {
				t.Fatal(err)
			}
			checkFacts(t, db, "after "+ticket+" "+string(status))
		}
		apply("T0", connectors.StatusResolved, "2026-11-05 00:00", gwsync.SourceWebhook)
		if response, prior := facts(ids[0]); !response.Time.Equal(ts("2026-11-05 00:00")) || prior.Valid {
			t.Errorf("resolved case: first response %v, prior resolution %v", response, prior)
		}
		if _, prior := facts(ids[1]); !prior.Time.Equal(ts("2026-11-05 00:00")) {
			t.Errorf("later case: prior resolution %v, want the earlier case's", prior)
		}
		apply("T0", connectors.StatusOpen, "2026-11-06 00:00", gwsync.SourceReconcile)
		if _, prior := facts(ids[1]); prior.Valid {
			t.Errorf("later case after the earlier one reopened: prior resolution %v, want none", prior)
		}
		apply("T0", connectors.StatusClosed, "2026-11-07 00:00", gwsync.SourceWebhook)
		if err := a.MarkGone(ctx, "rt", "T1", nil); err != nil {
			t.Fatal(err)
		}
		checkFacts(t, db, "after T1 is gone")
		if response, prior := facts(ids[1]); !response.Time.Equal(ts("2026-12-01 00:00")) || !prior.Time.Equal(ts("2026-11-07 00:00")) {
			t.Errorf("gone case: first response %v, prior resolution %v", response, prior)
		}
	})
}

// TestReportMatchesDefinitions computes reports over random histories and
// compares them with the same figures worked out from the definitions by
// the queries the report used before the cases kept their facts
// (correlated subqueries over the status history, the outbox and the other
// cases), aggregated here in Go.
func TestReportMatchesDefinitions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHistory(t, db, 2)
		for range 1200 {
			h.step()
		}
		checkFacts(t, db, "before the reports")
		configs := []metrics.Config{
			{},
			{SLA: 30 * time.Hour, SLAByClassification: map[string]time.Duration{"spam": 50 * time.Hour, "botnet": 24 * time.Hour},
				RelapseWindow: 48 * time.Hour, NotActedReasons: []string{"fixed", ""}, TopOffenders: 2},
		}
		queries := []metrics.Query{{}, {From: ts("2026-11-01 00:00"), To: ends[1]}, {From: ts("2026-10-20 00:00"), To: ends[2]}, {To: ends[3]}}
		now := ends[0]
		for ci, cfg := range configs {
			for qi, q := range queries {
				for _, g := range []metrics.GroupBy{metrics.GroupNone, metrics.GroupCustomer, metrics.GroupClassification, metrics.GroupFeed, metrics.GroupConnector} {
					q.GroupBy = g
					got, err := metrics.Compute(context.Background(), db, cfg, q, now)
					if err != nil {
						t.Fatalf("Compute: %v", err)
					}
					want := reference(t, db, cfg, q, now)
					eq(t, fmt.Sprintf("config %d, query %d, group %q: totals", ci, qi, g), got.Totals, want.Totals)
					eq(t, fmt.Sprintf("config %d, query %d, group %q: groups", ci, qi, g), got.Groups, want.Groups)
					eq(t, fmt.Sprintf("config %d, query %d, group %q: offenders", ci, qi, g), got.TopOffenders, want.TopOffenders)
					if t.Failed() {
						return
					}
				}
			}
		}
	})
}

// TestReportReadsIndexesOnSQLite checks that the report's passes over the
// cases read cases_report_idx and cases_customer_idx alone on SQLite: their
// expressions must be exactly the report's (sqlFor.c), or SQLite reads the
// table and computes every value again, ten times slower.
func TestReportReadsIndexesOnSQLite(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	h := newHistory(t, db, 3)
	for range 200 {
		h.step()
	}
	if _, err := db.ExecContext(context.Background(), "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	cfgs := []metrics.Config{{}, {SLAByClassification: map[string]time.Duration{"spam": time.Hour}, NotActedReasons: []string{"x"}}}
	for _, cfg := range cfgs {
		for _, q := range []metrics.Query{{To: ends[0]}, {From: ts("2026-11-01 00:00"), To: ends[1]}} {
			for _, g := range []metrics.GroupBy{metrics.GroupNone, metrics.GroupCustomer, metrics.GroupClassification, metrics.GroupFeed, metrics.GroupConnector} {
				q.GroupBy = g
				plans, err := metrics.CasesPlans(context.Background(), db, cfg, q)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range []string{"USING COVERING INDEX cases_report_idx", "USING COVERING INDEX cases_customer_idx", "USING COVERING INDEX cases_report_idx"} {
					if !strings.Contains(plans[i], want) {
						t.Errorf("group %q, %+v: plan does not say %q:\n%s", g, q, want, plans[i])
					}
				}
				// Covering is not enough (julianday(created_at) could be
				// computed from the index's created_at): the values must be
				// the index's, and julianday only called on the period's end.
				query, funcs, err := metrics.CasesFunctions(context.Background(), db, cfg, q)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, f := range funcs {
					if strings.HasPrefix(f, "julianday") {
						n++
					}
				}
				if want := strings.Count(query, "julianday(?"); n != want {
					t.Errorf("group %q, %+v: %d calls of julianday, want %d (of the period's end): %v", g, q, n, want, funcs)
				}
			}
		}
	}
}

// refCase is one case as the definitions say, read the old way.
type refCase struct {
	Customer                  sql.NullInt64
	Key, Name                 sql.NullString
	Cls, Feed, Connector      string
	Cohort                    bool
	Reason                    string
	Acted                     bool
	Reopens                   int64
	Notify, Response, Resolve sql.NullInt64
	Age, SLA                  int64
	Relapse, Open             bool
}

// reference is the report worked out from the definitions.
func reference(t *testing.T, db *store.DB, cfg metrics.Config, q metrics.Query, now time.Time) *metrics.Report {
	t.Helper()
	pg := db.Dialect() == store.Postgres
	full := cfg.WithDefaults()
	from, to := store.Time(q.From), store.Time(q.To)
	if q.To.IsZero() {
		to = store.Time(now)
	}
	if q.From.IsZero() {
		from = ts("1970-01-01 00:00")
	}
	ms := func(a, b string) string {
		if pg {
			return "CAST(round(EXTRACT(EPOCH FROM (" + a + " - " + b + ")) * 1000) AS BIGINT)"
		}
		return "CAST(round((julianday(" + a + ") - julianday(" + b + ")) * 86400000.0) AS INTEGER)"
	}
	tp := func(n string) string {
		if pg {
			return "CAST(:" + n + " AS TIMESTAMPTZ)"
		}
		return ":" + n
	}
	args := map[string]any{"from": from, "to": to, "sla": full.SLA.Milliseconds(), "w": full.RelapseWindow.Milliseconds(),
		"wus": full.RelapseWindow.Milliseconds()*1000 + 499}
	sla := "CAST(:sla AS BIGINT)"
	if len(full.SLAByClassification) > 0 {
		sla = "CASE c.classification_identifier"
		for i, k := range slices.Sorted(maps.Keys(full.SLAByClassification)) {
			sla += fmt.Sprintf(" WHEN :k%d THEN CAST(:v%d AS BIGINT)", i, i)
			args["k"+strconv.Itoa(i)], args["v"+strconv.Itoa(i)] = k, full.SLAByClassification[k].Milliseconds()
		}
		sla += " ELSE CAST(:sla AS BIGINT) END"
	}
	var na []string
	for i, r := range full.NotActedReasons {
		na = append(na, ":na"+strconv.Itoa(i))
		args["na"+strconv.Itoa(i)] = r
	}
	within := ms("c.created_at", "p.resolved_at") + " <= CAST(:w AS BIGINT)"
	if pg {
		within = "p.resolved_at >= c.created_at - CAST(:wus AS BIGINT) * INTERVAL '1 microsecond'"
	}
	query := `SELECT c.customer_id AS customer, cu.key, cu.name, c.classification_identifier AS cls, c.feed_name AS feed, c.connector,
		c.created_at >= ` + tp("from") + ` AS cohort, trim(c.closure_reason) AS reason,
		CASE WHEN lower(trim(c.closure_reason)) NOT IN (` + strings.Join(na, ", ") + `) THEN 1 ELSE 0 END AS acted,
		c.reopen_count AS reopens,
		CASE WHEN c.notify
			THEN (SELECT ` + ms("min(o.finalized_at)", "c.created_at") + ` FROM outbox o
				WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed' AND o.finalized_at < ` + tp("to") + `)
			ELSE CASE WHEN c.notified_at < ` + tp("to") + ` THEN ` + ms("c.notified_at", "c.created_at") + ` END
		END AS notify,
		CASE WHEN c.first_response_at IS NOT NULL
			THEN CASE WHEN c.first_response_at < ` + tp("to") + ` THEN ` + ms("c.first_response_at", "c.created_at") + ` END
			ELSE (SELECT ` + ms("min(h.at)", "c.created_at") + ` FROM status_history h
				WHERE h.case_id = c.id AND h.source <> 'gateway' AND h.at < ` + tp("to") + `)
		END AS response,
		CASE WHEN c.state IN ('resolved', 'closed') AND c.resolved_at < ` + tp("to") + `
			THEN ` + ms("c.resolved_at", "c.created_at") + ` END AS resolve,
		` + ms(tp("to"), "c.created_at") + ` AS age,
		` + sla + ` AS sla,
		CASE WHEN EXISTS (SELECT 1 FROM cases p
			WHERE p.customer_id = c.customer_id AND p.classification_identifier = c.classification_identifier
				AND p.resolved_at <= c.created_at AND p.id <> c.id AND ` + within + `) THEN 1 ELSE 0 END AS relapse,
		NOT (c.state IN ('resolved', 'closed') AND c.resolved_at IS NOT NULL AND c.resolved_at < ` + tp("to") + `) AS open
	FROM cases c LEFT JOIN customers cu ON cu.id = c.customer_id
	WHERE c.created_at < ` + tp("to")
	bound, list, err := sqlx.Named(query, args)
	if err != nil {
		t.Fatal(err)
	}
	var cases []refCase
	if err := db.SelectContext(context.Background(), &cases, db.Rebind(bound), list...); err != nil {
		t.Fatalf("reference query: %v", err)
	}

	key := func(c refCase) string {
		switch q.GroupBy {
		case metrics.GroupCustomer:
			return c.Key.String
		case metrics.GroupClassification:
			return c.Cls
		case metrics.GroupFeed:
			return c.Feed
		case metrics.GroupConnector:
			return c.Connector
		}
		return ""
	}
	type acc struct {
		f                         metrics.Figures
		label                     string
		notify, response, resolve []int64
		reasons                   map[metrics.ClosureReason]int64
	}
	groups := map[string]*acc{}
	all := &acc{reasons: map[metrics.ClosureReason]int64{}}
	type off struct {
		key, name      string
		cases, relapse int64
		cls            map[string]bool
	}
	offenders := map[int64]*off{}
	for _, c := range cases {
		if !c.Cohort && !c.Open {
			continue
		}
		k := key(c)
		g := groups[k]
		if g == nil {
			g = &acc{label: c.Name.String, reasons: map[metrics.ClosureReason]int64{}}
			groups[k] = g
		}
		for _, a := range []*acc{g, all} {
			if c.Open {
				b := &a.f.OpenByAge
				switch {
				case c.Age < 86400000:
					b.Under1Day++
				case c.Age < 3*86400000:
					b.Days1To3++
				case c.Age < 7*86400000:
					b.Days3To7++
				case c.Age < 30*86400000:
					b.Days7To30++
				default:
					b.Over30Days++
				}
				b.Total++
			}
			if !c.Cohort {
				continue
			}
			f := &a.f
			f.CasesOpened++
			if c.Notify.Valid {
				f.CasesNotified++
				a.notify = append(a.notify, c.Notify.Int64)
			}
			if c.Response.Valid {
				f.CasesResponded++
				a.response = append(a.response, c.Response.Int64)
			}
			if c.Resolve.Valid {
				f.CasesResolved++
				a.resolve = append(a.resolve, c.Resolve.Int64)
				a.reasons[metrics.ClosureReason{Reason: c.Reason, ActedOn: c.Acted}]++
				if c.Acted {
					f.CasesActedOn++
				}
				if c.Resolve.Int64 <= c.SLA {
					f.SLAMet++
				}
			}
			if c.Resolve.Valid || c.Age >= c.SLA {
				f.SLADue++
			}
			if c.Reopens > 0 {
				f.CasesReopened++
			}
			f.Reopens += c.Reopens
			if c.Relapse {
				f.Relapses++
			}
		}
		if c.Cohort && c.Customer.Valid {
			o := offenders[c.Customer.Int64]
			if o == nil {
				o = &off{key: c.Key.String, name: c.Name.String, cls: map[string]bool{}}
				offenders[c.Customer.Int64] = o
			}
			o.cases++
			if c.Relapse {
				o.relapse++
			}
			o.cls[c.Cls] = true
		}
	}
	finish := func(a *acc, percentiles bool) metrics.Figures {
		f := a.f
		for _, d := range []struct {
			d  *metrics.Durations
			vs []int64
		}{{&f.TimeToNotify, a.notify}, {&f.TimeToFirstResponse, a.response}, {&f.TimeToResolve, a.resolve}} {
			d.d.Count = int64(len(d.vs))
			if len(d.vs) == 0 {
				continue
			}
			slices.Sort(d.vs)
			m := float64(d.vs[len(d.vs)-1]) / 1000
			d.d.MaxSeconds = &m
			if percentiles {
				d.d.MedianSeconds, d.d.P90Seconds = refPercentile(0.5, d.vs), refPercentile(0.9, d.vs)
			}
		}
		f.ClosureReasons = []metrics.ClosureReason{}
		for r, n := range a.reasons {
			r.Cases = n
			f.ClosureReasons = append(f.ClosureReasons, r)
		}
		slices.SortFunc(f.ClosureReasons, func(a, b metrics.ClosureReason) int {
			return cmp.Or(cmp.Compare(b.Cases, a.Cases), strings.Compare(a.Reason, b.Reason))
		})
		share := func(n, d int64) *float64 {
			if d == 0 {
				return nil
			}
			v := float64(n) / float64(d)
			return &v
		}
		f.ActedOnShare, f.SLAShare, f.RelapseRate = share(f.CasesActedOn, f.CasesResolved), share(f.SLAMet, f.SLADue), share(f.Relapses, f.CasesOpened)
		return f
	}
	rep := &metrics.Report{Totals: finish(all, true), Groups: []metrics.Group{}, TopOffenders: []metrics.Offender{}}
	if q.GroupBy != metrics.GroupNone {
		for _, k := range slices.Sorted(maps.Keys(groups)) {
			g := metrics.Group{Key: k, Figures: finish(groups[k], true)}
			if q.GroupBy == metrics.GroupCustomer {
				g.Label = groups[k].label
			}
			rep.Groups = append(rep.Groups, g)
		}
	}
	for _, o := range offenders {
		if o.cases >= 2 {
			rep.TopOffenders = append(rep.TopOffenders, metrics.Offender{Customer: o.key, Name: o.name, Cases: o.cases, Relapses: o.relapse, Classifications: int64(len(o.cls))})
		}
	}
	slices.SortFunc(rep.TopOffenders, func(a, b metrics.Offender) int {
		return cmp.Or(cmp.Compare(b.Cases, a.Cases), cmp.Compare(b.Relapses, a.Relapses), strings.Compare(a.Customer, b.Customer))
	})
	rep.TopOffenders = rep.TopOffenders[:min(len(rep.TopOffenders), full.TopOffenders)]
	return rep
}

// refPercentile is PostgreSQL's percentile_cont over sorted milliseconds,
// in seconds rounded to the millisecond.
func refPercentile(p float64, sorted []int64) *float64 {
	pos := p * float64(len(sorted)-1)
	lo, hi := float64(sorted[int(math.Floor(pos))]), float64(sorted[int(math.Ceil(pos))])
	v := math.Round(lo+(hi-lo)*(pos-math.Floor(pos))) / 1000
	return &v
}
