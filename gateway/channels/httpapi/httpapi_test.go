package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/gateway/api"
	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/channels/httpapi"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

func init() { gin.SetMode(gin.ReleaseMode) }

const testToken = "s3cret-token"

var (
	ingestTestdata = filepath.Join("..", "..", "ingest", "testdata")
	autoTestdata   = filepath.Join("..", "..", "..", "normalizer", "auto", "testdata")
)

// harness is one API over a fresh database and runtime.
type harness struct {
	t       testing.TB
	cfg     *config.Config
	db      *store.DB
	rt      *app.Runtime
	api     *httpapi.API
	handler http.Handler
}

// setup builds a runtime from a configuration (a contacts file, the data
// directory in a temporary directory) and an API with opts over it;
// opts.Pipeline and opts.DB are filled in.
func setup(t testing.TB, d store.Dialect, opts httpapi.Options) *harness {
	t.Helper()
	return setupWith(t, d, opts, "")
}

// setupWith is setup with more configuration (YAML appended to the file).
func setupWith(t testing.TB, d store.Dialect, opts httpapi.Options, extra string) *harness {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(ingestTestdata, "customers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "customers.csv"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "data_dir: " + filepath.Join(dir, "data") + "\ncontacts:\n  - type: file\n    path: " + filepath.Join(dir, "customers.csv") + "\n" + extra
	cfg, err := config.Parse([]byte(yaml), "test.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = dir
	db := storetest.Open(t, d)
	rt, err := app.Build(context.Background(), cfg, db, app.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	opts.Pipeline, opts.DB = rt.Pipeline, db
	if opts.ReportType == nil {
		opts.ReportType = func(s string) (string, bool) {
			r, ok := rt.Schema.Lookup(s)
			if !ok {
				return "", false
			}
			return r.FileName(), true
		}
	}
	a, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	router, err := api.NewRouter(api.Deps{Ready: db, Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
		Mount: []func(gin.IRouter){a.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, cfg: cfg, db: db, rt: rt, api: a, handler: router}
}

func withToken(o httpapi.Options) httpapi.Options {
	o.Tokens = append(o.Tokens, config.Token{Name: "test", Token: testToken})
	return o
}

type response struct {
	code   int
	body   []byte
	header http.Header
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", r.code, err, r.body)
	}
}

// do sends one request with the test token (auth "" sends none).
func (h *harness) do(method, target, auth, contentType string, body io.Reader) response {
	h.t.Helper()
	req := httptest.NewRequest(method, target, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return response{rec.Code, rec.Body.Bytes(), rec.Header()}
}

func (h *harness) post(target, contentType string, body []byte) response {
	h.t.Helper()
	return h.do(http.MethodPost, target, "Bearer "+testToken, contentType, bytes.NewReader(body))
}

func (h *harness) report(id int64) httpapi.Report {
	h.t.Helper()
	resp := h.do(http.MethodGet, fmt.Sprintf("/api/v1/reports/%d", id), "Bearer "+testToken, "", nil)
	if resp.code != http.StatusOK {
		h.t.Fatalf("GET report %d: %d %s", id, resp.code, resp.body)
	}
	var r httpapi.Report
	resp.json(h.t, &r)
	return r
}

func (h *harness) countReports() int {
	h.t.Helper()
	var n int
	if err := h.db.GetContext(context.Background(), &n, `SELECT count(*) FROM reports`); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// processPending stands in for the background workers and the periodic
// pending-report run.
func (h *harness) processPending() {
	h.t.Helper()
	if _, err := h.rt.Pipeline.ProcessPending(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuth(t *testing.T) { // not parallel: t.Setenv
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ABUSEGW_TEST_HTTPAPI_TOKEN", "from-the-env")
	tokens := []config.Token{
		{Name: "inline", Token: testToken},
		{Name: "env", TokenEnv: "ABUSEGW_TEST_HTTPAPI_TOKEN"},
		{Name: "file", TokenFile: tokenFile},
	}
	h := setup(t, store.SQLite, httpapi.Options{Tokens: tokens})
	off := setup(t, store.SQLite, httpapi.Options{})

	for _, tc := range []struct {
		name   string
		h      *harness
		method string
		path   string
		auth   string
		code   int
		msg    string
	}{
		{"no header", h, "POST", "/api/v1/reports", "", 401, "missing bearer token"},
		{"wrong token", h, "POST", "/api/v1/reports", "Bearer nope", 401, "invalid bearer token"},
		{"token prefix", h, "POST", "/api/v1/reports", "Bearer " + testToken[:4], 401, "invalid bearer token"},
		{"basic auth", h, "POST", "/api/v1/reports", "Basic " + testToken, 401, "missing bearer token"},
		{"empty bearer", h, "POST", "/api/v1/events", "Bearer ", 401, "missing bearer token"},
		{"wrong token, status", h, "GET", "/api/v1/reports/1", "Bearer nope", 401, "invalid"},
		{"inline token", h, "POST", "/api/v1/reports?filename=a.txt", "Bearer " + testToken, 202, ""},
		{"token from the environment", h, "POST", "/api/v1/reports?filename=b.txt", "Bearer from-the-env", 202, ""},
		{"token from a file", h, "POST", "/api/v1/reports?filename=c.txt", "bearer from-a-file", 202, ""},
		{"no tokens configured", off, "POST", "/api/v1/reports", "Bearer " + testToken, 403, "disabled"},
		{"no tokens configured, events", off, "POST", "/api/v1/events", "Bearer anything", 403, "disabled"},
		{"openapi needs no token", off, "GET", "/api/v1/openapi.json", "", 200, `"openapi"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.h.do(tc.method, tc.path, tc.auth, "text/plain", strings.NewReader("report body of "+tc.name))
			if resp.code != tc.code || !strings.Contains(string(resp.body), tc.msg) {
				t.Fatalf("%d %s, want %d with %q", resp.code, resp.body, tc.code, tc.msg)
			}
			if tc.code == 401 && !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: %v", resp.header)
			}
			if tc.code >= 400 && tc.code != 404 {
				var e api.Error
				resp.json(t, &e)
				if e.Error == "" {
					t.Errorf("error body without error: %s", resp.body)
				}
			}
		})
	}
	if n := h.countReports(); n != 3 {
		t.Errorf("%d reports stored, want the 3 accepted ones", n)
	}
}

func TestNewRefusesUnresolvableTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tok  config.Token
		msg  string
	}{
		{"unset variable", config.Token{Name: "x", TokenEnv: "ABUSEGW_TEST_HTTPAPI_UNSET_VARIABLE"}, "ABUSEGW_TEST_HTTPAPI_UNSET_VARIABLE"},
		{"missing file", config.Token{Name: "y", TokenFile: filepath.Join(t.TempDir(), "none")}, "http.tokens[0] (y)"},
		{"nothing given", config.Token{Name: "z"}, "no token given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.Open(t, store.SQLite)
			_, err := httpapi.New(httpapi.Options{Pipeline: nopPipeline{}, DB: db, Tokens: []config.Token{tc.tok}})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestPostReport(t *testing.T) {
	t.Parallel()
	scanDNS := readFile(t, filepath.Join(ingestTestdata, "scan_dns.csv"))
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := setup(t, d, withToken(httpapi.Options{}))
			resp := h.post("/api/v1/reports?filename=2018-04-14-scan_dns.csv", "text/csv", scanDNS)
			if resp.code != http.StatusAccepted {
				t.Fatalf("POST: %d %s", resp.code, resp.body)
			}
			var acc httpapi.Accepted
			resp.json(t, &acc)
			if acc.ID == 0 || acc.Duplicate || acc.Status != "received" || acc.Size != int64(len(scanDNS)) ||
				acc.URL != fmt.Sprintf("/api/v1/reports/%d", acc.ID) || len(acc.SHA256) != 64 {
				t.Fatalf("accepted %+v", acc)
			}
			if r := h.report(acc.ID); r.Status != "received" || r.Channel != "http" || r.Name != "2018-04-14-scan_dns.csv" || r.ContentType != "text/csv" {
				t.Errorf("before processing: %+v", r)
			}

			h.processPending()
			r := h.report(acc.ID)
			if r.Status != "processed" || r.Format != "shadowserver" || r.Detail != "scan_dns" || r.Events == 0 ||
				r.Rejected != 0 || r.ProcessedAt == nil || r.SHA256 != acc.SHA256 || r.Size != acc.Size {
				t.Errorf("after processing: %+v", r)
			}

			// The same bytes again, under another name.
			resp = h.post("/api/v1/reports?filename=copy.csv", "text/csv", scanDNS)
			var dup httpapi.Accepted
			resp.json(t, &dup)
			if resp.code != http.StatusOK || !dup.Duplicate || dup.ID != acc.ID || dup.Status != "processed" {
				t.Errorf("duplicate: %d %+v", resp.code, dup)
			}
			if n := h.countReports(); n != 1 {
				t.Errorf("%d reports, want 1", n)
			}
		})
	}
}

func TestPostReportBadInput(t *testing.T) {
	t.Parallel()
	h := setup(t, store.SQLite, withToken(httpapi.Options{MaxBodyBytes: 1000}))
	big := bytes.Repeat([]byte("x,y\n"), 300)
	for _, tc := range []struct {
		name string
		path string
		ct   string
		body []byte
		code int
		msg  string
	}{
		{"empty body", "/api/v1/reports", "text/csv", nil, 400, "empty"},
		{"oversize body", "/api/v1/reports", "text/csv", big, 413, "limit of 1000 bytes"},
		{"oversize events", "/api/v1/events", "application/json", big, 413, "limit of 1000 bytes"},
		{"unknown type", "/api/v1/reports?type=no_such_report", "text/csv", []byte("a,b\n"), 400, `unknown Shadowserver report type "no_such_report"`},
		{"multipart without boundary", "/api/v1/reports", "multipart/form-data", []byte("x"), 400, "boundary"},
		{"malformed multipart", "/api/v1/reports", "multipart/form-data; boundary=XYZ", []byte("not multipart at all"), 400, "malformed multipart"},
		{"truncated multipart", "/api/v1/reports", "multipart/form-data; boundary=XYZ",
			[]byte("--XYZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.csv\"\r\n\r\na,b\n1,2\n"), 400, "a.csv"},
		{"multipart without a file", "/api/v1/reports", "multipart/form-data; boundary=XYZ",
			[]byte("--XYZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XYZ--\r\n"), 400, "no file part"},
		{"bad report id", "", "", nil, 400, "not a positive number"},
		{"unknown report", "", "", nil, 404, "no such report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp response
			switch tc.name {
			case "bad report id":
				resp = h.do("GET", "/api/v1/reports/abc", "Bearer "+testToken, "", nil)
			case "unknown report":
				resp = h.do("GET", "/api/v1/reports/99", "Bearer "+testToken, "", nil)
			default:
				resp = h.post(tc.path, tc.ct, tc.body)
			}
			var e api.Error
			resp.json(t, &e)
			if resp.code != tc.code || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("%d %s, want %d with %q", resp.code, resp.body, tc.code, tc.msg)
			}
		})
	}
	if n := h.countReports(); n != 0 {
		t.Errorf("%d reports stored from bad input, want 0", n)
	}
}

// TestPostReportOverIngestLimit: a report within the HTTP body limit but over
// ingest.max_report is the client's too large report, not a server error.
func TestPostReportOverIngestLimit(t *testing.T) {
	t.Parallel()
	h := setupWith(t, store.SQLite, withToken(httpapi.Options{}), "ingest:\n  max_report: 100\n")
	resp := h.post("/api/v1/reports", "text/csv", bytes.Repeat([]byte("x,y\n"), 100))
	var e api.Error
	resp.json(t, &e)
	if resp.code != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error, "ingest.max_report") {
		t.Fatalf("%d %s, want 413 naming ingest.max_report", resp.code, resp.body)
	}
	if n := h.countReports(); n != 0 {
		t.Errorf("%d reports stored, want 0", n)
	}
}

func TestMultipart(t *testing.T) {
	t.Parallel()
	h := setup(t, store.SQLite, withToken(httpapi.Options{}))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("comment", "a form field, not a report")
	for _, f := range []struct{ name, src string }{
		{"2018-04-14-scan_dns.csv", filepath.Join(ingestTestdata, "scan_dns.csv")},
		{"scan_ntp.csv", filepath.Join(ingestTestdata, "scan_ntp.csv")},
	} {
		w, err := mw.CreateFormFile("file", f.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(readFile(t, f.src))
	}
	_ = mw.Close()
	raw := body.Bytes()

	resp := h.post("/api/v1/reports", mw.FormDataContentType(), raw)
	if resp.code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", resp.code, resp.body)
	}
	var up httpapi.Uploaded
	resp.json(t, &up)
	if len(up.Reports) != 2 || up.Reports[0].Name != "2018-04-14-scan_dns.csv" || up.Reports[1].Name != "scan_ntp.csv" ||
		up.Reports[0].ID == up.Reports[1].ID {
		t.Fatalf("uploaded %+v", up)
	}
	h.processPending()
	for i, want := range []string{"scan_dns", "scan_ntp"} {
		if r := h.report(up.Reports[i].ID); r.Status != "processed" || r.Detail != want || r.Events == 0 {
			t.Errorf("part %d: %+v", i, r)
		}
	}
	resp = h.post("/api/v1/reports", mw.FormDataContentType(), raw)
	resp.json(t, &up)
	if resp.code != http.StatusOK || len(up.Reports) != 2 || !up.Reports[0].Duplicate || !up.Reports[1].Duplicate {
		t.Errorf("the same upload again: %d %s", resp.code, resp.body)
	}
}

// TestTypeHint posts a Shadowserver report whose header fits two report
// types equally well (scan_http and scan_cwmp) under a name that does not
// tell its type: only ?type= makes it parse.
func TestTypeHint(t *testing.T) {
	t.Parallel()
	scanHTTP := readFile(t, filepath.Join(autoTestdata, "shadowserver", "csv", "scan_http.csv"))
	for _, tc := range []struct {
		name     string
		query    string
		status   string
		detail   string
		stored   string
		multipar bool
	}{
		{"no hint", "?filename=upload.csv", "unrecognized", "", "upload.csv", false},
		{"type and filename", "?type=scan_http&filename=upload.csv", "processed", "scan_http", "scan_http-upload.csv", false},
		{"type only", "?type=scan_http", "processed", "scan_http", "scan_http.csv", false},
		{"type by feed name", "?type=Accessible-HTTP", "processed", "scan_http", "scan_http.csv", false},
		{"type overrides a misleading name", "?type=scan_http&filename=2026-01-01-scan_cwmp.csv", "processed", "scan_http", "scan_http-2026_01_01_scan_cwmp.csv", false},
		{"type with a multipart upload", "?type=scan_http", "processed", "scan_http", "scan_http-upload.csv", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := setup(t, store.SQLite, withToken(httpapi.Options{}))
			var resp response
			if tc.multipar {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				w, _ := mw.CreateFormFile("file", "upload.csv")
				_, _ = w.Write(scanHTTP)
				_ = mw.Close()
				resp = h.post("/api/v1/reports"+tc.query, mw.FormDataContentType(), body.Bytes())
			} else {
				resp = h.post("/api/v1/reports"+tc.query, "text/csv", scanHTTP)
			}
			if resp.code != http.StatusAccepted {
				t.Fatalf("POST: %d %s", resp.code, resp.body)
			}
			var id int64
			if tc.multipar {
				var up httpapi.Uploaded
				resp.json(t, &up)
				id = up.Reports[0].ID
			} else {
				var acc httpapi.Accepted
				resp.json(t, &acc)
				id = acc.ID
			}
			h.processPending()
			r := h.report(id)
			if r.Status != tc.status || r.Detail != tc.detail || r.Name != tc.stored {
				t.Errorf("report %+v, want status %s, detail %q, name %q", r, tc.status, tc.detail, tc.stored)
			}
			if tc.status == "unrecognized" && !strings.Contains(r.Error, "name the type") {
				t.Errorf("unrecognized without a hint to name the type: %q", r.Error)
			}
		})
	}
}

// events builds n IntelMQ events in the customers' networks.
func events(n int, array bool, salt string) []byte {
	var b bytes.Buffer
	if array {
		b.WriteString("[\n")
	}
	for i := range n {
		if array && i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"__type": "Event", "feed.name": "test-feed%s", "source.ip": "198.51.100.%d", "time.source": "2026-03-01T10:%02d:%02d+00:00", "classification.taxonomy": "vulnerable", "classification.type": "vulnerable-system", "classification.identifier": "open-thing"}`,
			salt, i%250+1, i/60%60, i%60)
		if !array {
			b.WriteByte('\n')
		}
	}
	if array {
		b.WriteString("\n]\n")
	}
	return b.Bytes()
}

func TestEvents(t *testing.T) {
	t.Parallel()
	fixture := readFile(t, filepath.Join(autoTestdata, "intelmq", "events", "events.txt"))
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := setup(t, d, withToken(httpapi.Options{}))
			for _, tc := range []struct {
				name   string
				body   []byte
				code   int
				status string
				events int
				dup    bool
			}{
				{"JSON lines", events(10, false, ""), 200, "processed", 10, false},
				{"array", events(7, true, "-array"), 200, "processed", 7, false},
				{"one object", []byte(`{"source.ip": "198.51.100.9", "classification.type": "scanner"}`), 200, "processed", 1, false},
				{"IntelMQ's test events", fixture, 200, "processed", 25, false},
				{"JSON lines again", events(10, false, ""), 200, "processed", 10, true},
				{"objects without a usable field", []byte("{\"source.ip\": \"not an address\"}\n"), 422, "failed", 0, false},
			} {
				resp := h.post("/api/v1/events", "application/x-ndjson", tc.body)
				var res httpapi.EventsResult
				resp.json(t, &res)
				if resp.code != tc.code || res.Status != tc.status || res.Events != tc.events || res.Duplicate != tc.dup ||
					res.ID == 0 || (tc.status == "processed" && res.Format != "intelmq") {
					t.Errorf("%s: %d %s", tc.name, resp.code, resp.body)
				}
				if r := h.report(res.ID); r.Status != tc.status || r.Events != tc.events {
					t.Errorf("%s: report %+v", tc.name, r)
				}
			}
			before := h.countReports()
			for _, tc := range []struct {
				name string
				body string
				msg  string
			}{
				{"empty", "", "empty"},
				{"white space", " \n ", "empty"},
				{"not JSON", "source.ip=1.2.3.4\n", "JSON objects"},
				{"broken line", "{\"source.ip\": \"198.51.100.1\"}\n{\"source.ip\": \n", "event 2: malformed JSON"},
				{"broken array", "[{\"source.ip\": \"198.51.100.1\"}, {]", "event 2 of the array"},
				{"unterminated array", "[{\"source.ip\": \"198.51.100.1\"}", "end of the array"},
				{"array of numbers", "[1, 2]", "event 1 of the array: not a JSON object"},
				{"object then a number", "{}\n3\n", "event 2"},
				{"garbage after the array", "[{}] x", "more after the array"},
			} {
				resp := h.post("/api/v1/events", "application/json", []byte(tc.body))
				var e api.Error
				resp.json(t, &e)
				if resp.code != http.StatusBadRequest || !strings.Contains(e.Error, tc.msg) {
					t.Errorf("%s: %d %s, want 400 with %q", tc.name, resp.code, resp.body, tc.msg)
				}
			}
			if n := h.countReports(); n != before {
				t.Errorf("malformed bodies stored %d reports", n-before)
			}
		})
	}
}

// TestWorkers checks that the background workers process what the API
// stores, without the pending-report run.
func TestWorkers(t *testing.T) {
	t.Parallel()
	done := make(chan int64, 4)
	h := setup(t, store.SQLite, withToken(httpapi.Options{Workers: 2, Processed: func(id int64, err error) {
		if err != nil {
			t.Errorf("processing %d: %v", id, err)
		}
		done <- id
	}}))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { h.api.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	ids := map[int64]bool{}
	for _, name := range []string{"scan_ntp.csv", "scan_smb.csv"} {
		resp := h.post("/api/v1/reports?filename="+name, "text/csv", readFile(t, filepath.Join(ingestTestdata, name)))
		var acc httpapi.Accepted
		resp.json(t, &acc)
		ids[acc.ID] = true
	}
	deadline := time.After(30 * time.Second) // a hang guard, not a wait
	for range ids {
		select {
		case id := <-done:
			if !ids[id] {
				t.Errorf("processed unknown report %d", id)
			}
		case <-deadline:
			t.Fatal("the workers did not process the reports")
		}
	}
	for id := range ids {
		if r := h.report(id); r.Status != "processed" || r.Events == 0 {
			t.Errorf("report %+v", r)
		}
	}
}

// nopPipeline stores nothing.
type nopPipeline struct{ httpapi.Pipeline }
