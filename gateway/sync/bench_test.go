package sync_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

// memDesk is an in-memory helpdesk: every ticket toggles between resolved
// and open on each Flip, with a later Updated, so each read is a change.
// It embeds an rt.Client only for ParseWebhook (the signature check).
type memDesk struct {
	*rt.Client
	mu       gosync.Mutex
	n        int
	gen      int
	at       time.Time
	pageSize int
}

func newMemDesk(t testing.TB, n int) *memDesk {
	t.Helper()
	c, err := rt.New(&rt.Config{Common: connectors.Common{Name: "rt", Type: "rt"}, URL: "http://127.0.0.1:1/", Token: "x", Queue: "Abuse", WebhookSecret: testSecret}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return &memDesk{Client: c, n: n, at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), pageSize: 100}
}

// Flip changes every ticket's status, a second later.
func (m *memDesk) Flip() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.at = m.at.Add(time.Second)
}

func (m *memDesk) ticket(i int) connectors.Ticket {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := connectors.Ticket{ID: strconv.Itoa(i), Status: "open", Canonical: connectors.StatusOpen, Updated: m.at}
	if m.gen%2 == 1 {
		t.Status, t.Canonical, t.ClosureReason = "resolved", connectors.StatusResolved, "fixed"
	}
	return t
}

func (m *memDesk) Get(_ context.Context, id string) (connectors.Ticket, error) {
	i, err := strconv.Atoi(id)
	if err != nil || i < 1 || i > m.n {
		return connectors.Ticket{}, fmt.Errorf("ticket %s: %w", id, connectors.ErrNotFound)
	}
	return m.ticket(i), nil
}

func (m *memDesk) ListUpdated(_ context.Context, _ time.Time, cursor connectors.Cursor) (connectors.Page, error) {
	from := 1
	if cursor != "" {
		from, _ = strconv.Atoi(string(cursor))
	}
	to := min(from+m.pageSize, m.n+1)
	p := connectors.Page{Tickets: make([]connectors.Ticket, 0, to-from)}
	for i := from; i < to; i++ {
		p.Tickets = append(p.Tickets, m.ticket(i))
	}
	if to <= m.n {
		p.Next = connectors.Cursor(strconv.Itoa(to))
	}
	return p, nil
}

// seedCases makes n open cases with tickets 1..n of connector rt.
func seedCases(b testing.TB, db *store.DB, n int) {
	b.Helper()
	at := store.Time(t0)
	err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		for i := 1; i <= n; i++ {
			key := "bench-" + strconv.Itoa(i)
			var id int64
			if err := tx.GetContext(context.Background(), &id, tx.Rebind(`INSERT INTO cases (case_key, base_key, connector, state, status, first_seen, last_seen, created_at, updated_at)
				VALUES (?, ?, 'rt', 'open', 'open', ?, ?, ?, ?) RETURNING id`), key, key, at, at, at, at); err != nil {
				return err
			}
			if _, err := tx.ExecContext(context.Background(), tx.Rebind(`INSERT INTO tickets (case_id, connector, external_id, status, created_at, updated_at)
				VALUES (?, 'rt', ?, 'open', ?, ?)`), id, strconv.Itoa(i), at, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("seeding %d cases: %v", n, err)
	}
}

// BenchmarkWebhook: signed RT webhooks through the real handler (gin,
// signature check, delivery recorded) and applied behind it by
// Receiver.Run (read-back from an in-memory helpdesk, status change
// written), on SQLite. One op is one request, answered and applied.
//
//	go test -run '^$' -bench Webhook -benchtime 20000x ./gateway/sync/
func BenchmarkWebhook(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			const cases = 1000
			seedCases(b, db, cases)
			desk := newMemDesk(b, cases)
			a := gwsync.NewApplier(db, nil, nil)
			recv, err := gwsync.NewReceiver(db, map[string]connectors.Connector{"rt": desk}, a, nil, nil, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			e := gin.New()
			recv.Mount(e)
			bodies := make([][]byte, b.N)
			sigs := make([]string, b.N)
			for i := range b.N {
				bodies[i] = scripBody(strconv.Itoa(i%cases+1), "open", "resolved", 1_000_000+i, t0, "")
				sigs[i] = sign(testSecret, bodies[i])
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { defer close(ran); recv.Run(ctx, 20*time.Millisecond) }()
			var next, lat atomic.Int64
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if i%cases == 0 {
						desk.Flip()
					}
					req := httptest.NewRequest(http.MethodPost, "/webhooks/rt", bytesReader(bodies[i]))
					req.Header.Set(rt.SignatureHeader, sigs[i])
					w := httptest.NewRecorder()
					t := time.Now()
					e.ServeHTTP(w, req)
					lat.Add(int64(time.Since(t)))
					if w.Code != http.StatusAccepted {
						b.Errorf("%d %s", w.Code, w.Body)
						return
					}
				}
			})
			answered := time.Since(start)
			for count(b, db, `SELECT count(*) FROM webhook_deliveries WHERE state = 'received'`) > 0 {
				time.Sleep(5 * time.Millisecond) // Run drains the backlog
			}
			applied := time.Since(start)
			b.StopTimer()
			cancel()
			<-ran
			b.ReportMetric(float64(b.N)/answered.Seconds(), "req/s")
			b.ReportMetric(float64(b.N)/applied.Seconds(), "applied/s")
			b.ReportMetric(float64(lat.Load())/float64(b.N)/1e6, "ms/req")
			if n := count(b, db, `SELECT count(*) FROM webhook_deliveries WHERE state <> 'applied'`); n > 0 {
				b.Errorf("%d deliveries not applied", n)
			}
		})
	}
}

// BenchmarkReconcile: 100,000 changed tickets from an in-memory helpdesk,
// 100 a page. The target: ≤ 60 s.
//
//	go test -run '^$' -bench Reconcile -benchtime 1x -timeout 30m ./gateway/sync/
func BenchmarkReconcile(b *testing.B) {
	const n = 100_000
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			seedCases(b, db, n)
			desk := newMemDesk(b, n)
			clk := newClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
			r := newReconciler(b, db, clk, map[string]connectors.Connector{"rt": desk})
			b.ResetTimer()
			for range b.N {
				desk.Flip()
				clk.Advance(time.Hour)
				st, err := r.Run(context.Background(), "rt", gwsync.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if st.Changed != n {
					b.Fatalf("stats %+v, want %d changed", st, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tickets/s")
		})
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
