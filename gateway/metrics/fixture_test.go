package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
)

// ts reads "2006-01-02 15:04" as UTC.
func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err) // test data only
	}
	return t
}

// fixCase is one hand-built case with its history.
type fixCase struct {
	name      string
	customer  string // "" for none
	cls, feed string
	connector string
	notify    bool
	state     string
	created   string
	notified  string   // ticket created ("" none)
	replied   string   // completed reply ("" none)
	deadReply string   // a reply that went to the dead letter
	firstResp string   // cases.first_response_at
	history   []string // "at|source|from|to|reason"
	resolved  string
	reason    string
	reopens   int
}

type fixEvent struct {
	report      string
	created     string
	customer    string
	cls, clsTyp string
	feed        string
	caseName    string
	disposition string
}

// fixture is the hand-built history the tests compute exact figures from;
// README's definitions worked through by hand in metrics_test.go.
var fixture = struct {
	customers []string
	cases     []fixCase
	reports   map[string]string // name → received
	events    []fixEvent
}{
	customers: []string{"A", "B", "C"},
	cases: []fixCase{
		{name: "c1", customer: "A", cls: "open-dns", feed: "f1", connector: "rt", notify: true, state: "resolved",
			created: "2026-11-02 00:00", notified: "2026-11-02 01:00", replied: "2026-11-02 02:00", firstResp: "2026-11-02 04:00",
			history:  []string{"2026-11-02 00:00|gateway||new|case opened", "2026-11-02 04:00|webhook|new|open|", "2026-11-02 10:00|webhook|open|resolved|fixed"},
			resolved: "2026-11-02 10:00", reason: "fixed"},
		{name: "c2", customer: "A", cls: "open-dns", feed: "f1", connector: "rt", state: "closed",
			created: "2026-11-03 00:00", notified: "2026-11-03 00:30",
			history:  []string{"2026-11-03 00:00|gateway||new|case opened", "2026-11-03 01:00|webhook|new|open|", "2026-11-07 00:00|reconcile|open|closed| No Response"},
			resolved: "2026-11-07 00:00", reason: " No Response"},
		{name: "c3", customer: "A", cls: "open-dns", feed: "f1", connector: "rt", notify: true, state: "open",
			created: "2026-11-22 10:00", notified: "2026-11-22 11:00", deadReply: "2026-11-23 00:00",
			history: []string{"2026-11-22 10:00|gateway||new|case opened"}},
		{name: "c4", customer: "B", cls: "botnet", feed: "f2", connector: "jira", notify: true, state: "resolved",
			created: "2026-11-04 00:00", replied: "2026-11-04 06:00", notified: "2026-11-04 05:00", firstResp: "2026-11-04 08:00",
			history: []string{"2026-11-04 00:00|gateway||new|case opened", "2026-11-04 08:00|reconcile|new|open|",
				"2026-11-04 12:00|webhook|open|resolved|fixed", "2026-11-05 00:00|gateway|resolved|open|seen again after closure: reopened",
				"2026-11-05 20:00|webhook|open|resolved|"},
			resolved: "2026-11-05 20:00", reason: "", reopens: 1},
		{name: "c5", customer: "B", cls: "botnet", feed: "f2", connector: "jira", state: "resolved",
			created: "2026-11-05 00:00", notified: "2026-11-05 01:00", firstResp: "2026-12-03 00:00",
			history:  []string{"2026-12-03 00:00|webhook|new|open|", "2026-12-05 00:00|webhook|open|resolved|fixed"},
			resolved: "2026-12-05 00:00", reason: "fixed"},
		{name: "c6", customer: "C", cls: "open-dns", feed: "f2", connector: "rt", state: "open", created: "2026-10-15 00:00"},
		{name: "c7", customer: "C", cls: "open-dns", feed: "f2", connector: "rt", state: "closed", created: "2026-10-01 00:00",
			resolved: "2026-10-05 00:00", reason: "fixed"},
		{name: "c8", customer: "C", cls: "open-dns", feed: "f2", connector: "rt", state: "open", created: "2026-11-10 00:00"},
		{name: "c9", customer: "A", cls: "open-dns", feed: "f1", connector: "rt", state: "open", created: "2026-12-02 00:00"},
		{name: "c10", customer: "B", cls: "botnet", feed: "f2", connector: "jira", state: "open",
			created: "2026-11-30 12:00", notified: "2026-11-30 13:00"},
		{name: "c11", customer: "B", cls: "spam", feed: "f1", connector: "rt", state: "open", created: "2026-11-28 00:00"},
		{name: "c12", cls: "scan", feed: "f1", connector: "", state: "open", created: "2026-11-29 00:00"},
	},
	reports: map[string]string{"r1": "2026-11-02 00:00", "r2": "2026-11-04 00:00", "r3": "2026-10-01 00:00", "r4": "2026-12-02 00:00"},
	events: []fixEvent{
		{"r1", "2026-11-02 00:00", "A", "open-dns", "scanner", "f1", "c1", "case"},
		{"r1", "2026-11-02 00:00", "A", "open-dns", "scanner", "f1", "c1", "case"},
		{"r1", "2026-11-02 00:00", "", "scan", "scan", "f1", "", "unowned"},
		{"r2", "2026-11-04 00:00", "B", "", "botnet", "f2", "c4", "case"},
		{"r2", "2026-11-04 00:00", "", "x", "x", "f2", "", "ignored"},
		{"r3", "2026-10-01 00:00", "C", "open-dns", "scanner", "f2", "c7", "case"},
		{"r4", "2026-12-02 00:00", "A", "open-dns", "scanner", "f1", "c9", "case"},
	},
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return store.Time(ts(s))
}

// load writes the fixture into db.
func load(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		created := ts("2026-09-01 00:00")
		customers := map[string]int64{}
		for _, k := range fixture.customers {
			var id int64
			if err := tx.GetContext(ctx, &id, tx.Rebind(`INSERT INTO customers (key, name, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id`),
				k, "Customer "+k, created, created); err != nil {
				return err
			}
			customers[k] = id
		}
		cases := map[string]int64{}
		for i, c := range fixture.cases {
			var cust any
			if c.customer != "" {
				cust = customers[c.customer]
			}
			var id int64
			at := ts(c.created)
			err := tx.GetContext(ctx, &id, tx.Rebind(`INSERT INTO cases (case_key, base_key, customer_id, classification_identifier, feed_name, connector,
					notify, state, status, first_seen, last_seen, notified_at, first_response_at, resolved_at, closure_reason, reopen_count,
					created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
				c.name, c.name, cust, c.cls, c.feed, c.connector, c.notify, c.state, c.state, at, at,
				nullable(c.notified), nullable(c.firstResp), nullable(c.resolved), c.reason, c.reopens, at, at)
			if err != nil {
				return fmt.Errorf("case %s: %w", c.name, err)
			}
			cases[c.name] = id
			for j, h := range c.history {
				parts := strings.SplitN(h, "|", 5)
				at, source, from, to, reason := parts[0], parts[1], parts[2], parts[3], parts[4]
				if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO status_history (case_id, from_status, to_status, at, source, reason, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?)`), id, from, to, ts(at), source, reason, ts(at)); err != nil {
					return fmt.Errorf("history %d of %s: %w", j, c.name, err)
				}
			}
			ops := []struct{ kind, state, at string }{{"create", "completed", c.notified}, {"reply", "completed", c.replied}, {"reply", "dead", c.deadReply}}
			for j, op := range ops {
				if op.at == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO outbox (case_id, connector, kind, idempotency_key, state, scheduled_at, created_at, finalized_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), id, c.connector, op.kind, fmt.Sprintf("%s:%d:%d", c.name, i, j), op.state, at, at, ts(op.at)); err != nil {
					return fmt.Errorf("outbox of %s: %w", c.name, err)
				}
			}
		}
		reports := map[string]int64{}
		for _, name := range []string{"r1", "r2", "r3", "r4"} {
			var id int64
			if err := tx.GetContext(ctx, &id, tx.Rebind(`INSERT INTO reports (sha256, channel, received_at) VALUES (?, 'file', ?) RETURNING id`),
				name, ts(fixture.reports[name])); err != nil {
				return err
			}
			reports[name] = id
		}
		for i, e := range fixture.events {
			var cust, cs any
			if e.customer != "" {
				cust = customers[e.customer]
			}
			if e.caseName != "" {
				cs = cases[e.caseName]
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO events (report_id, seq, feed_name, classification_identifier, classification_type,
					customer_id, case_id, fields, created_at, disposition) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)`),
				reports[e.report], i, e.feed, e.cls, e.clsTyp, cust, cs, ts(e.created), e.disposition); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("loading the fixture: %v", err)
	}
}
