package rt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/conntest"
	"github.com/abusegw/abusegw/connectors/rt"
)

// realRT locates the RT that deploy/testenv/rt/start-rt.sh runs:
//
//	. /var/lib/rt-peer/env
//	export ABUSEGW_TEST_RT_URL=$RT_URL ABUSEGW_TEST_RT_TOKEN=$RT_TOKEN
//
// Queue and key field default to the script's Abuse and AbuseKey
// (ABUSEGW_TEST_RT_QUEUE, ABUSEGW_TEST_RT_CF override them).
type realRT struct {
	url, token, queue, cf string
}

func newRealRT(t *testing.T) realRT {
	v := conntest.Peer(t, "ABUSEGW_TEST_RT_URL", "ABUSEGW_TEST_RT_TOKEN")
	r := realRT{url: v[0], token: v[1], queue: os.Getenv("ABUSEGW_TEST_RT_QUEUE"), cf: os.Getenv("ABUSEGW_TEST_RT_CF")}
	if r.queue == "" {
		r.queue = "Abuse"
	}
	if r.cf == "" {
		r.cf = "AbuseKey"
	}
	return r
}

func (r realRT) config() *rt.Config {
	return &rt.Config{
		Common:   connectors.Common{Name: "rt-real", Type: "rt"},
		URL:      r.url,
		Token:    "token-placeholder",
		Queue:    r.queue,
		KeyField: r.cf,
	}
}

func (r realRT) client(t *testing.T, edit func(*rt.Config)) *rt.Client {
	t.Helper()
	cfg := r.config()
	cfg.Token = secretOf(r.token)
	if edit != nil {
		edit(cfg)
	}
	c, err := rt.New(cfg, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// call is a raw REST2 request, as a desk member's tool would make it.
func (r realRT) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(r.url, "/")+"/REST/2.0"+path, bytes.NewReader(b))
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
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), err
}

func (r realRT) setStatus(ctx context.Context, id, status string) error {
	code, body, err := r.call(ctx, http.MethodPut, "/ticket/"+id, map[string]string{"Status": status})
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), "Status changed") {
		return fmt.Errorf("PUT status %s on ticket %s: %d %s %v", status, id, code, body, err)
	}
	return nil
}

// closedPort returns a URL where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/"
	ln.Close()
	return u
}

func TestContractRealRT(t *testing.T) {
	r := newRealRT(t)
	conntest.Run(t, func(t *testing.T) conntest.Harness {
		return conntest.Harness{
			Connector:       r.client(t, func(c *rt.Config) { c.PageSize = 3 }),
			Requestors:      []string{"noc@customer.example"},
			SetStatus:       r.setStatus,
			Resolved:        "resolved",
			PageSize:        3,
			MissingTicketID: "999999999",
			BadCredentials: func(t *testing.T) connectors.Connector {
				return r.client(t, func(c *rt.Config) { c.Token = "1-99-0123456789abcdef0123456789abcdef" })
			},
			ServerDown: func(t *testing.T) connectors.Connector {
				return r.client(t, func(c *rt.Config) { c.URL = closedPort(t) })
			},
		}
	})
}

// TestCheckRealRT makes each setup mistake on the real RT and expects Check
// to name it.
func TestCheckRealRT(t *testing.T) {
	r := newRealRT(t)
	// A second queue without the key field; RT keeps queues forever, so the
	// name is unique per run.
	noCF := "abusegw-nocf-" + conntest.Key(t)
	code, body, err := r.call(t.Context(), http.MethodPost, "/queue", map[string]string{"Name": noCF})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("creating queue %s: %d %s %v", noCF, code, body, err)
	}
	tests := []struct {
		name string
		edit func(*rt.Config)
		want string
	}{
		{"good", nil, ""},
		{"wrong token", func(c *rt.Config) { c.Token = "1-99-0123456789abcdef0123456789abcdef" }, "refused the credentials"},
		{"unknown queue", func(c *rt.Config) { c.Queue = "abusegw-no-such-queue" }, `queue "abusegw-no-such-queue" does not exist`},
		{"missing custom field", func(c *rt.Config) { c.KeyField = "NoSuchField" }, `custom field "NoSuchField" (key_field) does not exist`},
		{"field not applied to queue", func(c *rt.Config) { c.Queue = noCF }, fmt.Sprintf("does not apply to queue %q", noCF)},
		{"missing reason field", func(c *rt.Config) { c.ReasonField = "NoSuchReason" }, `"NoSuchReason" (reason_field) does not exist`},
		{"server down", func(c *rt.Config) { c.URL = closedPort(t) }, "cannot reach RT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := r.client(t, tt.edit).Check(t.Context())
			checkErrs(t, errs, tt.want)
		})
	}
}

func checkErrs(t *testing.T, errs []error, want string) {
	t.Helper()
	for _, err := range errs {
		t.Logf("check: %v", err)
	}
	if want == "" {
		if len(errs) > 0 {
			t.Errorf("want no problems, got %d", len(errs))
		}
		return
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Errorf("want one problem containing %q, got %q", want, errs)
	}
}
