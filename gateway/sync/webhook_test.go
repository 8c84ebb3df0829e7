package sync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

type hookEnv struct {
	db     *store.DB
	clk    *clock
	recv   *gwsync.Receiver
	engine *gin.Engine
}

func newHookEnv(t testing.TB, db *store.DB, conns map[string]connectors.Connector) *hookEnv {
	t.Helper()
	clk := newClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	a := gwsync.NewApplier(db, clk.Now, nil)
	recv, err := gwsync.NewReceiver(db, conns, a, clk.Now, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	recv.Mount(e)
	return &hookEnv{db: db, clk: clk, recv: recv, engine: e}
}

// post sends a webhook; sig "" sends no signature header.
func (h *hookEnv) post(t testing.TB, path string, body []byte, sig, delivery string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(rt.SignatureHeader, sig)
	}
	if delivery != "" {
		req.Header.Set(rt.DeliveryHeader, delivery)
	}
	w := httptest.NewRecorder()
	h.engine.ServeHTTP(w, req)
	return w
}

func jsonField(t testing.TB, w *httptest.ResponseRecorder, key string) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("answer %d is %q, not JSON: %s", w.Code, ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", w.Code, err, w.Body)
	}
	s, _ := m[key].(string)
	return s
}

// TestWebhookRefused: every request abusegw must refuse is refused with the
// right code and a JSON error, and records and changes nothing.
func TestWebhookRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv, conn := newRT(t, nil)
		_, wrongSecret := newRT(t, func(c *rt.Config) { c.Name = "rt-other"; c.WebhookSecret = "another-secret" })
		h := newHookEnv(t, db, map[string]connectors.Connector{"rt": conn, "rt-other": wrongSecret})
		id, tid := createTicket(t, db, conn, "ip:198.51.100.1", t0)
		n, _ := strconv.Atoi(tid)
		if err := srv.SetStatus(n, "resolved"); err != nil {
			t.Fatal(err)
		}
		before := readCase(t, db, id)

		good := scripBody(tid, "new", "resolved", 40, time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC), "ip:198.51.100.1")
		big := append(bytes.Clone(good[:len(good)-1]), []byte(`,"pad":"`+strings.Repeat("x", 70<<10)+`"}`)...)
		huge := append(bytes.Clone(good[:len(good)-1]), []byte(`,"pad":"`+strings.Repeat("x", 2<<20)+`"}`)...)
		malformed := []byte(`{"ticket":` + tid + `,"status":`)
		noTicket := []byte(`{"status":"resolved","transaction":41}`)
		for _, tc := range []struct {
			name       string
			path       string
			body       []byte
			sig        string
			wantCode   int
			wantErrSub string
		}{
			{"forged signature", "/webhooks/rt", good, sign(testSecret, []byte(`{"ticket":1}`)), http.StatusUnauthorized, "unauthenticated"},
			{"tampered body", "/webhooks/rt", bytes.Replace(good, []byte(`"resolved"`), []byte(`"open"`), 1), sign(testSecret, good), http.StatusUnauthorized, "unauthenticated"},
			{"missing signature", "/webhooks/rt", good, "", http.StatusUnauthorized, "unauthenticated"},
			{"signature not hex", "/webhooks/rt", good, "sha256=zz", http.StatusUnauthorized, "unauthenticated"},
			{"sha1 signature", "/webhooks/rt", good, strings.Replace(sign(testSecret, good), "sha256=", "sha1=", 1), http.StatusUnauthorized, "unauthenticated"},
			{"wrong secret", "/webhooks/rt", good, sign("not-the-secret", good), http.StatusUnauthorized, "unauthenticated"},
			{"other connector's secret", "/webhooks/rt-other", good, sign(testSecret, good), http.StatusUnauthorized, "unauthenticated"},
			{"oversize body", "/webhooks/rt", big, sign(testSecret, big), http.StatusRequestEntityTooLarge, "larger than"},
			{"huge body", "/webhooks/rt", huge, sign(testSecret, huge), http.StatusRequestEntityTooLarge, "larger than"},
			{"malformed body", "/webhooks/rt", malformed, sign(testSecret, malformed), http.StatusBadRequest, "JSON"},
			{"no ticket", "/webhooks/rt", noTicket, sign(testSecret, noTicket), http.StatusBadRequest, "ticket"},
			{"unknown connector", "/webhooks/zammad", good, sign(testSecret, good), http.StatusNotFound, "zammad"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w := h.post(t, tc.path, tc.body, tc.sig, "40")
				if w.Code != tc.wantCode {
					t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.wantCode)
				}
				if msg := jsonField(t, w, "error"); !strings.Contains(msg, tc.wantErrSub) {
					t.Errorf("error %q does not mention %q", msg, tc.wantErrSub)
				}
			})
		}
		h.recv.Sweep(context.Background())
		if n := count(t, db, `SELECT count(*) FROM webhook_deliveries`); n != 0 {
			t.Errorf("%d deliveries recorded from refused requests", n)
		}
		if c := readCase(t, db, id); c != before {
			t.Errorf("case changed: %+v, was %+v", c, before)
		}
	})
}

// TestWebhookAppliedOnceAndReplay: a signed delivery is recorded (202),
// applied by reading the ticket back, and a replay is a 200 "duplicate" that
// records and applies nothing.
func TestWebhookAppliedOnceAndReplay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, conn := newRT(t, nil)
		h := newHookEnv(t, db, map[string]connectors.Connector{"rt": conn})
		id, tid := createTicket(t, db, conn, "ip:198.51.100.2", t0)
		n, _ := strconv.Atoi(tid)
		if err := srv.SetCustomField(n, "ClosureReason", "host cleaned"); err != nil {
			t.Fatal(err)
		}
		if err := srv.SetStatus(n, "resolved"); err != nil {
			t.Fatal(err)
		}
		body := scripBody(tid, "new", "resolved", 77, time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC), "ip:198.51.100.2")
		w := h.post(t, "/webhooks/rt", body, sign(testSecret, body), "77")
		if w.Code != http.StatusAccepted || jsonField(t, w, "status") != "accepted" {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if n := count(t, db, `SELECT count(*) FROM webhook_deliveries WHERE state = 'received' AND delivery_id = '77'`); n != 1 {
			t.Fatalf("%d received deliveries", n)
		}
		if c := readCase(t, db, id); c.State != "open" {
			t.Fatalf("applied before the sweep: %+v", c)
		}
		h.recv.Sweep(ctx)
		c := readCase(t, db, id)
		if c.State != "resolved" || c.ClosureReason != "host cleaned" {
			t.Fatalf("after the sweep: %+v", c)
		}
		if n := count(t, db, `SELECT count(*) FROM webhook_deliveries WHERE state = 'applied'`); n != 1 {
			t.Errorf("%d applied deliveries", n)
		}

		// The replay: the same signed request, and the same body with a
		// different delivery header (the header is not signed).
		for _, delivery := range []string{"77", "78", ""} {
			w = h.post(t, "/webhooks/rt", body, sign(testSecret, body), delivery)
			if w.Code != http.StatusOK || jsonField(t, w, "status") != "duplicate" {
				t.Fatalf("replay with delivery %q: %d %s", delivery, w.Code, w.Body)
			}
		}
		h.recv.Sweep(ctx)
		if n := count(t, db, `SELECT count(*) FROM webhook_deliveries`); n != 1 {
			t.Errorf("%d deliveries after replays", n)
		}
		h2 := history(t, db, id)
		if len(h2) != 1 || h2[0].Source != "webhook" || h2[0].Delivery != "77" || h2[0].To != "resolved" || h2[0].Reason != "host cleaned" {
			t.Errorf("history %+v", h2)
		}
		if c2 := readCase(t, db, id); c2 != c {
			t.Errorf("case changed by a replay: %+v, was %+v", c2, c)
		}
	})
}

// TestWebhookOutOfOrder: the desk resolves, then reopens; the resolve's
// webhook arrives after the reopen's. The case ends open, reopened once.
func TestWebhookOutOfOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, conn := newRT(t, nil)
		h := newHookEnv(t, db, map[string]connectors.Connector{"rt": conn})
		id, tid := createTicket(t, db, conn, "ip:198.51.100.3", t0)
		n, _ := strconv.Atoi(tid)
		at := time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)

		// Resolved, delivered and applied in order.
		if err := srv.SetStatus(n, "resolved"); err != nil {
			t.Fatal(err)
		}
		resolve := scripBody(tid, "new", "resolved", 10, at, "")
		if w := h.post(t, "/webhooks/rt", resolve, sign(testSecret, resolve), "10"); w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		h.recv.Sweep(ctx)
		// Reopened and resolved again; the webhooks come in reverse order:
		// the last first.
		if err := srv.SetStatus(n, "open"); err != nil {
			t.Fatal(err)
		}
		reopen := scripBody(tid, "resolved", "open", 11, at.Add(time.Second), "")
		if err := srv.SetStatus(n, "rejected"); err != nil {
			t.Fatal(err)
		}
		reject := scripBody(tid, "open", "rejected", 12, at.Add(2*time.Second), "")
		if w := h.post(t, "/webhooks/rt", reject, sign(testSecret, reject), "12"); w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		h.recv.Sweep(ctx)
		if w := h.post(t, "/webhooks/rt", reopen, sign(testSecret, reopen), "11"); w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		h.recv.Sweep(ctx)
		c := readCase(t, db, id)
		if c.State != "closed" || c.Status != "closed" {
			t.Fatalf("the late reopen moved the case back: %+v", c)
		}
		// RT's ticket now is rejected: the read-back applies that; the
		// reopen between is lost to abusegw, which is what the helpdesk says.
		hs := history(t, db, id)
		if len(hs) != 2 || hs[0].To != "resolved" || hs[1].To != "closed" {
			t.Fatalf("history %+v", hs)
		}
		if n := count(t, db, `SELECT count(*) FROM webhook_deliveries WHERE state = 'applied'`); n != 3 {
			t.Errorf("%d applied deliveries, want 3", n)
		}
	})
}

// TestWebhookTicketGone: a webhook for a ticket RT no longer has closes its
// case through MarkGone.
func TestWebhookTicketGone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, conn := newRT(t, nil)
		h := newHookEnv(t, db, map[string]connectors.Connector{"rt": conn})
		id := insertCase(t, db, "ip:198.51.100.4", "rt", "4711", "open", t0)
		body := scripBody("4711", "open", "deleted", 20, time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC), "")
		if w := h.post(t, "/webhooks/rt", body, sign(testSecret, body), "20"); w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		h.recv.Sweep(context.Background())
		if c := readCase(t, db, id); c.State != "closed" || c.ClosureReason == "" {
			t.Fatalf("case %+v", c)
		}
	})
}
