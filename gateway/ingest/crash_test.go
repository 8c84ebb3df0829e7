package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// errCrash is what an injected fault returns.
var errCrash = errors.New("injected crash")

// crash counts calls of the wrapped collaborators and, at call number at,
// kills the work in progress: by failing the call, or by cancelling the
// context of the step that is running (as a SIGTERM would).
type crash struct {
	mu     sync.Mutex
	at     int // 1-based call that crashes; 0 never
	calls  int
	cancel context.CancelFunc
	fired  bool
	viaCtx bool
}

// hit counts a call and reports whether it is the one that crashes.
func (c *crash) hit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls != c.at {
		return false
	}
	c.fired = true
	if c.viaCtx && c.cancel != nil {
		c.cancel()
	}
	return true
}

type crashRenderer struct {
	c    *crash
	next cases.Renderer
}

func (r crashRenderer) Render(kind content.Kind, cs content.Case) (content.Message, error) {
	if r.c.hit() && !r.c.viaCtx {
		return content.Message{}, errCrash
	}
	return r.next.Render(kind, cs)
}

type crashResolver struct {
	c    *crash
	next contacts.Resolver
}

func (r crashResolver) Lookup(ctx context.Context, q contacts.Query) (contacts.Customer, bool, error) {
	if r.c.hit() && !r.c.viaCtx {
		return contacts.Customer{}, false, errCrash
	}
	return r.next.Lookup(ctx, q)
}

// step is one thing the gateway does at a point in time.
type step struct {
	name string
	at   time.Time
	run  func(ctx context.Context, h *harness) error
}

func ingestStep(name string, at time.Time, report func(t testing.TB) []byte) step {
	return step{name: "ingest " + name, at: at, run: func(ctx context.Context, h *harness) error {
		_, _, err := h.pipe.Ingest(ctx, ingest.Source{Channel: "file", Name: name}, strings.NewReader(string(report(h.t))))
		return err
	}}
}

func fixture(name string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		b, err := readTestdata(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// lifecycle is a life of cases: fixtures, a second day with an update, a
// closure and a recurrence that reopens.
func lifecycle() []step {
	var steps []step
	for _, f := range fixtures {
		steps = append(steps, ingestStep(f, day0, fixture(f)))
	}
	steps = append(steps,
		ingestStep("2018-04-15-scan_dns.csv", day0.Add(23*time.Hour), func(t testing.TB) []byte {
			rows, _, _ := day2(t)
			return dnsReport(t, rows)
		}),
		step{name: "flush updates", at: day0.Add(25 * time.Hour), run: func(ctx context.Context, h *harness) error {
			_, err := h.agg.FlushUpdates(ctx, h.db)
			return err
		}},
		step{name: "resolve", at: day0.Add(48 * time.Hour), run: func(ctx context.Context, h *harness) error {
			resolve(h.t, h.db, h.cases()["acme/dns-open-resolver"].ID, day0.Add(48*time.Hour))
			return nil
		}},
		ingestStep("2018-04-18-scan_dns.csv", day0.Add(5*24*time.Hour), func(t testing.TB) []byte {
			at := time.Date(2018, 4, 18, 1, 0, 0, 0, time.UTC)
			return dnsReport(t, []fixtureRow{{at, "198.51.100.8"}, {at, "198.51.100.5"}, {at, "198.51.100.200"}})
		}),
	)
	return steps
}

// runSteps runs steps on h. When a step fails (the injected crash), the
// gateway "restarts": the pipeline is rebuilt with the real collaborators,
// pending reports are processed, and the step is run again, as a rerun of
// `abusegw ingest` would.
func runSteps(t *testing.T, h *harness, steps []step, c *crash) {
	t.Helper()
	for _, st := range steps {
		h.clock.Set(st.at)
		ctx, cancel := context.WithCancel(context.Background())
		if c != nil {
			c.mu.Lock()
			c.cancel = cancel
			c.mu.Unlock()
		}
		err := st.run(ctx, h)
		cancel()
		if err == nil {
			continue
		}
		if c == nil || !c.fired {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !errors.Is(err, errCrash) && !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: crash gave %v, want the injected error or context.Canceled", st.name, err)
		}
		t.Logf("%s crashed at call %d: %v", st.name, c.at, err)
		h.build(defaultSetup())
		ctx = context.Background()
		if _, err := h.pipe.ProcessPending(ctx); err != nil {
			t.Fatalf("ProcessPending after the crash: %v", err)
		}
		if err := st.run(ctx, h); err != nil {
			t.Fatalf("%s again after the crash: %v", st.name, err)
		}
	}
}

func TestCrashAndRerunGiveTheSameEndState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		wrap   func(c *crash, s *setup)
		viaCtx bool
		at     []int
	}{
		// Renderer calls: the update flush and the reopen (new cases are
		// written when dispatched, outside the pipeline).
		{name: "renderer fails", wrap: func(c *crash, s *setup) {
			s.wrapRenderer = func(r cases.Renderer) cases.Renderer { return crashRenderer{c, r} }
		}, at: []int{1, 2, 3}},
		{name: "renderer cancels the context", viaCtx: true, wrap: func(c *crash, s *setup) {
			s.wrapRenderer = func(r cases.Renderer) cases.Renderer { return crashRenderer{c, r} }
		}, at: []int{1, 3}},
		// Lookups: 100 events in scan_dns, then 3, 3, 2, 7, 3.
		{name: "contact lookup fails", wrap: func(c *crash, s *setup) {
			s.wrapResolver = func(r contacts.Resolver) contacts.Resolver { return crashResolver{c, r} }
		}, at: []int{1, 50, 100, 104, 110, 115, 117}},
		{name: "contact lookup cancels the context", viaCtx: true, wrap: func(c *crash, s *setup) {
			s.wrapResolver = func(r contacts.Resolver) contacts.Resolver { return crashResolver{c, r} }
		}, at: []int{77, 112}},
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ref := newHarness(t, storetest.Open(t, d), defaultSetup())
			runSteps(t, ref, lifecycle(), nil)
			want := dump(t, ref.db)
			if len(want["outbox"]) < 10 || len(want["events"]) != 118 {
				t.Fatalf("reference run: %d operations %d events; the lifecycle changed", len(want["outbox"]), len(want["events"]))
			}
			for _, tt := range tests {
				for _, at := range tt.at {
					t.Run(fmt.Sprintf("%s at call %d", tt.name, at), func(t *testing.T) {
						t.Parallel()
						c := &crash{at: at, viaCtx: tt.viaCtx}
						s := defaultSetup()
						tt.wrap(c, &s)
						h := newHarness(t, storetest.Open(t, d), s)
						runSteps(t, h, lifecycle(), c)
						if !c.fired {
							t.Fatalf("the crash at call %d never happened (%d calls)", at, c.calls)
						}
						compareDumps(t, want, dump(t, h.db))
					})
				}
			}
		})
	}
}

// TestCrashAfterStore is a crash after the raw report was stored and
// before it was processed: the next run processes it.
func TestCrashAfterStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db, defaultSetup())
		b, err := readTestdata("scan_dns.csv")
		if err != nil {
			t.Fatal(err)
		}
		st, err := h.pipe.Store(ctx, ingest.Source{Channel: "file", Name: "scan_dns.csv"}, strings.NewReader(string(b)))
		if err != nil || st.Duplicate {
			t.Fatalf("Store: %+v, %v", st, err)
		}
		if n := h.count("cases", ""); n != 0 {
			t.Fatalf("%d cases after Store alone", n)
		}
		h.build(defaultSetup())
		sum, err := h.pipe.ProcessPending(ctx)
		if err != nil || sum.Reports != 1 || sum.Events != 100 || sum.NewCases != 2 {
			t.Fatalf("ProcessPending: %+v, %v", sum, err)
		}
		// Ingesting the same file now recognises it.
		st2, sum2 := h.ingestBytes("scan_dns.csv", b)
		if !st2.Duplicate || st2.ID != st.ID || sum2.Duplicates != 1 || sum2.Reports != 0 {
			t.Errorf("ingest after recovery: %+v %+v", st2, sum2)
		}

		ref := newHarness(t, storetest.Open(t, db.Dialect()), defaultSetup())
		ref.ingestBytes("scan_dns.csv", b)
		compareDumps(t, dump(t, ref.db), dump(t, db))
	})
}

// dumpQueries select every table the pipeline writes, with ids replaced by
// what they stand for (ids legitimately differ after a rollback: PostgreSQL
// sequences do not roll back).
var dumpQueries = map[string]string{
	"reports": `SELECT sha256, channel, source_name, content_type, size, raw_ref, received_at, status, format, detail,
		events_count, rejected_count, unowned_count, ignored_count, error, processed_at FROM reports`,
	"events": `SELECT r.sha256, e.seq, e.line, e.part, e.time_source, e.time_observation, e.feed_name, e.feed_provider,
		e.classification_taxonomy, e.classification_type, e.classification_identifier, e.source_ip, e.source_port, e.source_asn,
		e.source_network, e.source_fqdn, e.source_url, u.key, c.case_key, e.disposition, e.fields, e.created_at
		FROM events e JOIN reports r ON r.id = e.report_id LEFT JOIN customers u ON u.id = e.customer_id LEFT JOIN cases c ON c.id = e.case_id`,
	"customers": `SELECT key, name, emails, connector, queue, language, tags, created_at, updated_at FROM customers`,
	"cases": `SELECT c.case_key, c.base_key, c.generation, u.key, c.classification_taxonomy, c.classification_type,
		c.classification_identifier, c.feed_name, c.connector, c.queue, c.template, c.notify, c.state, c.status, c.first_seen, c.last_seen,
		c.events_count, c.reports_count, c.ips_count, c.pending_events, c.last_update_at, c.resolved_at, c.reopen_count,
		p.case_key, c.version, c.created_at, c.updated_at
		FROM cases c LEFT JOIN customers u ON u.id = c.customer_id LEFT JOIN cases p ON p.id = c.previous_case_id`,
	"case_ips": `SELECT c.case_key, i.ip, i.first_seen, i.last_seen, i.events, i.added_at, i.seen_at
		FROM case_ips i JOIN cases c ON c.id = i.case_id`,
	"status_history": `SELECT c.case_key, h.from_status, h.to_status, h.at, h.source, h.reason, h.created_at
		FROM status_history h JOIN cases c ON c.id = h.case_id`,
	"outbox": `SELECT c.case_key, o.connector, o.kind, o.payload, o.idempotency_key, o.state, o.attempt, o.max_attempts,
		o.scheduled_at, o.created_at FROM outbox o LEFT JOIN cases c ON c.id = o.case_id`,
}

var referenceRE = regexp.MustCompile(`ABUSE-[0-9]+`)

// dump returns every table as sorted lines of text, with case references
// (ABUSE-<id>) replaced by case keys.
func dump(t testing.TB, db *store.DB) map[string][]string {
	t.Helper()
	ctx := context.Background()
	refs := map[string]string{}
	var cs []struct {
		ID  int64  `db:"id"`
		Key string `db:"case_key"`
	}
	if err := db.SelectContext(ctx, &cs, `SELECT id, case_key FROM cases`); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		refs["ABUSE-"+strconv.FormatInt(c.ID, 10)] = "<" + c.Key + ">"
	}
	out := map[string][]string{}
	for table, q := range dumpQueries {
		rows, err := db.QueryxContext(ctx, q)
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatalf("dumping %s: %v", table, err)
			}
			cells := make([]string, len(vals))
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case nil:
					s = "NULL"
				case time.Time:
					s = v.UTC().Format(time.RFC3339Nano)
				case []byte:
					s = string(v)
				default:
					s = fmt.Sprint(v)
				}
				cells[i] = referenceRE.ReplaceAllStringFunc(s, func(r string) string {
					if k, ok := refs[r]; ok {
						return k
					}
					return r
				})
			}
			out[table] = append(out[table], strings.Join(cells, " | "))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		rows.Close()
		slices.Sort(out[table])
	}
	return out
}

func compareDumps(t testing.TB, want, got map[string][]string) {
	t.Helper()
	for _, table := range keys(dumpQueries) {
		w, g := want[table], got[table]
		if slices.Equal(w, g) {
			continue
		}
		t.Errorf("%s: %d rows, want %d", table, len(g), len(w))
		shown := 0
		for _, line := range g {
			if !slices.Contains(w, line) && shown < 5 {
				t.Errorf("  extra:   %.400s", line)
				shown++
			}
		}
		for _, line := range w {
			if !slices.Contains(g, line) && shown < 10 {
				t.Errorf("  missing: %.400s", line)
				shown++
			}
		}
	}
}
