package sync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/conntest"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/gateway/secret"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
)

// The real RT of deploy/testenv/rt with abusegw's scrip installed
// (deploy/rt/install-scrip.sh), as .ci/run sets it up:
//
//	. /var/lib/rt-peer/env
//	export ABUSEGW_TEST_RT_URL=$RT_URL ABUSEGW_TEST_RT_TOKEN=$RT_TOKEN \
//	  ABUSEGW_TEST_RT_WEBHOOK_ADDR=127.0.0.1:18099 ABUSEGW_TEST_RT_WEBHOOK_SECRET=ci-webhook-secret
//	ABUSEGW_WEBHOOK_URL=http://127.0.0.1:18099/webhooks/rt ABUSEGW_WEBHOOK_SECRET=ci-webhook-secret \
//	  bash deploy/rt/install-scrip.sh
const reasonField = "ClosureReason"

type realRT struct {
	url, token, addr, secret string
}

func (r realRT) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(r.url, "/")+"/REST/2.0"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "token "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (r realRT) mustCall(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	code, b, err := r.call(context.Background(), method, path, body)
	if err != nil || code != want {
		t.Fatalf("%s %s: %d %s %v, want %d", method, path, code, b, err, want)
	}
	return b
}

// ensureReasonField creates the ClosureReason custom field on the Abuse
// queue unless it exists.
func (r realRT) ensureReasonField(t *testing.T) {
	t.Helper()
	var ans struct {
		Count int `json:"count"`
	}
	b := r.mustCall(t, http.MethodPost, "/customfields", []map[string]string{{"field": "Name", "value": reasonField}}, http.StatusOK)
	if err := json.Unmarshal(b, &ans); err != nil {
		t.Fatalf("searching custom fields: %v: %s", err, b)
	}
	if ans.Count == 0 {
		r.mustCall(t, http.MethodPost, "/customfield", map[string]any{"Name": reasonField, "Type": "Freeform", "MaxValues": 1, "Queue": "Abuse"}, http.StatusCreated)
	}
}

// waitCase polls the database every 50 ms, up to 20 s, until the case is in
// state.
func waitCase(t *testing.T, db *store.DB, id int64, state string) caseRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := readCase(t, db, id)
		if c.State == state {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %d still %q after 20 s, want %q (is the scrip installed with this URL and secret? see deploy/rt/install-scrip.sh)", id, c.State, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRealRT: a desk member resolves a ticket in the real RT; the scrip's
// signed webhook closes the case within seconds. With abusegw's receiver
// stopped, another ticket is resolved with a closure reason; the reconcile
// finds it and closes that case too, with the reason.
func TestRealRT(t *testing.T) {
	v := conntest.Peer(t, "ABUSEGW_TEST_RT_URL", "ABUSEGW_TEST_RT_TOKEN", "ABUSEGW_TEST_RT_WEBHOOK_ADDR", "ABUSEGW_TEST_RT_WEBHOOK_SECRET")
	peer := realRT{url: v[0], token: v[1], addr: v[2], secret: v[3]}
	peer.ensureReasonField(t)
	for _, d := range storetest.Dialects {
		// One after the other: there is one webhook address.
		t.Run(string(d), func(t *testing.T) { testRealRT(t, peer, storetest.Open(t, d)) })
	}
}

func testRealRT(t *testing.T, peer realRT, db *store.DB) {
	ctx := context.Background()
	conn, err := rt.New(&rt.Config{
		Common: connectors.Common{Name: "rt", Type: "rt"}, URL: peer.url, Token: secret.Redacted(peer.token),
		Queue: "Abuse", KeyField: "AbuseKey", ReasonField: reasonField, WebhookSecret: secret.Redacted(peer.secret),
	}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]connectors.Connector{"rt": conn}
	applier := gwsync.NewApplier(db, nil, nil)
	recv, err := gwsync.NewReceiver(db, conns, applier, nil, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := gwsync.NewReconciler(db, conns, applier, gwsync.ReconcilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// The first run: the watermark from now on (RT's other tickets are
	// not this test's business).
	if _, err := rec.Run(ctx, "rt", gwsync.Options{Since: start.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}

	// abusegw's receiver, where the scrip posts.
	ln, err := net.Listen("tcp", peer.addr)
	if err != nil {
		t.Fatalf("listening on ABUSEGW_TEST_RT_WEBHOOK_ADDR %s: %v", peer.addr, err)
	}
	engine := gin.New()
	recv.Mount(engine)
	srv := &http.Server{Handler: engine, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); recv.Run(runCtx, 50*time.Millisecond) }()
	stop := func() {
		stopRun()
		<-ran
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("stopping the receiver: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("receiver: %v", err)
		}
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})

	id1, tid1 := createTicket(t, db, conn, conntest.Key(t), start)
	id2, tid2 := createTicket(t, db, conn, conntest.Key(t), start)

	// A desk member resolves the first ticket through REST2.
	resolvedAt := time.Now()
	peer.mustCall(t, http.MethodPut, "/ticket/"+tid1, map[string]any{"Status": "resolved"}, http.StatusOK)
	c1 := waitCase(t, db, id1, "resolved")
	t.Logf("webhook: case closed %v after RT's answer to the resolve", time.Since(resolvedAt).Round(time.Millisecond))
	h1 := history(t, db, id1)
	if len(h1) != 1 || h1[0].Source != "webhook" || h1[0].Delivery == "" || h1[0].To != "resolved" {
		t.Errorf("history of the webhook's case: %+v", h1)
	}
	if c1.Status != "resolved" || !c1.ResolvedAt.Valid {
		t.Errorf("case %+v", c1)
	}

	// abusegw is down; the desk resolves the second ticket with a reason.
	stop()
	stopped = true
	reason := fmt.Sprintf("customer patched the host (%s)", tid2)
	peer.mustCall(t, http.MethodPut, "/ticket/"+tid2, map[string]any{"CustomFields": map[string]string{reasonField: reason}}, http.StatusOK)
	peer.mustCall(t, http.MethodPut, "/ticket/"+tid2, map[string]any{"Status": "resolved"}, http.StatusOK)
	if c := readCase(t, db, id2); c.State != "open" {
		t.Fatalf("case changed while abusegw was down: %+v", c)
	}

	// abusegw is back: the reconcile (from the watermark) finds it.
	st, err := rec.Run(ctx, "rt", gwsync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reconcile: %+v", st)
	c2 := readCase(t, db, id2)
	if c2.State != "resolved" || c2.ClosureReason != reason {
		t.Fatalf("case after the reconcile: %+v, want resolved with reason %q", c2, reason)
	}
	h2 := history(t, db, id2)
	if len(h2) != 1 || h2[0].Source != "reconcile" || h2[0].Reason != reason {
		t.Errorf("history of the reconciled case: %+v", h2)
	}
	if c := readCase(t, db, id1); c != c1 {
		t.Errorf("the reconcile changed the webhook's case: %+v, was %+v", c, c1)
	}
	if w := readWatermark(t, db, "rt"); w.LastError != "" || !w.Watermark.Valid {
		t.Errorf("watermark %+v", w)
	}
}
