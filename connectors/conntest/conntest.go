// Package conntest is the contract test suite that every connector's tests
// run against its helpdesk, real or fake, the way database/sql drivers share
// tests:
//
//	func TestContract(t *testing.T) {
//		conntest.Run(t, func(t *testing.T) conntest.Harness { ... })
//	}
//
// Each subtest gets a fresh Harness. Optional abilities (CommentFinder,
// Checker) are exercised when the connector has them.
//
// A test that needs a real helpdesk calls Peer: without the peer's
// environment it skips locally, but fails when CI=true, so CI cannot pass
// by silently testing nothing.
package conntest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
)

// Harness is what a connector's test gives the suite.
type Harness struct {
	// Connector is configured for a queue where the case key can be stored.
	Connector connectors.Connector
	// Requestors for the tickets the suite creates.
	Requestors []string
	// SetStatus changes a ticket's status the way a desk member would:
	// through the helpdesk's own API or the fake's state, never through
	// Connector. theirs is a helpdesk status name.
	SetStatus func(ctx context.Context, ticketID, theirs string) error
	// Resolved is the helpdesk's status name that maps to resolved.
	Resolved string
	// PageSize is the connector's ListUpdated page size; the paging test
	// creates PageSize+1 tickets. 0 skips it.
	PageSize int
	// MissingTicketID is an ID no ticket has; "" skips the not-found test.
	MissingTicketID string
	// UnknownQueue names a queue that does not exist; "" means a made-up
	// name.
	UnknownQueue string
	// BadCredentials returns a Connector for the same helpdesk with wrong
	// credentials; nil skips that test.
	BadCredentials func(t *testing.T) connectors.Connector
	// ServerDown returns a Connector whose helpdesk is not reachable
	// (connection refused); nil skips that test.
	ServerDown func(t *testing.T) connectors.Connector
	// Timeout bounds each step; 0 means 30 s.
	Timeout time.Duration
}

// Peer returns the values of the environment variables that locate a real
// helpdesk. When one is unset the test is skipped with a message, except
// when CI=true: then a missing peer is a failure.
func Peer(t testing.TB, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("no peer helpdesk: set %v (see deploy/testenv/)", missing)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	return vals
}

// Key returns a case key no earlier run has used, so tests can share a
// long-lived helpdesk.
func Key(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random key: %v", err)
	}
	return "conntest-" + hex.EncodeToString(b)
}

// Run runs the contract suite.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newHarness(t)) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, newHarness(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newHarness(t)) })
	t.Run("InvalidRequest", func(t *testing.T) { testInvalidRequest(t, newHarness(t)) })
	t.Run("UnknownQueue", func(t *testing.T) { testUnknownQueue(t, newHarness(t)) })
	t.Run("BadCredentials", func(t *testing.T) { testBadCredentials(t, newHarness(t)) })
	t.Run("ServerDown", func(t *testing.T) { testServerDown(t, newHarness(t)) })
	t.Run("Check", func(t *testing.T) { testCheck(t, newHarness(t)) })
}

func stepCtx(t *testing.T, h Harness) context.Context {
	d := h.Timeout
	if d == 0 {
		d = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func create(t *testing.T, h Harness, key string) connectors.Ticket {
	t.Helper()
	tk, err := h.Connector.Create(stepCtx(t, h), connectors.CreateRequest{
		CaseKey:    key,
		Requestors: h.Requestors,
		Subject:    "abusegw contract test " + key,
		Body:       "Open resolver seen on 192.0.2.10.\nThis ticket was made by the abusegw contract tests.",
	})
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	if tk.ID == "" || tk.URL == "" || tk.CaseKey != key {
		t.Fatalf("Create(%s) = %+v: want ID, URL and the case key", key, tk)
	}
	return tk
}

func get(t *testing.T, h Harness, id string) connectors.Ticket {
	t.Helper()
	tk, err := h.Connector.Get(stepCtx(t, h), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return tk
}

// listAll walks ListUpdated from since to the end.
func listAll(t *testing.T, h Harness, since time.Time) (tickets []connectors.Ticket, pages int) {
	t.Helper()
	var cur connectors.Cursor
	for pages = 1; ; pages++ {
		if pages > 10000 {
			t.Fatalf("ListUpdated: more than 10000 pages; is Next ever empty?")
		}
		p, err := h.Connector.ListUpdated(stepCtx(t, h), since, cur)
		if err != nil {
			t.Fatalf("ListUpdated(%s, %q): %v", since, cur, err)
		}
		if h.PageSize > 0 && len(p.Tickets) > h.PageSize {
			t.Errorf("ListUpdated page %d has %d tickets, page size is %d", pages, len(p.Tickets), h.PageSize)
		}
		tickets = append(tickets, p.Tickets...)
		if p.Next == "" {
			return tickets, pages
		}
		if p.Next == cur {
			t.Fatalf("ListUpdated: Next %q repeats the cursor", p.Next)
		}
		cur = p.Next
	}
}

func find(ts []connectors.Ticket, id string) (connectors.Ticket, bool) {
	i := slices.IndexFunc(ts, func(t connectors.Ticket) bool { return t.ID == id })
	if i < 0 {
		return connectors.Ticket{}, false
	}
	return ts[i], true
}

// testLifecycle: create → get → comment → reply → resolve outside →
// ListUpdated finds it → FindByKey finds it → reopen.
func testLifecycle(t *testing.T, h Harness) {
	c := h.Connector
	key := Key(t)
	created := create(t, h, key)

	tk := get(t, h, created.ID)
	if tk.ID != created.ID || tk.CaseKey != key || tk.URL != created.URL {
		t.Errorf("Get = %+v, want ID %s, URL %s, case key %s", tk, created.ID, created.URL, key)
	}
	if tk.Status == "" || tk.Updated.IsZero() {
		t.Errorf("Get = %+v: want a status and an update time", tk)
	}
	if tk.Canonical.Done() || !tk.Canonical.Valid() {
		t.Errorf("a new ticket is %q (%q), want new, open or pending", tk.Canonical, tk.Status)
	}

	commentKey, replyKey := key+"-c1", key+"-r1"
	if err := c.Comment(stepCtx(t, h), created.ID, connectors.Message{Body: "Internal note: 3 new events.", OpKey: commentKey}); err != nil {
		t.Fatalf("Comment: %v", err)
	}
	if err := c.Reply(stepCtx(t, h), created.ID, connectors.Message{Body: "Dear customer, please fix the resolver.", OpKey: replyKey}); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if cf, ok := c.(connectors.CommentFinder); ok {
		for _, tc := range []struct {
			op   string
			want bool
		}{{commentKey, true}, {replyKey, true}, {key + "-never", false}, {key + "-c", false}} {
			got, err := cf.FindOp(stepCtx(t, h), created.ID, tc.op)
			if err != nil || got != tc.want {
				t.Errorf("FindOp(%s) = %v, %v; want %v", tc.op, got, err, tc.want)
			}
		}
	}

	before := get(t, h, created.ID)
	if err := h.SetStatus(stepCtx(t, h), created.ID, h.Resolved); err != nil {
		t.Fatalf("resolving outside the connector: %v", err)
	}
	resolved := get(t, h, created.ID)
	if resolved.Canonical != connectors.StatusResolved {
		t.Errorf("after %q outside: Get says %q (%q), want resolved", h.Resolved, resolved.Canonical, resolved.Status)
	}
	if resolved.Updated.Before(before.Updated) {
		t.Errorf("Updated went back: %s then %s", before.Updated, resolved.Updated)
	}

	listed, _ := listAll(t, h, before.Updated)
	if got, ok := find(listed, created.ID); !ok {
		t.Errorf("ListUpdated(%s) misses ticket %s", before.Updated, created.ID)
	} else if got.Canonical != connectors.StatusResolved || got.CaseKey != key {
		t.Errorf("ListUpdated has %+v, want it resolved with case key %s", got, key)
	}
	if later, _ := listAll(t, h, resolved.Updated.Add(time.Hour)); len(later) > 0 {
		if _, ok := find(later, created.ID); ok {
			t.Errorf("ListUpdated an hour after the last change still lists ticket %s", created.ID)
		}
	}

	found, err := c.FindByKey(stepCtx(t, h), key)
	if err != nil {
		t.Fatalf("FindByKey: %v", err)
	}
	if len(found) != 1 || found[0].ID != created.ID || found[0].CaseKey != key {
		t.Errorf("FindByKey(%s) = %+v, want exactly ticket %s", key, found, created.ID)
	}
	none, err := c.FindByKey(stepCtx(t, h), Key(t))
	if err != nil || len(none) != 0 {
		t.Errorf("FindByKey(unknown key) = %+v, %v; want nothing", none, err)
	}

	if err := c.SetStatus(stepCtx(t, h), created.ID, connectors.StatusOpen); err != nil {
		t.Fatalf("SetStatus(open) to reopen: %v", err)
	}
	if reopened := get(t, h, created.ID); reopened.Canonical != connectors.StatusOpen {
		t.Errorf("after reopening: %q (%q), want open", reopened.Canonical, reopened.Status)
	}
}

// testPaging creates more tickets than fit on one page and walks them.
func testPaging(t *testing.T, h Harness) {
	if h.PageSize <= 0 {
		t.Skip("harness sets no PageSize")
	}
	var ids []string
	var since time.Time
	for i := 0; i <= h.PageSize; i++ {
		tk := create(t, h, Key(t))
		if i == 0 {
			since = get(t, h, tk.ID).Updated
		}
		ids = append(ids, tk.ID)
	}
	listed, pages := listAll(t, h, since)
	if pages < 2 {
		t.Errorf("%d tickets with page size %d came in %d page(s)", len(listed), h.PageSize, pages)
	}
	seen := map[string]int{}
	for _, tk := range listed {
		seen[tk.ID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("ticket %s listed %d times, want once", id, seen[id])
		}
	}
}

func testNotFound(t *testing.T, h Harness) {
	if h.MissingTicketID == "" {
		t.Skip("harness sets no MissingTicketID")
	}
	_, err := h.Connector.Get(stepCtx(t, h), h.MissingTicketID)
	if connectors.KindOf(err) != connectors.Permanent || !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want a permanent error wrapping ErrNotFound", err)
	}
	err = h.Connector.Comment(stepCtx(t, h), h.MissingTicketID, connectors.Message{Body: "x"})
	if err == nil || connectors.KindOf(err) != connectors.Permanent {
		t.Errorf("Comment(missing) = %v, want a permanent error", err)
	}
}

func testInvalidRequest(t *testing.T, h Harness) {
	for name, req := range map[string]connectors.CreateRequest{
		"no case key": {Subject: "x", Body: "x"},
		"no subject":  {CaseKey: Key(t), Body: "x"},
	} {
		_, err := h.Connector.Create(stepCtx(t, h), req)
		if err == nil || connectors.KindOf(err) != connectors.Permanent {
			t.Errorf("Create(%s) = %v, want a permanent error", name, err)
		}
	}
}

func testUnknownQueue(t *testing.T, h Harness) {
	q := h.UnknownQueue
	if q == "" {
		q = "abusegw-no-such-queue-" + Key(t)
	}
	_, err := h.Connector.Create(stepCtx(t, h), connectors.CreateRequest{CaseKey: Key(t), Queue: q, Subject: "x", Body: "x"})
	if err == nil || connectors.KindOf(err) != connectors.Permanent {
		t.Errorf("Create in unknown queue %q = %v, want a permanent error", q, err)
	}
}

func testBadCredentials(t *testing.T, h Harness) {
	if h.BadCredentials == nil {
		t.Skip("harness has no BadCredentials")
	}
	c := h.BadCredentials(t)
	_, err := c.Create(stepCtx(t, h), connectors.CreateRequest{CaseKey: Key(t), Subject: "x", Body: "x"})
	if connectors.KindOf(err) != connectors.Permanent || !errors.Is(err, connectors.ErrUnauthenticated) {
		t.Errorf("Create with bad credentials = %v, want a permanent error wrapping ErrUnauthenticated", err)
	}
	if _, err := c.Get(stepCtx(t, h), "1"); connectors.KindOf(err) != connectors.Permanent {
		t.Errorf("Get with bad credentials = %v, want a permanent error", err)
	}
	if ch, ok := c.(connectors.Checker); ok {
		if errs := ch.Check(stepCtx(t, h)); len(errs) == 0 {
			t.Errorf("Check with bad credentials reports nothing")
		}
	}
}

func testServerDown(t *testing.T, h Harness) {
	if h.ServerDown == nil {
		t.Skip("harness has no ServerDown")
	}
	c := h.ServerDown(t)
	_, err := c.Create(stepCtx(t, h), connectors.CreateRequest{CaseKey: Key(t), Subject: "x", Body: "x"})
	if connectors.KindOf(err) != connectors.Retryable {
		t.Errorf("Create with the server down = %v, want retryable (nothing can have been created)", err)
	}
	if _, err := c.FindByKey(stepCtx(t, h), Key(t)); connectors.KindOf(err) != connectors.Retryable {
		t.Errorf("FindByKey with the server down = %v, want retryable", err)
	}
	if ch, ok := c.(connectors.Checker); ok {
		if errs := ch.Check(stepCtx(t, h)); len(errs) == 0 {
			t.Errorf("Check with the server down reports nothing")
		}
	}
}

func testCheck(t *testing.T, h Harness) {
	ch, ok := h.Connector.(connectors.Checker)
	if !ok {
		t.Skip("connector has no Check")
	}
	if errs := ch.Check(stepCtx(t, h)); len(errs) > 0 {
		t.Errorf("Check on a good setup: %v", errors.Join(errs...))
	}
}
