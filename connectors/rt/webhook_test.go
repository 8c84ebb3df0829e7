package rt_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
)

func hookClient(t *testing.T, secretValue string) *rt.Client {
	t.Helper()
	c, err := rt.New(&rt.Config{
		Common: connectors.Common{Name: "rt", Type: "rt"}, URL: "http://127.0.0.1:1/", Token: "tok", Queue: "Abuse",
		WebhookSecret: secretOf(secretValue),
	}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hookRequest(body []byte, key, delivery string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/rt", bytes.NewReader(body))
	if key != "" {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		r.Header.Set(rt.SignatureHeader, "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	if delivery != "" {
		r.Header.Set(rt.DeliveryHeader, delivery)
	}
	return r
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	c := hookClient(t, "k")
	body := []byte(`{"actor":"root","case_key":"ip:192.0.2.1","old_status":"open","queue":"Abuse","status":"resolved","ticket":12,"time":"2026-01-02 03:04:05","transaction":345}`)

	us, err := c.ParseWebhook(hookRequest(body, "k", "345"))
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.Update{TicketID: "12", CaseKey: "ip:192.0.2.1", Status: "resolved", Canonical: connectors.StatusResolved,
		At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DeliveryID: "345"}
	if len(us) != 1 || us[0] != want {
		t.Fatalf("got %+v, want %+v", us, want)
	}
	// The delivery id comes from the signed body, not the unsigned header.
	us, err = c.ParseWebhook(hookRequest(body, "k", "999"))
	if err != nil || us[0].DeliveryID != "345" {
		t.Fatalf("with another header: %+v, %v", us, err)
	}
	noTxn := []byte(`{"status":"open","ticket":12}`)
	us, err = c.ParseWebhook(hookRequest(noTxn, "k", "777"))
	if err != nil || us[0].DeliveryID != "777" || us[0].Canonical != connectors.StatusOpen {
		t.Fatalf("without a transaction: %+v, %v", us, err)
	}

	for _, tc := range []struct {
		name string
		c    *rt.Client
		r    *http.Request
		auth bool
	}{
		{"no secret configured", hookClient(t, ""), hookRequest(body, "k", ""), true},
		{"missing signature", c, hookRequest(body, "", ""), true},
		{"wrong secret", c, hookRequest(body, "other", ""), true},
		{"malformed JSON", c, hookRequest([]byte(`{"ticket":`), "k", ""), false},
		{"ticket not a number", c, hookRequest([]byte(`{"ticket":"1 OR 1=1","status":"open"}`), "k", ""), false},
		{"no status", c, hookRequest([]byte(`{"ticket":3}`), "k", ""), false},
	} {
		_, err := tc.c.ParseWebhook(tc.r)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := errors.Is(err, connectors.ErrUnauthenticated); got != tc.auth {
			t.Errorf("%s: %v: unauthenticated = %v, want %v", tc.name, err, got, tc.auth)
		}
	}

	big := []byte(`{"ticket":1,"status":"open","pad":"` + strings.Repeat("x", 65<<10) + `"}`)
	_, err = c.ParseWebhook(hookRequest(big, "k", ""))
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) || tooBig.Limit != 64<<10 {
		t.Fatalf("oversize body: %v, want an *http.MaxBytesError", err)
	}
}
