package outbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/connectors/rt/rttest"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
)

// errClientTimeout is what a request that rttest holds (HangAfter) ends
// with: the client's timeout, fired by the test when the fake says the
// request hangs instead of by a wall clock.
var errClientTimeout = errors.New("Client.Timeout exceeded while awaiting headers")

// timeoutOnHang is a transport that times a request out as soon as rttest
// reports it hung. Only one request may be in flight (Concurrency 1), so
// the signal always belongs to it.
type timeoutOnHang struct {
	base http.RoundTripper
	hung <-chan string
}

func (h timeoutOnHang) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(stop); cancel(nil) }) }
	go func() {
		select {
		case <-h.hung:
			cancel(errClientTimeout)
		case <-stop:
		}
	}()
	resp, err := h.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		if c := context.Cause(ctx); errors.Is(c, errClientTimeout) {
			err = c
		}
		done()
		return nil, err
	}
	resp.Body = bodyCloser{ReadCloser: resp.Body, done: done}
	return resp, nil
}

type bodyCloser struct {
	io.ReadCloser
	done func()
}

func (b bodyCloser) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// newRTClient is an RT connector talking to srv through timeoutOnHang.
func newRTClient(t testing.TB, srv *rttest.Server) *rt.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	c, err := rt.New(srv.Config(), connectors.Deps{HTTPClient: &http.Client{Transport: timeoutOnHang{base: tr, hung: srv.Hung}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// drainAll drains until every operation is final, advancing the clock past
// any backoff between drains (the dispatcher must use MaxBackoff ≤ 2 min); it fails the test if that takes more than
// rounds drains or an operation ends dead.
func drainAll(t testing.TB, db *store.DB, clk *clock, d *outbox.Dispatcher, rounds int) {
	t.Helper()
	for range rounds {
		if _, err := d.Drain(context.Background()); err != nil {
			t.Fatalf("drain: %v", err)
		}
		if count(t, db, `SELECT count(*) FROM outbox WHERE state NOT IN ('completed', 'cancelled', 'dead')`) == 0 {
			if n := count(t, db, `SELECT count(*) FROM outbox WHERE state = 'dead'`); n > 0 {
				rows, _ := outbox.List(context.Background(), db, "dead", 0)
				t.Fatalf("%d operations dead: %+v", n, rows)
			}
			return
		}
		// Past any backoff (MaxBackoff·1.1) and Retry-After the tests use.
		clk.Advance(3 * time.Minute)
	}
	rows, _ := outbox.List(context.Background(), db, "", 0)
	t.Fatalf("operations still open after %d drains: %+v", rounds, rows)
}

// assertExactlyOnce checks the fake RT's end state: one ticket per case key,
// carrying the key, and each message operation in it exactly once.
func assertExactlyOnce(t testing.TB, srv *rttest.Server, db *store.DB, want map[string][]string) {
	t.Helper()
	byKey := map[string][]rttest.Ticket{}
	for _, tk := range srv.Tickets() {
		byKey[tk.CustomFields[rttest.KeyField]] = append(byKey[tk.CustomFields[rttest.KeyField]], tk)
	}
	if n := len(byKey[""]); n > 0 {
		t.Errorf("RT has %d tickets without a case key", n)
	}
	for key, ops := range want {
		ts := byKey[key]
		if len(ts) != 1 {
			t.Errorf("case %s has %d tickets in RT, want exactly one", key, len(ts))
			continue
		}
		msgs := ts[0].Messages()
		if len(msgs) != len(ops) {
			t.Errorf("case %s: ticket %d has %d messages, want %d: %+v", key, ts[0].ID, len(msgs), len(ops), msgs)
		}
		for _, op := range ops {
			n := 0
			for _, m := range msgs {
				if connectors.HasMarker(m.Content, op) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("case %s: operation %s appears %d times in ticket %d, want once", key, op, n, ts[0].ID)
			}
		}
		var recorded []string
		if err := db.SelectContext(context.Background(), &recorded, db.Rebind(`SELECT t.external_id FROM tickets t JOIN cases c ON c.id = t.case_id WHERE c.case_key = ?`), key); err != nil {
			t.Fatal(err)
		}
		if len(recorded) != 1 || recorded[0] != strconv.Itoa(ts[0].ID) {
			t.Errorf("case %s: recorded tickets %v, want [%d]", key, recorded, ts[0].ID)
		}
	}
	for k, s := range states(t, db) {
		if s != "completed" {
			t.Errorf("operation %s is %s, want completed", k, s)
		}
	}
}
