package sync_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/connectors/rt/rttest"
	"github.com/abusegw/abusegw/gateway/internal/testclock"
	"github.com/abusegw/abusegw/gateway/secret"
	"github.com/abusegw/abusegw/gateway/store"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

// testSecret is the webhook secret of the test connectors.
const testSecret = "s3cret-for-tests"

// clock is a settable clock for the code under test.
type clock = testclock.Clock

func newClock(t time.Time) *clock { return testclock.New(t) }

// t0 is before anything the fake RT's default clock produces (it starts at
// 2026-01-01T00:00:01Z), so cases made "earlier" never look newer than RT.
var t0 = time.Date(2025, 12, 1, 12, 0, 0, 0, time.UTC)

// newRT starts a fake RT with a ClosureReason custom field on the Abuse
// queue, and an rt connector talking to it that takes webhooks.
func newRT(t testing.TB, edit func(*rt.Config), opts ...rttest.Option) (*rttest.Server, *rt.Client) {
	t.Helper()
	srv := rttest.New(t, opts...)
	srv.AddCustomField("ClosureReason")
	srv.ApplyCustomField("ClosureReason", rttest.Queue)
	cfg := srv.Config()
	cfg.WebhookSecret = secret.Redacted(testSecret)
	cfg.ReasonField = "ClosureReason"
	if edit != nil {
		edit(cfg)
	}
	c, err := rt.New(cfg, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// caseRow is what the tests read back of a case.
type caseRow struct {
	ID            int64          `db:"id"`
	State         string         `db:"state"`
	Status        string         `db:"status"`
	ResolvedAt    store.NullTime `db:"resolved_at"`
	FirstResponse store.NullTime `db:"first_response_at"`
	ClosureReason string         `db:"closure_reason"`
	ReopenCount   int            `db:"reopen_count"`
	Version       int            `db:"version"`
}

type historyRow struct {
	From     string         `db:"from_status"`
	To       string         `db:"to_status"`
	At       store.NullTime `db:"at"`
	Source   string         `db:"source"`
	Reason   string         `db:"reason"`
	Delivery string         `db:"external_event_id"`
}

type ticketRowT struct {
	ExternalStatus string         `db:"external_status"`
	Status         string         `db:"status"`
	ClosureReason  string         `db:"closure_reason"`
	ExtUpdated     store.NullTime `db:"external_updated_at"`
	LastSynced     store.NullTime `db:"last_synced_at"`
}

// insertCase makes an open case of key with a ticket of connector/ticketID,
// as the pipeline and the outbox would have, created at `at`.
func insertCase(t testing.TB, db *store.DB, key, connector, ticketID, status string, at time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	at = store.Time(at)
	var id int64
	err := db.GetContext(ctx, &id, db.Rebind(`INSERT INTO cases (case_key, base_key, connector, state, status, first_seen, last_seen, notified_at, created_at, updated_at)
		VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?) RETURNING id`), key, key, connector, status, at, at, at, at, at)
	if err != nil {
		t.Fatalf("inserting case %s: %v", key, err)
	}
	if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO tickets (case_id, connector, external_id, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`), id, connector, ticketID, status, at, at); err != nil {
		t.Fatalf("inserting ticket %s: %v", ticketID, err)
	}
	return id
}

// createTicket creates a ticket in RT through the connector and its case in
// the database; it returns the case id and the ticket id.
func createTicket(t testing.TB, db *store.DB, c connectors.Connector, key string, at time.Time) (int64, string) {
	t.Helper()
	tk, err := c.Create(context.Background(), connectors.CreateRequest{CaseKey: key, Subject: "abuse " + key, Body: "see " + key, Requestors: []string{"abuse@customer.example"}})
	if err != nil {
		t.Fatalf("creating ticket of %s: %v", key, err)
	}
	return insertCase(t, db, key, "rt", tk.ID, "new", at), tk.ID
}

func readCase(t testing.TB, db *store.DB, id int64) caseRow {
	t.Helper()
	var c caseRow
	if err := db.GetContext(context.Background(), &c, db.Rebind(`SELECT id, state, status, resolved_at, first_response_at, closure_reason, reopen_count, version FROM cases WHERE id = ?`), id); err != nil {
		t.Fatalf("reading case %d: %v", id, err)
	}
	return c
}

func readTicket(t testing.TB, db *store.DB, connector, id string) ticketRowT {
	t.Helper()
	var r ticketRowT
	if err := db.GetContext(context.Background(), &r, db.Rebind(`SELECT external_status, status, closure_reason, external_updated_at, last_synced_at FROM tickets WHERE connector = ? AND external_id = ?`), connector, id); err != nil {
		t.Fatalf("reading ticket %s: %v", id, err)
	}
	return r
}

// history returns the case's status history from sync (not the gateway's own rows).
func history(t testing.TB, db *store.DB, caseID int64) []historyRow {
	t.Helper()
	var hs []historyRow
	if err := db.SelectContext(context.Background(), &hs, db.Rebind(`SELECT from_status, to_status, at, source, reason, external_event_id
		FROM status_history WHERE case_id = ? AND source <> 'gateway' ORDER BY id`), caseID); err != nil {
		t.Fatalf("reading history of case %d: %v", caseID, err)
	}
	return hs
}

func count(t testing.TB, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.GetContext(context.Background(), &n, db.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// sign returns the scrip's signature header value for body under secret.
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// scripBody is a body as deploy/rt/abusegw-webhook.pl sends it (canonical:
// keys sorted).
func scripBody(ticket string, old, status string, txn int, at time.Time, key string) []byte {
	return fmt.Appendf(nil, `{"actor":"desk","case_key":%q,"old_status":%q,"queue":"Abuse","status":%q,"ticket":%s,"time":%q,"transaction":%d}`,
		key, old, status, ticket, at.UTC().Format(time.DateTime), txn)
}

func newApplier(db *store.DB, c *clock) *gwsync.Applier {
	return gwsync.NewApplier(db, c.Now, nil)
}
