package metrics_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/metrics"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// benchCases is the size of BenchmarkReport's dataset: cases, with five
// status-history rows each, a reply for every other case and one event
// each. ABUSEGW_BENCH_CASES overrides the default of one million.
func benchCases(b *testing.B) int {
	if s := os.Getenv("ABUSEGW_BENCH_CASES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("ABUSEGW_BENCH_CASES=%q: want a positive number", s)
		}
		return n
	}
	return 1_000_000
}

// generate fills db in SQL (bulk INSERT … SELECT over a number series), so
// that a million cases take a minute or two, not hours: a year of cases over
// 50,000 customers, 20 classifications, 5 feeds and 2 connectors; 70 %
// resolved (a fifth "no response", a fifth "won't fix"), every 13th
// reopened; five status-history rows per case (the first by abusegw).
func generate(b *testing.B, db *store.DB, n int) {
	ctx := context.Background()
	pg := db.Dialect() == store.Postgres
	const epoch = 1767225600 // 2026-01-01
	t := func(secs string) string {
		if pg {
			return fmt.Sprintf("to_timestamp(%d + (%s))", epoch, secs)
		}
		return fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%S', %d + (%s), 'unixepoch') || '+00:00')", epoch, secs)
	}
	series := func(count int) string {
		if pg {
			return fmt.Sprintf("generate_series(1, %d) AS s(n)", count)
		}
		return fmt.Sprintf("(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %d) SELECT n FROM s) s", count)
	}
	// Every even case notifies its customer (and has the completed reply
	// below); in both dialects the comparison is a boolean (SQLite: 0 or 1).
	notify := "n % 2 = 0"
	c := "n * 31" // seconds after the epoch a case is received: a year for a million
	steps := []string{
		`INSERT INTO customers (key, name, created_at, updated_at)
			SELECT 'cust' || n, 'Customer ' || n, ` + t("0") + `, ` + t("0") + ` FROM ` + series(50000),
		// The first reply and the first status change not by abusegw are
		// those of the replies and history below: the triggers that keep
		// them find nothing to change, and the cases no second version.
		`INSERT INTO cases (case_key, base_key, customer_id, classification_identifier, feed_name, connector, notify, state, status,
				first_seen, last_seen, notified_at, first_response_at, resolved_at, closure_reason, reopen_count, created_at, updated_at,
				first_reply_at, first_outside_change_at)
			SELECT 'k' || n, 'k' || n, n % 50000 + 1, 'cls' || (n % 20), 'feed' || (n % 5), CASE WHEN n % 2 = 0 THEN 'rt' ELSE 'jira' END,
				` + notify + `, CASE WHEN n % 10 < 7 THEN 'resolved' ELSE 'open' END, 'open',
				` + t(c) + `, ` + t(c) + `, ` + t(c+" + 3600 + (n % 7) * 3600") + `,
				CASE WHEN n % 10 < 7 THEN ` + t(c+" + 7200 + (n % 48) * 3600") + ` END,
				CASE WHEN n % 10 < 7 THEN ` + t(c+" + 7200 + (n % 200) * 3600") + ` END,
				CASE WHEN n % 10 >= 7 THEN '' WHEN n % 5 = 0 THEN 'no response' WHEN n % 5 = 1 THEN 'won''t fix' ELSE 'fixed' END,
				CASE WHEN n % 13 = 0 THEN 1 ELSE 0 END, ` + t(c) + `, ` + t(c) + `,
				CASE WHEN n % 2 = 0 THEN ` + t(c+" + 5400") + ` END, ` + t(c+" + 2 * 3600") + ` FROM ` + series(n),
		`INSERT INTO status_history (case_id, from_status, to_status, at, source, reason, created_at)
			SELECT n, '', 'open', ` + t(c+" + k * 3600") + `, CASE WHEN k = 1 THEN 'gateway' ELSE 'webhook' END, '', ` + t(c+" + k * 3600") + `
			FROM ` + series(n) + ` CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) ks`,
		`INSERT INTO outbox (case_id, connector, kind, idempotency_key, state, scheduled_at, created_at, finalized_at)
			SELECT n, 'rt', 'reply', 'reply:' || n, 'completed', ` + t(c) + `, ` + t(c) + `, ` + t(c+" + 5400") + `
			FROM ` + series(n) + ` WHERE n % 2 = 0`,
		`INSERT INTO reports (sha256, channel, received_at) SELECT 'r' || n, 'file', ` + t("n * 3100") + ` FROM ` + series(n/100+1),
		`INSERT INTO events (report_id, seq, feed_name, classification_identifier, customer_id, case_id, fields, created_at, disposition)
			SELECT n / 100 + 1, n, 'feed' || (n % 5), 'cls' || (n % 20), n % 50000 + 1, n, '{}', ` + t(c) + `, 'case' FROM ` + series(n),
	}
	start := time.Now()
	for i, q := range steps {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("generating step %d: %v\n%s", i, err, q)
		}
	}
	// As autovacuum would leave the tables on PostgreSQL (the visibility
	// map too); only these, not the whole test database.
	analyze := "ANALYZE"
	if pg {
		analyze = "VACUUM ANALYZE customers, cases, status_history, outbox, reports, events"
	}
	if _, err := db.ExecContext(ctx, analyze); err != nil {
		b.Fatalf("analyzing: %v", err)
	}
	b.Logf("%s: generated %d cases, %d status-history rows, %d replies, %d events in %s",
		db.Dialect(), n, 5*n, n/2, n, time.Since(start).Round(time.Second))
}

// BenchmarkReport times `abusegw report` (metrics.Compute) over a year of
// cases: one op is one whole report.
//
//	ABUSEGW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench BenchmarkReport -benchtime 3x -timeout 30m ./gateway/metrics/
func BenchmarkReport(b *testing.B) {
	n := benchCases(b)
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			generate(b, db, n)
			for _, g := range []metrics.GroupBy{metrics.GroupNone, metrics.GroupClassification, metrics.GroupCustomer} {
				name := string(g)
				if name == "" {
					name = "none"
				}
				b.Run("group="+name, func(b *testing.B) {
					var rep *metrics.Report
					for b.Loop() {
						var err error
						rep, err = metrics.Compute(context.Background(), db, metrics.Config{}, metrics.Query{GroupBy: g}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
						if err != nil {
							b.Fatal(err)
						}
					}
					if rep.Totals.CasesOpened != int64(n) {
						b.Fatalf("report counts %d cases, want %d", rep.Totals.CasesOpened, n)
					}
					b.ReportMetric(float64(rep.Totals.CasesOpened), "cases")
					if testing.Verbose() {
						b.Logf("%s", strings.TrimSpace(fmt.Sprint(rep.Totals.CasesResolved, " resolved, ", len(rep.Groups), " groups")))
						b.Logf("%s", summary(rep))
					}
				})
			}
		})
	}
}

// summary is the report's totals in one line, to compare the dialects (the
// generated data is the same in both, so every figure must be).
func summary(rep *metrics.Report) string {
	t := rep.Totals
	d := func(d metrics.Durations) string {
		v := func(p *float64) string {
			if p == nil {
				return "-"
			}
			return strconv.FormatFloat(*p, 'f', -1, 64)
		}
		return fmt.Sprintf("%d/%s/%s/%s", d.Count, v(d.MedianSeconds), v(d.P90Seconds), v(d.MaxSeconds))
	}
	return fmt.Sprintf("opened %d notified %d responded %d resolved %d acted %d reopened %d relapses %d sla %d/%d open %d; notify %s response %s resolve %s; %d offenders",
		t.CasesOpened, t.CasesNotified, t.CasesResponded, t.CasesResolved, t.CasesActedOn, t.CasesReopened, t.Relapses,
		t.SLAMet, t.SLADue, t.OpenByAge.Total, d(t.TimeToNotify), d(t.TimeToFirstResponse), d(t.TimeToResolve), len(rep.TopOffenders))
}
