package shadowserverapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/channels/shadowserverapi"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/ingest/ingesttest"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

const (
	testKey    = "test-key-123"
	testSecret = "test-secret-456"
)

// fakeAPI behaves as Shadowserver's documented API: POST JSON with apikey,
// HMAC2 = hex HMAC-SHA256(body, secret), reports/list by date range with
// limit and page, reports/download by id; errors as {"error": "..."}.
type fakeAPI struct {
	t       *testing.T
	reports []shadowserverapi.Report
	files   map[string][]byte // id → CSV

	mu    sync.Mutex
	fail  map[string][]int // method or "download:ID" → statuses to answer first, in order
	calls []string         // method + request body
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api2/")
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.calls = append(a.calls, method+" "+string(body))
	a.mu.Unlock()
	jsonErr := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	if r.Method != http.MethodPost {
		jsonErr(http.StatusMethodNotAllowed, "POST only")
		return
	}
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write(body)
	if !hmac.Equal([]byte(r.Header.Get("HMAC2")), []byte(hex.EncodeToString(m.Sum(nil)))) {
		jsonErr(http.StatusUnauthorized, "Invalid HMAC2")
		return
	}
	var req struct {
		APIKey string   `json:"apikey"`
		Date   string   `json:"date"`
		Limit  int      `json:"limit"`
		Page   int      `json:"page"`
		ID     string   `json:"id"`
		Lists  []string `json:"reports"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		jsonErr(http.StatusBadRequest, "invalid JSON")
		return
	}
	if req.APIKey != testKey {
		jsonErr(http.StatusUnauthorized, "Invalid apikey")
		return
	}
	key := method
	if method == "reports/download" {
		key = "download:" + req.ID
	}
	a.mu.Lock()
	if q := a.fail[key]; len(q) > 0 {
		status := q[0]
		a.fail[key] = q[1:]
		a.mu.Unlock()
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		jsonErr(status, "temporarily unavailable")
		return
	}
	a.mu.Unlock()
	switch method {
	case "reports/list":
		from, to, ok := strings.Cut(req.Date, ":")
		if !ok {
			to = from
		}
		limit, page := req.Limit, req.Page
		if limit <= 0 {
			limit = 1000
		}
		if page <= 0 {
			page = 1
		}
		var out []shadowserverapi.Report
		for _, rep := range a.reports {
			if rep.Timestamp >= from && rep.Timestamp <= to {
				out = append(out, rep)
			}
		}
		start := min((page-1)*limit, len(out))
		out = out[start:min(start+limit, len(out))]
		w.Header().Set("Content-Type", "application/json")
		if out == nil {
			out = []shadowserverapi.Report{}
		}
		json.NewEncoder(w).Encode(out)
	case "reports/download":
		b, ok := a.files[req.ID]
		if !ok {
			jsonErr(http.StatusOK, "report not found") // as the API does: 200 with an error object
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Write(b)
	default:
		jsonErr(http.StatusNotFound, "unknown method")
	}
}

func (a *fakeAPI) count(prefix string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (a *fakeAPI) failNext(key string, statuses ...int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail[key] = append(a.fail[key], statuses...)
}

func fixtureCSV(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

// newAPI serves reports of three days, one outside a 3-day first run.
func newAPI(t *testing.T) (*fakeAPI, *httptest.Server) {
	a := &fakeAPI{t: t, files: map[string][]byte{}, fail: map[string][]int{}}
	add := func(id, day, typ string) {
		a.reports = append(a.reports, shadowserverapi.Report{
			ID: id, Timestamp: day, Report: "example-isp", Type: typ,
			File: fmt.Sprintf("%s-%s-example_isp-asn.csv", day, typ), URL: "https://dl.example/" + id,
		})
		a.files[id] = fixtureCSV(t, typ+".csv")
	}
	add("r-old", "2026-02-25", "scan_ntp")
	add("r1", "2026-03-02", "scan_ntp")
	add("r2", "2026-03-02", "scan_dns")
	add("r3", "2026-03-02", "scan_rdp")
	add("r4", "2026-03-04", "event4_sinkhole")
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

// newPipeline wires a pipeline in which one customer owns every address.
func newPipeline(t *testing.T, db *store.DB, clock func() time.Time) *ingest.Pipeline {
	t.Helper()
	return ingesttest.NewPipeline(t, db, clock)
}

// testClock is the injected clock; sleeps only record.
type testClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *testClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	return nil
}
func (c *testClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

type bundle struct {
	api   *fakeAPI
	db    *store.DB
	clock *testClock
	f     *shadowserverapi.Fetcher
}

func setup(t *testing.T, db *store.DB, mod func(*shadowserverapi.Config)) *bundle {
	t.Helper()
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "key"), filepath.Join(dir, "secret")
	for f, v := range map[string]string{keyFile: testKey, secretFile: testSecret + "\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	api, srv := newAPI(t)
	clock := &testClock{t: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)}
	cfg := shadowserverapi.Config{Enabled: true, URL: srv.URL + "/api2/", KeyFile: keyFile, SecretFile: secretFile, PageSize: 2}
	if mod != nil {
		mod(&cfg)
	}
	f, err := shadowserverapi.New(cfg, shadowserverapi.Options{
		DB: db, Pipeline: newPipeline(t, db, clock.Now), HTTPClient: srv.Client(), Now: clock.Now, Sleep: clock.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{api: api, db: db, clock: clock, f: f}
}

func (b *bundle) stored(t *testing.T) []string {
	t.Helper()
	var names []string
	if err := b.db.SelectContext(context.Background(), &names, `SELECT source_name FROM reports WHERE channel = 'shadowserver-api' ORDER BY source_name`); err != nil {
		t.Fatal(err)
	}
	return names
}

func (b *bundle) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := b.db.GetContext(context.Background(), &n, "SELECT count(*) FROM "+table); err != nil {
		t.Fatal(err)
	}
	return n
}

var firstRun = []string{
	"2026-03-02-scan_dns-example_isp-asn.csv", "2026-03-02-scan_ntp-example_isp-asn.csv",
	"2026-03-02-scan_rdp-example_isp-asn.csv", "2026-03-04-event4_sinkhole-example_isp-asn.csv",
}

func TestFetch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := setup(t, db, nil)
		ctx := context.Background()
		r, err := b.f.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.stored(t); !slices.Equal(got, firstRun) {
			t.Fatalf("stored %v, want %v (the last 3 days)", got, firstRun)
		}
		if r.Fetched != 4 || r.Listed != 4 || r.Skipped != 0 || r.Events == 0 {
			t.Errorf("first run: %+v", r)
		}
		// Paging by date: one list per day from 03-01 to 03-04; 03-02 has
		// three reports, so with page_size 2 it takes two pages.
		var lists []string
		for _, c := range b.api.calls {
			if strings.HasPrefix(c, "reports/list ") {
				var req struct {
					Date string `json:"date"`
					Page int    `json:"page"`
				}
				json.Unmarshal([]byte(strings.TrimPrefix(c, "reports/list ")), &req)
				lists = append(lists, fmt.Sprintf("%s#%d", req.Date, req.Page))
			}
		}
		want := []string{"2026-03-01:2026-03-01#1", "2026-03-02:2026-03-02#1", "2026-03-02:2026-03-02#2", "2026-03-03:2026-03-03#1", "2026-03-04:2026-03-04#1"}
		if !slices.Equal(lists, want) {
			t.Errorf("list calls %v, want %v", lists, want)
		}
		var formats []string
		db.SelectContext(ctx, &formats, `SELECT DISTINCT format FROM reports`)
		if !slices.Equal(formats, []string{"shadowserver"}) {
			t.Errorf("formats %v, want shadowserver", formats)
		}
		events := b.count(t, "events")

		// Again the same day, from the day before the last run: the
		// 03-04 report is known; nothing is downloaded.
		downloads := b.api.count("reports/download")
		r, err = b.f.RunOnce(ctx)
		if err != nil || r.Fetched != 0 || r.Skipped != 1 {
			t.Fatalf("second run: %+v, %v", r, err)
		}
		if b.api.count("reports/download") != downloads || b.count(t, "events") != events {
			t.Error("the second run downloaded or ingested again")
		}

		// Two days later: from the last run less a day (03-03), a new report.
		b.api.reports = append(b.api.reports, shadowserverapi.Report{ID: "r5", Timestamp: "2026-03-06", Type: "scan_smb", File: "2026-03-06-scan_smb-example_isp-asn.csv"})
		b.api.files["r5"] = fixtureCSV(t, "scan_smb.csv")
		b.clock.Set(time.Date(2026, 3, 6, 1, 0, 0, 0, time.UTC))
		calls := len(b.api.calls)
		r, err = b.f.RunOnce(ctx)
		if err != nil || r.Fetched != 1 || r.Skipped != 1 {
			t.Fatalf("third run: %+v, %v", r, err)
		}
		if first := b.api.calls[calls]; !strings.Contains(first, `"date":"2026-03-03:2026-03-03"`) {
			t.Errorf("third run starts with %s, want 2026-03-03", first)
		}
		if len(b.clock.Sleeps()) != 0 {
			t.Errorf("slept %v without errors", b.clock.Sleeps())
		}
	})
}

func TestFetchErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("bad signature", func(t *testing.T) {
		b := setup(t, storetest.Open(t, store.SQLite), func(c *shadowserverapi.Config) {
			f := filepath.Join(t.TempDir(), "wrong")
			os.WriteFile(f, []byte("wrong-secret"), 0o600)
			c.SecretFile = f
		})
		_, err := b.f.RunOnce(ctx)
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Invalid HMAC2") {
			t.Fatalf("RunOnce: %v, want a 401", err)
		}
		if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testKey) {
			t.Fatalf("the error shows a secret: %v", err)
		}
		if b.api.count("reports/list") != 1 || len(b.clock.Sleeps()) != 0 {
			t.Error("a 401 was retried")
		}
		if err := b.f.Check(ctx); err == nil {
			t.Error("Check passed with a wrong secret")
		}
	})
	t.Run("5xx then success", func(t *testing.T) {
		b := setup(t, storetest.Open(t, store.SQLite), nil)
		b.api.failNext("reports/list", 502)
		b.api.failNext("download:r2", 503, 500)
		b.api.failNext("download:r4", 429)
		r, err := b.f.RunOnce(ctx)
		if err != nil || r.Fetched != 4 {
			t.Fatalf("RunOnce: %+v, %v", r, err)
		}
		want := []time.Duration{time.Second, time.Second, 2 * time.Second, 7 * time.Second}
		if got := b.clock.Sleeps(); !slices.Equal(got, want) {
			t.Errorf("slept %v, want %v (backoff, Retry-After)", got, want)
		}
		if err := b.f.Check(ctx); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
	t.Run("failed download is not marked fetched", func(t *testing.T) {
		b := setup(t, storetest.Open(t, store.SQLite), func(c *shadowserverapi.Config) { c.Retries = 2 })
		b.api.failNext("download:r2", 500, 500, 500)
		r, err := b.f.RunOnce(ctx)
		if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || r.Failed != 1 || r.Fetched != 3 {
			t.Fatalf("RunOnce: %+v, %v; want r2 failed after 3 attempts, the rest fetched", r, err)
		}
		if got := b.clock.Sleeps(); !slices.Equal(got, []time.Duration{time.Second, 2 * time.Second}) {
			t.Errorf("slept %v", got)
		}
		// The next run gets it, and the others are not downloaded again.
		downloads := b.api.count("reports/download")
		r, err = b.f.RunOnce(ctx)
		if err != nil || r.Fetched != 1 || r.Skipped != 3 {
			t.Fatalf("next run: %+v, %v", r, err)
		}
		if b.api.count("reports/download") != downloads+1 || len(b.stored(t)) != 4 {
			t.Error("the next run did not fetch exactly the failed report")
		}
	})
	t.Run("report type filter", func(t *testing.T) {
		b := setup(t, storetest.Open(t, store.SQLite), func(c *shadowserverapi.Config) { c.Reports = []string{"scan_ntp", "event4_sinkhole"} })
		if _, err := b.f.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		want := []string{"2026-03-02-scan_ntp-example_isp-asn.csv", "2026-03-04-event4_sinkhole-example_isp-asn.csv"}
		if got := b.stored(t); !slices.Equal(got, want) {
			t.Errorf("stored %v, want %v", got, want)
		}
	})
	t.Run("error object from download", func(t *testing.T) {
		b := setup(t, storetest.Open(t, store.SQLite), nil)
		delete(b.api.files, "r3")
		r, err := b.f.RunOnce(ctx)
		if err == nil || !strings.Contains(err.Error(), "report not found") || r.Fetched != 3 {
			t.Fatalf("RunOnce: %+v, %v", r, err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := shadowserverapi.Config{Enabled: true, KeyEnv: "K", SecretEnv: "S"}
	for _, tc := range []struct {
		name string
		mod  func(*shadowserverapi.Config)
		want string
	}{
		{"minimal", func(*shadowserverapi.Config) {}, ""},
		{"disabled needs nothing", func(c *shadowserverapi.Config) { *c = shadowserverapi.Config{} }, ""},
		{"no key", func(c *shadowserverapi.Config) { c.KeyEnv = "" }, "key_env or key_file"},
		{"two secrets", func(c *shadowserverapi.Config) { c.SecretFile = "/s" }, "one way only"},
		{"bad schedule", func(c *shadowserverapi.Config) { c.Schedule = "every hour" }, "schedule"},
		{"bad url", func(c *shadowserverapi.Config) { c.URL = "ftp://x" }, "url"},
		{"negative days", func(c *shadowserverapi.Config) { c.Days = -1 }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	d := ok.WithDefaults()
	if d.URL != shadowserverapi.DefaultURL || d.Schedule != "0 * * * *" || d.Days != 3 {
		t.Errorf("defaults: %+v", d)
	}
}
