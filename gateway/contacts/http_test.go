package contacts

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/secret"
)

func TestHTTPSource(t *testing.T) {
	t.Parallel()
	pwFile := writeFile(t, t.TempDir(), "pw", "pw-from-env\n")
	tests := []struct {
		name    string
		cfg     SourceConfig
		handler http.HandlerFunc
		q       Query
		want    Customer
		found   bool
		errMsg  string // substring; "" = no error
		noAsk   bool   // the server must not be asked
	}{
		{
			name: "object",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("ip") != "2001:db8::1" || r.Header.Get("Accept") != "application/json" {
					http.Error(w, "bad request "+r.URL.RawQuery, http.StatusBadRequest)
					return
				}
				_, _ = w.Write([]byte(`{"network":"2001:db8::/32","customer":1001,"name":"Example","email":["a@x.example","b@x.example"],"tags":"dsl;business","extra":{"ignored":true}}`))
			},
			q:     Query{IP: netip.MustParseAddr("2001:db8::1")},
			want:  Customer{Key: "1001", Name: "Example", Emails: []string{"a@x.example", "b@x.example"}, Tags: []string{"dsl", "business"}, Source: "http", Network: "2001:db8::/32"},
			found: true,
		},
		{
			name:    "404 is not found",
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			q:       q("192.0.2.1"),
		},
		{
			name:    "null is not found",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("null\n")) },
			q:       q("192.0.2.1"),
		},
		{
			name:    "object without customer is not found",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) },
			q:       q("192.0.2.1"),
		},
		{
			name:    "500 is an error",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", http.StatusInternalServerError) },
			q:       q("192.0.2.1"),
			errMsg:  "status 500",
		},
		{
			name:    "401 is an error",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) },
			q:       q("192.0.2.1"),
			errMsg:  "status 401",
		},
		{
			name:    "not JSON",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) },
			q:       q("192.0.2.1"),
			errMsg:  "decoding the answer",
		},
		{
			name: "bad e-mail",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"customer":"c","email":"nope"}`))
			},
			q:      q("192.0.2.1"),
			errMsg: `email: "nope" is not an e-mail address`,
		},
		{
			name: "timeout",
			cfg:  SourceConfig{Timeout: 50 * time.Millisecond},
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			q:      q("192.0.2.1"),
			errMsg: "context deadline exceeded",
		},
		{
			name: "bearer token",
			cfg:  SourceConfig{Token: "s3cret-token"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer s3cret-token" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				_, _ = w.Write([]byte(`{"customer":"c"}`))
			},
			q: q("192.0.2.1"), want: Customer{Key: "c", Source: "http"}, found: true,
		},
		{
			name: "basic auth from a file, and headers",
			cfg:  SourceConfig{Username: "gw", PasswordFile: pwFile, Headers: map[string]string{"X-Tenant": "t1"}},
			handler: func(w http.ResponseWriter, r *http.Request) {
				u, p, ok := r.BasicAuth()
				if !ok || u != "gw" || p != "pw-from-env" || r.Header.Get("X-Tenant") != "t1" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				_, _ = w.Write([]byte(`{"customer":"c"}`))
			},
			q: q("192.0.2.1"), want: Customer{Key: "c", Source: "http"}, found: true,
		},
		{
			name:    "query without the template's values is not asked",
			handler: func(w http.ResponseWriter, r *http.Request) { t.Error("asked") },
			q:       Query{ASN: 64496},
			noAsk:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked = true
				tt.handler(w, r)
			}))
			defer srv.Close()
			cfg := tt.cfg
			cfg.Type = TypeHTTP
			cfg.URL = srv.URL + "/lookup?key=url-secret&ip={ip}"
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := newHTTPSource("http", &cfg, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Lookup(t.Context(), tt.q.normalize())
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("err = %v, want %q", err, tt.errMsg)
				}
				for _, secret := range []string{"url-secret", "s3cret-token", "pw-from-env"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error leaks %q: %v", secret, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.found || !equalCustomer(got, tt.want) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.found)
			}
			if asked == tt.noAsk {
				t.Errorf("asked = %v", asked)
			}
		})
	}
}

func TestHTTPTemplate(t *testing.T) {
	t.Parallel()
	got := expand("https://crm.example/{ip}/{asn}?fqdn={fqdn}", Query{IP: netip.MustParseAddr("2001:db8::1"), ASN: 64496, FQDN: "a b.example"})
	if want := "https://crm.example/2001%3Adb8%3A%3A1/64496?fqdn=a+b.example"; got != want {
		t.Errorf("expand = %s, want %s", got, want)
	}
	for tmpl, want := range map[string]string{
		"https://x.example/{ip}":         "",
		"https://x.example/{addr}":       "unknown placeholder {addr}",
		"https://x.example/lookup":       "uses none of",
		"ftp://x.example/{ip}":           "not an http",
		"https://x.example/{fqdn}?{asn}": "",
	} {
		err := checkTemplate(tmpl)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("checkTemplate(%s) = %v, want %q", tmpl, err, want)
		}
	}
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ip") == "192.0.2.1" {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	good := &SourceConfig{Type: TypeHTTP, URL: srv.URL + "/?ip={ip}"}
	bad := &SourceConfig{Type: TypeHTTP, URL: srv.URL + "/?x={ip}"}
	for cfg, wantErr := range map[*SourceConfig]bool{good: false, bad: true} {
		s, err := newHTTPSource("http", cfg, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(t.Context()); (err != nil) != wantErr {
			t.Errorf("Check(%s) = %v", cfg.URL, err)
		}
	}
	_, err := newHTTPSource("http", &SourceConfig{Type: TypeHTTP, URLEnv: "CONTACTS_TEST_UNSET_URL"}, nil)
	if err == nil || !errors.Is(err, secret.ErrMissing) {
		t.Errorf("unset url_env: %v", err)
	}
}
