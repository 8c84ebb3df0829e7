package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
)

// t0 is when every test starts.
var t0 = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)

// clock is the injected clock. onRead, when set, runs at every reading
// (outside the lock), so a test can crash the dispatcher at its Nth step.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	onRead func()
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	t, hook := c.t, c.onRead
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return t
}

// Peek reads the time without running onRead.
func (c *clock) Peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newCase inserts a bare case and returns its id.
func newCase(t testing.TB, db *store.DB, key string) int64 {
	t.Helper()
	var id int64
	now := store.Time(t0)
	err := db.GetContext(context.Background(), &id, db.Rebind(`INSERT INTO cases (case_key, base_key, connector, first_seen, last_seen, created_at, updated_at)
		VALUES (?, ?, 'rt', ?, ?, ?, ?) RETURNING id`), key, key, now, now, now, now)
	if err != nil {
		t.Fatalf("inserting case %s: %v", key, err)
	}
	return id
}

// enqueue writes ops in one transaction, as the cases package does.
func enqueue(t testing.TB, db *store.DB, now time.Time, ops ...outbox.Op) []int64 {
	t.Helper()
	var ids []int64
	err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		for _, op := range ops {
			id, created, err := outbox.Enqueue(context.Background(), tx, op, now)
			if err != nil {
				return err
			}
			if !created {
				return fmt.Errorf("operation %s already existed", op.Key)
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueuing: %v", err)
	}
	return ids
}

// caseOps are the operations the cases package enqueues for a new case that
// notifies its customer: the create and the first reply.
func caseOps(caseID int64, connector, key string) []outbox.Op {
	return []outbox.Op{
		{CaseID: caseID, Connector: connector, Kind: outbox.KindCreate, Key: key + ":create",
			Payload: outbox.Payload{CaseKey: key, Requestors: []string{"abuse@" + key + ".example"}, Subject: "[ABUSE-" + key + "] open resolver", Body: "internal summary"}},
		{CaseID: caseID, Connector: connector, Kind: outbox.KindReply, Key: key + ":create:reply",
			Payload: outbox.Payload{CaseKey: key, Subject: "[ABUSE-" + key + "] open resolver", Body: "Dear customer"}},
	}
}

// updateOp is the later update comment of a case (cases.FlushUpdates).
func updateOp(caseID int64, connector, key string, at time.Time) outbox.Op {
	return outbox.Op{CaseID: caseID, Connector: connector, Kind: outbox.KindComment,
		Key:     key + ":update:" + strconv.FormatInt(at.UnixMicro(), 10),
		Payload: outbox.Payload{CaseKey: key, Subject: "update", Body: "new addresses: 192.0.2.7"}}
}

// opRow is an outbox row as the tests look at it.
type opRow struct {
	ID          int64        `db:"id"`
	Key         string       `db:"idempotency_key"`
	State       string       `db:"state"`
	Attempt     int          `db:"attempt"`
	ScheduledAt time.Time    `db:"scheduled_at"`
	LeaseUntil  sql.NullTime `db:"lease_until"`
	AttemptedBy string       `db:"attempted_by"`
	Unknown     bool         `db:"outcome_unknown"`
	LastError   string       `db:"last_error"`
	Errors      string       `db:"errors"`
	Result      string       `db:"result"`
	Finalized   sql.NullTime `db:"finalized_at"`
}

func loadOp(t testing.TB, db *store.DB, id int64) opRow {
	t.Helper()
	var r opRow
	err := db.GetContext(context.Background(), &r, db.Rebind(`SELECT id, idempotency_key, state, attempt, scheduled_at, lease_until,
		attempted_by, outcome_unknown, last_error, errors, result, finalized_at FROM outbox WHERE id = ?`), id)
	if err != nil {
		t.Fatalf("loading operation %d: %v", id, err)
	}
	r.ScheduledAt = r.ScheduledAt.UTC()
	return r
}

// states returns every operation's state by key.
func states(t testing.TB, db *store.DB) map[string]string {
	t.Helper()
	var rows []struct {
		Key   string `db:"idempotency_key"`
		State string `db:"state"`
	}
	if err := db.SelectContext(context.Background(), &rows, `SELECT idempotency_key, state FROM outbox`); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Key] = r.State
	}
	return out
}

func count(t testing.TB, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.GetContext(context.Background(), &n, db.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// fakeCall is one call the fake desk received.
type fakeCall struct {
	Method string // Create, Comment, Reply, SetStatus, FindByKey, FindOp, Get
	Key    string // the case key (Create, FindByKey) or the op key (Comment, Reply, FindOp)
	Ticket string
	At     time.Time // real time, for the rate limit
}

// fault is what the fake does instead of (or after) a call.
type fault struct {
	err   error
	apply bool   // perform the call, then fail (the outcome is unknown to the caller)
	then  func() // runs after the call (e.g. to kill the caller)
}

// fakeDesk is an in-memory helpdesk. Failures are scripted per method and
// taken in order; gate, when set, holds every call until the test releases
// it, so concurrency can be observed without sleeping.
type fakeDesk struct {
	mu       sync.Mutex
	tickets  map[string]*fakeTicket
	byKey    map[string][]string
	next     int
	calls    []fakeCall
	script   map[string][]fault
	inflight int
	maxIn    int

	entered chan string   // when gated: receives the method on entry
	release chan struct{} // when gated: one value lets one call go on
}

type fakeTicket struct {
	ID       string
	Key      string
	Subject  string // of the create
	Body     string
	Status   string
	Messages []connectors.Message // comments and replies
	Kinds    []string
}

func newFakeDesk() *fakeDesk {
	return &fakeDesk{tickets: map[string]*fakeTicket{}, byKey: map[string][]string{}, script: map[string][]fault{}}
}

// gate makes every call wait for the test; see fakeDesk.
func (f *fakeDesk) gate() {
	f.entered = make(chan string, 1024)
	f.release = make(chan struct{})
}

// fail scripts the next calls of method; "Method key" scripts only the
// calls for one case key (Create, FindByKey) or op key (Comment, Reply,
// FindOp), and is tried first.
func (f *fakeDesk) fail(method string, fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[method] = append(f.script[method], fs...)
}

// enter records a call, honours the gate, and pops the scripted fault.
func (f *fakeDesk) enter(ctx context.Context, c fakeCall) (fault, bool, error) {
	c.At = time.Now()
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.inflight++
	f.maxIn = max(f.maxIn, f.inflight)
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- c.Method
		select {
		case <-f.release:
		case <-ctx.Done():
			return fault{}, false, &connectors.Error{Kind: connectors.Unknown, Op: c.Method, Err: ctx.Err()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range []string{c.Method + " " + c.Key, c.Method} {
		if s := f.script[k]; len(s) > 0 {
			f.script[k] = s[1:]
			return s[0], true, nil
		}
	}
	return fault{}, false, nil
}

func (f *fakeDesk) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inflight--
}

func (f *fakeDesk) Calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// callKeys lists "Method key" of every call, in order.
func (f *fakeDesk) callKeys() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Method+" "+c.Key)
	}
	return out
}

func (f *fakeDesk) Create(ctx context.Context, req connectors.CreateRequest) (connectors.Ticket, error) {
	flt, ok, err := f.enter(ctx, fakeCall{Method: "Create", Key: req.CaseKey})
	defer f.leave()
	if err != nil {
		return connectors.Ticket{}, err
	}
	if ok && !flt.apply {
		return connectors.Ticket{}, flt.err
	}
	f.mu.Lock()
	f.next++
	id := strconv.Itoa(f.next)
	f.tickets[id] = &fakeTicket{ID: id, Key: req.CaseKey, Status: "new", Subject: req.Subject, Body: req.Body}
	f.byKey[req.CaseKey] = append(f.byKey[req.CaseKey], id)
	f.mu.Unlock()
	if ok {
		if flt.then != nil {
			flt.then()
		}
		return connectors.Ticket{}, flt.err
	}
	return connectors.Ticket{ID: id, URL: "https://desk.example/t/" + id, Status: "new", Canonical: connectors.StatusNew, CaseKey: req.CaseKey}, nil
}

func (f *fakeDesk) message(ctx context.Context, kind, ticket string, msg connectors.Message) error {
	flt, ok, err := f.enter(ctx, fakeCall{Method: kind, Key: msg.OpKey, Ticket: ticket})
	defer f.leave()
	if err != nil {
		return err
	}
	if ok && !flt.apply {
		return flt.err
	}
	f.mu.Lock()
	t := f.tickets[ticket]
	if t == nil {
		f.mu.Unlock()
		return connectors.Permanentf(kind, "%w: %s", connectors.ErrNotFound, ticket)
	}
	t.Messages = append(t.Messages, msg)
	t.Kinds = append(t.Kinds, kind)
	f.mu.Unlock()
	if ok {
		if flt.then != nil {
			flt.then()
		}
		return flt.err
	}
	return nil
}

func (f *fakeDesk) Comment(ctx context.Context, ticket string, msg connectors.Message) error {
	return f.message(ctx, "Comment", ticket, msg)
}

func (f *fakeDesk) Reply(ctx context.Context, ticket string, msg connectors.Message) error {
	return f.message(ctx, "Reply", ticket, msg)
}

func (f *fakeDesk) SetStatus(ctx context.Context, ticket string, s connectors.Status) error {
	flt, ok, err := f.enter(ctx, fakeCall{Method: "SetStatus", Ticket: ticket, Key: string(s)})
	defer f.leave()
	if err != nil {
		return err
	}
	if ok && !flt.apply {
		return flt.err
	}
	f.mu.Lock()
	if t := f.tickets[ticket]; t != nil {
		t.Status = string(s)
	}
	f.mu.Unlock()
	if ok {
		return flt.err
	}
	return nil
}

func (f *fakeDesk) Get(ctx context.Context, ticket string) (connectors.Ticket, error) {
	_, _, err := f.enter(ctx, fakeCall{Method: "Get", Ticket: ticket})
	defer f.leave()
	if err != nil {
		return connectors.Ticket{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tickets[ticket]
	if t == nil {
		return connectors.Ticket{}, connectors.Permanentf("Get", "%w: %s", connectors.ErrNotFound, ticket)
	}
	return connectors.Ticket{ID: t.ID, Status: t.Status, CaseKey: t.Key}, nil
}

func (f *fakeDesk) ListUpdated(context.Context, time.Time, connectors.Cursor) (connectors.Page, error) {
	return connectors.Page{}, nil
}

func (f *fakeDesk) FindByKey(ctx context.Context, key string) ([]connectors.Ticket, error) {
	flt, ok, err := f.enter(ctx, fakeCall{Method: "FindByKey", Key: key})
	defer f.leave()
	if err != nil {
		return nil, err
	}
	if ok {
		return nil, flt.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []connectors.Ticket{}
	for _, id := range f.byKey[key] {
		t := f.tickets[id]
		out = append(out, connectors.Ticket{ID: id, Status: t.Status, Canonical: connectors.Status(t.Status), CaseKey: key})
	}
	return out, nil
}

func (f *fakeDesk) FindOp(ctx context.Context, ticket, opKey string) (bool, error) {
	flt, ok, err := f.enter(ctx, fakeCall{Method: "FindOp", Key: opKey, Ticket: ticket})
	defer f.leave()
	if err != nil {
		return false, err
	}
	if ok {
		return false, flt.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tickets[ticket]; t != nil {
		for _, m := range t.Messages {
			if m.OpKey == opKey {
				return true, nil
			}
		}
	}
	return false, nil
}

// ticketsOf returns the fake's tickets of a case key.
func (f *fakeDesk) ticketsOf(key string) []fakeTicket {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeTicket
	for _, id := range f.byKey[key] {
		out = append(out, *f.tickets[id])
	}
	return out
}

func (f *fakeDesk) ticketCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tickets)
}

// opKeys lists the op keys of a fake ticket's messages, sorted.
func (t fakeTicket) opKeys() []string {
	var out []string
	for _, m := range t.Messages {
		out = append(out, m.OpKey)
	}
	sort.Strings(out)
	return out
}

var (
	_ connectors.Connector     = (*fakeDesk)(nil)
	_ connectors.CommentFinder = (*fakeDesk)(nil)
)

// bundle is one test's dispatcher over a fake desk.
type bundle struct {
	db       *store.DB
	clock    *clock
	desk     *fakeDesk
	d        *outbox.Dispatcher
	composer outbox.Composer // given to dispatchers made after it is set
}

// half is the jitter that makes the backoff exactly attempt⁴ seconds.
func half() float64 { return 0.5 }

func newBundle(t testing.TB, db *store.DB, cfg outbox.Config, limits outbox.Limits) *bundle {
	t.Helper()
	b := &bundle{db: db, clock: newClock(), desk: newFakeDesk()}
	b.d = b.dispatcher(t, cfg, limits, "w1")
	return b
}

func (b *bundle) dispatcher(t testing.TB, cfg outbox.Config, limits outbox.Limits, worker string) *outbox.Dispatcher {
	t.Helper()
	d, err := outbox.NewDispatcher(b.db, cfg, outbox.Options{
		Connectors: map[string]connectors.Connector{"rt": b.desk},
		Limits:     map[string]outbox.Limits{"rt": limits},
		Now:        b.clock.Now, Jitter: half, Worker: worker, Composer: b.composer,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (b *bundle) drain(t testing.TB) outbox.Stats {
	t.Helper()
	st, err := b.d.Drain(context.Background())
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	return st
}

func retryable(msg string) error {
	return &connectors.Error{Kind: connectors.Retryable, Op: "fake", StatusCode: 500, Err: fmt.Errorf("%s", msg)}
}

func unknown(msg string) error {
	return &connectors.Error{Kind: connectors.Unknown, Op: "fake", Err: fmt.Errorf("%s", msg)}
}

func permanent(msg string) error {
	return &connectors.Error{Kind: connectors.Permanent, Op: "fake", StatusCode: 403, Err: fmt.Errorf("%s", msg)}
}

func rateLimited(d time.Duration) error {
	return &connectors.Error{Kind: connectors.Retryable, Op: "fake", StatusCode: 429, RetryAfter: d, Err: fmt.Errorf("Too Many Requests")}
}
