package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// fakeComposer writes numbered texts, so a test sees which call wrote what
// was sent; failures are taken in order before it succeeds.
type fakeComposer struct {
	mu    sync.Mutex
	calls int
	fail  []error
}

func (c *fakeComposer) Compose(ctx context.Context, tx *sqlx.Tx, caseID int64) ([]outbox.Op, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if len(c.fail) > 0 {
		err := c.fail[0]
		c.fail = c.fail[1:]
		return nil, err
	}
	var key string
	if err := tx.GetContext(ctx, &key, tx.Rebind(`SELECT case_key FROM cases WHERE id = ?`), caseID); err != nil {
		return nil, err
	}
	n := strconv.Itoa(c.calls)
	return []outbox.Op{
		{CaseID: caseID, Connector: "rt", Kind: outbox.KindCreate, Key: key + ":create",
			Payload: outbox.Payload{CaseKey: key, Requestors: []string{"abuse@" + key + ".example"}, Subject: "subject " + n, Body: "summary " + n}},
		{CaseID: caseID, Connector: "rt", Kind: outbox.KindReply, Key: key + ":create:reply",
			Payload: outbox.Payload{CaseKey: key, Subject: "subject " + n, Body: "dear customer " + n}},
	}, nil
}

func (c *fakeComposer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// composeOps are a new case's operations as ingest enqueues them: without
// text.
func composeOps(caseID int64, key string) []outbox.Op {
	return []outbox.Op{
		{CaseID: caseID, Connector: "rt", Kind: outbox.KindCreate, Key: key + ":create", Payload: outbox.Payload{CaseKey: key, Compose: true}},
		{CaseID: caseID, Connector: "rt", Kind: outbox.KindReply, Key: key + ":create:reply", Payload: outbox.Payload{CaseKey: key, Compose: true}},
	}
}

func storedPayload(t testing.TB, db *store.DB, id int64) outbox.Payload {
	t.Helper()
	var s string
	if err := db.GetContext(context.Background(), &s, db.Rebind(`SELECT payload FROM outbox WHERE id = ?`), id); err != nil {
		t.Fatal(err)
	}
	var p outbox.Payload
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup scripts the composer and the desk.
		setup func(b *bundle, c *fakeComposer)
		// drains: how many drains, the clock moving an hour between them.
		drains      int
		noComposer  bool
		wantStates  []string // create, reply
		wantCalls   int      // composer calls
		wantSubject string   // of the ticket; "" when none was made
		wantReply   string
		wantErr     string // in the create's last_error
	}{
		{name: "composed once, then sent", drains: 1, wantStates: []string{"completed", "completed"}, wantCalls: 1,
			wantSubject: "subject 1", wantReply: "dear customer 1"},
		{name: "a retry sends the same text", drains: 2, setup: func(b *bundle, _ *fakeComposer) {
			b.desk.fail("Create", fault{err: retryable("busy")})
		}, wantStates: []string{"completed", "completed"}, wantCalls: 1, wantSubject: "subject 1", wantReply: "dear customer 1"},
		{name: "a failing composer is retried", drains: 2, setup: func(_ *bundle, c *fakeComposer) {
			c.fail = []error{errors.New("database is locked")}
		}, wantStates: []string{"completed", "completed"}, wantCalls: 2, wantSubject: "subject 2", wantReply: "dear customer 2"},
		{name: "a composer that keeps failing", drains: 1, setup: func(_ *bundle, c *fakeComposer) {
			c.fail = []error{errors.New("database is locked")}
		}, wantStates: []string{"retryable", "available"}, wantCalls: 1, wantErr: "database is locked"},
		{name: "no composer: dead letter", drains: 1, noComposer: true,
			wantStates: []string{"dead", "available"}, wantErr: "has no text and nothing can write it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				c := &fakeComposer{}
				b := &bundle{db: db, clock: newClock(), desk: newFakeDesk()}
				if !tt.noComposer {
					b.composer = c
				}
				b.d = b.dispatcher(t, outbox.Config{}, outbox.Limits{}, "w1")
				if tt.setup != nil {
					tt.setup(b, c)
				}
				id := newCase(t, db, "acme/open-dns")
				ids := enqueue(t, db, t0, composeOps(id, "acme/open-dns")...)
				for i := range tt.drains {
					if i > 0 {
						b.clock.Advance(time.Hour)
					}
					b.drain(t)
				}
				create, reply := loadOp(t, db, ids[0]), loadOp(t, db, ids[1])
				if create.State != tt.wantStates[0] || reply.State != tt.wantStates[1] {
					t.Fatalf("states %s, %s; want %v (create error %q)", create.State, reply.State, tt.wantStates, create.LastError)
				}
				if c.count() != tt.wantCalls {
					t.Errorf("composer called %d times, want %d", c.count(), tt.wantCalls)
				}
				if !strings.Contains(create.LastError, tt.wantErr) {
					t.Errorf("create's last error %q, want it to mention %q", create.LastError, tt.wantErr)
				}
				tickets := b.desk.ticketsOf("acme/open-dns")
				if tt.wantSubject == "" {
					if len(tickets) != 0 {
						t.Fatalf("tickets %+v, want none", tickets)
					}
					if p := storedPayload(t, db, ids[0]); !p.Compose {
						t.Errorf("stored create payload %+v lost its compose mark", p)
					}
					return
				}
				if len(tickets) != 1 || tickets[0].Subject != tt.wantSubject || tickets[0].Body != "summary"+strings.TrimPrefix(tt.wantSubject, "subject") {
					t.Fatalf("tickets %+v, want one with %q", tickets, tt.wantSubject)
				}
				if m := tickets[0].Messages; len(m) != 1 || m[0].Body != tt.wantReply {
					t.Errorf("replies %+v, want %q", m, tt.wantReply)
				}
				// The text is stored with the operations: the record shows
				// what was sent.
				for _, id := range ids {
					if p := storedPayload(t, db, id); p.Compose || p.Subject != tt.wantSubject {
						t.Errorf("stored payload %+v, want the text sent", p)
					}
				}
			})
		})
	}
}
