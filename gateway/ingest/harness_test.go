package ingest_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/internal/testclock"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
)

// day0 is when the first fixture report arrives in these tests.
var day0 = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)

// clock is the injected clock of every collaborator.
type clock = testclock.Clock

func newClock(t time.Time) *clock { return testclock.New(t) }

// setup describes one pipeline under test.
type setup struct {
	contactsFile string // path; default testdata/customers.csv
	routing      routing.Config
	cases        cases.Config
	unowned      contacts.UnownedConfig
	// wrapRenderer and wrapResolver put test doubles around the real ones.
	wrapRenderer func(cases.Renderer) cases.Renderer
	wrapResolver func(contacts.Resolver) contacts.Resolver
	logger       *slog.Logger // default: none
}

// defaultSetup routes every case to connector "rt" and writes to customers,
// except initech, whose tickets stay internal.
func defaultSetup() setup {
	no := false
	return setup{routing: routing.Config{
		DefaultConnector: "rt",
		Rules:            []routing.Rule{{Name: "initech internal", Match: routing.Match{Customers: []string{"initech"}}, Notify: &no}},
	}}
}

type harness struct {
	t     testing.TB
	db    *store.DB
	clock *clock
	dir   string
	pipe  *ingest.Pipeline
	agg   *cases.Aggregator
	chain *contacts.Chain
}

func newHarness(t testing.TB, db *store.DB, s setup) *harness {
	t.Helper()
	h := &harness{t: t, db: db, clock: newClock(day0), dir: t.TempDir()}
	h.build(s)
	return h
}

// build (re)wires the pipeline over the harness's database and clock, as a
// restarted process would.
func (h *harness) build(s setup) {
	t := h.t
	t.Helper()
	if h.chain != nil {
		_ = h.chain.Close()
	}
	ctx := context.Background()
	path := s.contactsFile
	if path == "" {
		path = filepath.Join("testdata", "customers.csv")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := contacts.New(ctx, []contacts.SourceConfig{{Type: contacts.TypeFile, Path: abs, Reload: -1}},
		contacts.Options{Unowned: s.unowned, Now: h.clock.Now})
	if err != nil {
		t.Fatalf("contacts: %v", err)
	}
	h.chain = chain
	t.Cleanup(func() { _ = chain.Close() })
	router, err := routing.New(s.routing, nil)
	if err != nil {
		t.Fatalf("routing: %v", err)
	}
	renderer, err := content.New(content.Options{Now: h.clock.Now})
	if err != nil {
		t.Fatalf("content: %v", err)
	}
	var r cases.Renderer = renderer
	if s.wrapRenderer != nil {
		r = s.wrapRenderer(r)
	}
	h.agg, err = cases.New(s.cases, cases.Options{Renderer: r, Desk: cases.Desk{Name: "Abuse Desk", Email: "abuse@isp.example"}, Now: h.clock.Now})
	if err != nil {
		t.Fatalf("cases: %v", err)
	}
	var res contacts.Resolver = chain
	if s.wrapResolver != nil {
		res = s.wrapResolver(res)
	}
	var catchAll *contacts.Customer
	if c, ok := chain.CatchAll(); ok {
		catchAll = &c
	}
	h.pipe, err = ingest.New(ingest.Options{
		DB: h.db, Contacts: res, CatchAll: catchAll, Router: router, Aggregator: h.agg,
		DataDir: h.dir, Now: h.clock.Now, Logger: s.logger,
	})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

// ingestFile ingests a file of testdata under its own name.
func (h *harness) ingestFile(name string) (ingest.Stored, ingest.Summary) {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.ingestBytes(name, b)
}

func (h *harness) ingestBytes(name string, b []byte) (ingest.Stored, ingest.Summary) {
	h.t.Helper()
	st, sum, err := h.pipe.Ingest(context.Background(), ingest.Source{Channel: "file", Name: name}, bytes.NewReader(b))
	if err != nil {
		h.t.Fatalf("ingesting %s: %v", name, err)
	}
	return st, sum
}

// count returns the number of rows of a table (optionally with a WHERE
// clause and arguments).
func (h *harness) count(table, where string, args ...any) int {
	h.t.Helper()
	q := "SELECT count(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	if err := h.db.GetContext(context.Background(), &n, h.db.Rebind(q), args...); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// caseRow is a case as the tests look at it.
type caseRow struct {
	ID            int64      `db:"id"`
	Key           string     `db:"case_key"`
	BaseKey       string     `db:"base_key"`
	Generation    int        `db:"generation"`
	Customer      string     `db:"customer"`
	Identifier    string     `db:"classification_identifier"`
	State         string     `db:"state"`
	IPs           int        `db:"ips_count"`
	Events        int        `db:"events_count"`
	Reports       int        `db:"reports_count"`
	Pending       int        `db:"pending_events"`
	FirstSeen     time.Time  `db:"first_seen"`
	LastSeen      time.Time  `db:"last_seen"`
	ReopenCount   int        `db:"reopen_count"`
	PreviousCase  *int64     `db:"previous_case_id"`
	Connector     string     `db:"connector"`
	Notify        bool       `db:"notify"`
	LastUpdateAt  *time.Time `db:"last_update_at"`
	ResolvedAtPtr *time.Time `db:"resolved_at"`
}

func (h *harness) cases() map[string]caseRow {
	h.t.Helper()
	var rows []caseRow
	err := h.db.SelectContext(context.Background(), &rows, `SELECT c.id, c.case_key, c.base_key, c.generation, u.key AS customer,
		c.classification_identifier, c.state, c.ips_count, c.events_count, c.reports_count, c.pending_events,
		c.first_seen, c.last_seen, c.reopen_count, c.previous_case_id, c.connector, c.notify, c.last_update_at, c.resolved_at
		FROM cases c JOIN customers u ON u.id = c.customer_id ORDER BY c.id`)
	if err != nil {
		h.t.Fatalf("loading cases: %v", err)
	}
	out := map[string]caseRow{}
	for _, r := range rows {
		r.FirstSeen, r.LastSeen = r.FirstSeen.UTC(), r.LastSeen.UTC()
		out[r.Key] = r
	}
	return out
}

// opRow is an outbox row.
type opRow struct {
	ID      int64  `db:"id"`
	CaseKey string `db:"case_key"`
	Kind    string `db:"kind"`
	Key     string `db:"idempotency_key"`
	Payload string `db:"payload"`
	Conn    string `db:"connector"`
}

func (h *harness) ops() []opRow {
	h.t.Helper()
	var rows []opRow
	err := h.db.SelectContext(context.Background(), &rows, `SELECT o.id, c.case_key, o.kind, o.idempotency_key, o.payload, o.connector
		FROM outbox o JOIN cases c ON c.id = o.case_id ORDER BY o.id`)
	if err != nil {
		h.t.Fatalf("loading outbox: %v", err)
	}
	return rows
}

// composed has the text of operations enqueued without it written, as the
// dispatcher does before it sends them, and returns all operations.
func (h *harness) composed() []opRow {
	h.t.Helper()
	var rows []struct {
		CaseID  int64  `db:"case_id"`
		Payload string `db:"payload"`
	}
	if err := h.db.SelectContext(context.Background(), &rows, `SELECT case_id, payload FROM outbox ORDER BY id`); err != nil {
		h.t.Fatalf("loading outbox: %v", err)
	}
	done := map[int64]bool{}
	for _, r := range rows {
		var p outbox.Payload
		if err := json.Unmarshal([]byte(r.Payload), &p); err != nil {
			h.t.Fatal(err)
		}
		if !p.Compose || done[r.CaseID] {
			continue
		}
		done[r.CaseID] = true
		if _, err := outbox.Compose(context.Background(), h.db, h.agg, r.CaseID); err != nil {
			h.t.Fatal(err)
		}
	}
	return h.ops()
}

// opKinds lists "case_key kind" per operation, sorted.
func opKinds(ops []opRow) []string {
	out := make([]string, 0, len(ops))
	for _, o := range ops {
		out = append(out, o.CaseKey+" "+o.Kind)
	}
	slices.Sort(out)
	return out
}

// fixtureRow is one row of a Shadowserver fixture, read independently of
// the normalizer: the oracle for counts and times.
type fixtureRow struct {
	at time.Time
	ip string
}

func readFixture(t testing.TB, name string) []fixtureRow {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord, cr.LazyQuotes = -1, true
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []fixtureRow
	for _, r := range recs[1:] {
		at, err := time.Parse(time.DateTime, r[0])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixtureRow{at.UTC(), r[1]})
	}
	return out
}

// expectation is a case as computed from fixture rows.
type expectation struct {
	ips         map[string]int
	events      int
	first, last time.Time
}

func expect(rows []fixtureRow, keep func(ip string) bool) expectation {
	e := expectation{ips: map[string]int{}}
	for _, r := range rows {
		if !keep(r.ip) {
			continue
		}
		e.events++
		e.ips[r.ip]++
		if e.first.IsZero() || r.at.Before(e.first) {
			e.first = r.at
		}
		if r.at.After(e.last) {
			e.last = r.at
		}
	}
	return e
}

// lastOctet of an IPv4 address as text.
func lastOctet(ip string) int {
	var a, b, c, d int
	fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d)
	return d
}

// dnsReport writes a scan_dns report with the fixture's header and first
// row as the template for every row, one row per (time, ip).
func dnsReport(t testing.TB, rows []fixtureRow) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "scan_dns.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cr.Read()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	rec := slices.Clone(tmpl)
	for _, r := range rows {
		rec[0], rec[1] = r.at.Format(time.DateTime), r.ip
		rec[4] = strings.ReplaceAll(r.ip, ".", "-") + ".example.net"
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// spyRenderer records what it is asked to render.
type spyRenderer struct {
	mu    sync.Mutex
	next  cases.Renderer
	calls []renderCall
}

type renderCall struct {
	kind content.Kind
	c    content.Case
}

func (s *spyRenderer) Render(kind content.Kind, c content.Case) (content.Message, error) {
	s.mu.Lock()
	s.calls = append(s.calls, renderCall{kind, c})
	s.mu.Unlock()
	return s.next.Render(kind, c)
}

// of returns the calls of one kind.
func (s *spyRenderer) of(kind content.Kind) []renderCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []renderCall
	for _, c := range s.calls {
		if c.kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// addrs lists the addresses of a delta, sorted.
func addrs(ips []content.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.Addr)
	}
	slices.Sort(out)
	return out
}

func readTestdata(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}
