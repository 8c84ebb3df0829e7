package metrics_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/abusegw/abusegw/gateway/metrics"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

func TestWriteReportFormats(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		load(t, db)
		for _, g := range []metrics.GroupBy{metrics.GroupNone, metrics.GroupCustomer, metrics.GroupClassification} {
			q := november
			q.GroupBy = g
			rep := compute(t, db, q)

			var js bytes.Buffer
			if err := metrics.WriteReport(&js, rep, metrics.FormatJSON); err != nil {
				t.Fatal(err)
			}
			var back metrics.Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatalf("JSON does not parse: %v", err)
			}
			eq(t, "JSON round trip", back.Totals, rep.Totals)

			var cs bytes.Buffer
			if err := metrics.WriteReport(&cs, rep, metrics.FormatCSV); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&cs).ReadAll() // also checks every row has the header's width
			if err != nil {
				t.Fatalf("CSV does not parse: %v", err)
			}
			if len(recs) != len(rep.Groups)+2 {
				t.Fatalf("CSV has %d rows, want header + %d groups + total", len(recs), len(rep.Groups))
			}
			total := recs[len(recs)-1]
			col := map[string]int{}
			for i, name := range recs[0] {
				col[name] = i
			}
			if total[0] != "total" || total[col["cases_opened"]] != "9" || total[col["resolve_p90_s"]] != "308160" ||
				total[col["open_7d_30d"]] != "3" || total[col["closure_reasons"]] != "(none)=1; No Response*=1; fixed=1" {
				t.Errorf("CSV total row: %v", total)
			}

			var tb bytes.Buffer
			if err := metrics.WriteReport(&tb, rep, metrics.FormatTable); err != nil {
				t.Fatal(err)
			}
			out := tb.String()
			for _, want := range []string{"TOTAL", "66.7%", "1d20h / 3d13h / 4d00h", "No Response *", "Customer B"} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
		}
		if err := metrics.WriteReport(&bytes.Buffer{}, &metrics.Report{}, "xml"); err == nil {
			t.Error("format xml: no error")
		}
	})
}

func TestComplianceRoute(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.TestMode)
	db := storetest.Open(t, store.SQLite)
	load(t, db)
	r := gin.New()
	metrics.Mount(db, cfg, func() time.Time { return ts("2026-12-01 00:00") })(r)
	for _, tc := range []struct {
		query string
		code  int
		check func(t *testing.T, body []byte)
	}{
		{"?from=2026-11-01&to=2026-12-01&group_by=customer", http.StatusOK, func(t *testing.T, body []byte) {
			var rep metrics.Report
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			eq(t, "totals", rep.Totals, wantTotals)
			eq(t, "groups", rep.Groups, wantByCustomer)
		}},
		{"?from=2026-11-01", http.StatusOK, func(t *testing.T, body []byte) {
			var rep metrics.Report
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Totals.CasesOpened != 9 || !rep.To.Equal(ts("2026-12-01 00:00")) {
				t.Errorf("to defaults to now: %v, opened %d", rep.To, rep.Totals.CasesOpened)
			}
		}},
		{"?group_by=ip", http.StatusBadRequest, nil},
		{"?from=yesterday", http.StatusBadRequest, nil},
		{"?to=2026-13-45", http.StatusBadRequest, nil},
		{"?from=2026-12-01&to=2026-11-01", http.StatusBadRequest, nil},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, metrics.CompliancePath+tc.query, nil))
		if w.Code != tc.code {
			t.Errorf("%s: status %d, want %d: %s", tc.query, w.Code, tc.code, w.Body)
			continue
		}
		if tc.code != http.StatusOK {
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Errorf("%s: error body %q is not a JSON error", tc.query, w.Body)
			}
			continue
		}
		tc.check(t, w.Body.Bytes())
	}
}

func TestCollector(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		load(t, db)
		now := ts("2026-12-01 00:00")
		c := metrics.NewCollector(db, cfg, metrics.CollectorOptions{Now: func() time.Time { return now }})
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
		problems, err := testutil.GatherAndLint(reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
		want := `
# HELP abusegw_cases Cases, by state.
# TYPE abusegw_cases gauge
abusegw_cases{state="closed"} 2
abusegw_cases{state="open"} 7
abusegw_cases{state="resolved"} 3
# HELP abusegw_cases_open_by_age Cases not resolved, by time since receipt (lt_1d, 1d_3d, 3d_7d, 7d_30d, gt_30d).
# TYPE abusegw_cases_open_by_age gauge
abusegw_cases_open_by_age{age="1d_3d"} 1
abusegw_cases_open_by_age{age="3d_7d"} 1
abusegw_cases_open_by_age{age="7d_30d"} 2
abusegw_cases_open_by_age{age="gt_30d"} 1
abusegw_cases_open_by_age{age="lt_1d"} 2
# HELP abusegw_cases_resolved Cases resolved or closed now, by classification, connector and whether the closure reason counts as acted on.
# TYPE abusegw_cases_resolved gauge
abusegw_cases_resolved{acted_on="false",classification="open-dns",connector="rt"} 1
abusegw_cases_resolved{acted_on="true",classification="botnet",connector="jira"} 2
abusegw_cases_resolved{acted_on="true",classification="open-dns",connector="rt"} 2
# HELP abusegw_case_time_to_resolve_seconds Time from receipt to resolution of the cases resolved or closed now, by classification and connector.
# TYPE abusegw_case_time_to_resolve_seconds histogram
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="3600"} 0
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="14400"} 0
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="43200"} 0
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="86400"} 0
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="172800"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="259200"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="604800"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="1.2096e+06"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="2.592e+06"} 2
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="7.776e+06"} 2
abusegw_case_time_to_resolve_seconds_bucket{classification="botnet",connector="jira",le="+Inf"} 2
abusegw_case_time_to_resolve_seconds_sum{classification="botnet",connector="jira"} 2.7504e+06
abusegw_case_time_to_resolve_seconds_count{classification="botnet",connector="jira"} 2
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="3600"} 0
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="14400"} 0
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="43200"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="86400"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="172800"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="259200"} 1
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="604800"} 3
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="1.2096e+06"} 3
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="2.592e+06"} 3
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="7.776e+06"} 3
abusegw_case_time_to_resolve_seconds_bucket{classification="open-dns",connector="rt",le="+Inf"} 3
abusegw_case_time_to_resolve_seconds_sum{classification="open-dns",connector="rt"} 727200
abusegw_case_time_to_resolve_seconds_count{classification="open-dns",connector="rt"} 3
# HELP abusegw_metrics_db_up 1 if the last reading of the database for these metrics succeeded, else 0.
# TYPE abusegw_metrics_db_up gauge
abusegw_metrics_db_up 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "abusegw_cases", "abusegw_cases_open_by_age",
			"abusegw_cases_resolved", "abusegw_case_time_to_resolve_seconds", "abusegw_metrics_db_up"); err != nil {
			t.Error(err)
		}
		if n, err := testutil.GatherAndCount(reg, "abusegw_outbox_operations", "abusegw_events", "abusegw_cases_opened"); err != nil || n == 0 {
			t.Errorf("outbox, events, opened series: %d, %v", n, err)
		}
		// A broken database: up 0, nothing stale.
		now = now.Add(time.Hour)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP abusegw_metrics_db_up 1 if the last reading of the database for these metrics succeeded, else 0.
# TYPE abusegw_metrics_db_up gauge
abusegw_metrics_db_up 0
`)); err != nil {
			t.Error(err)
		}
	})
}
