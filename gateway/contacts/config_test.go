package contacts

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// wiring is how the configuration embeds the contact keys.
type wiring struct {
	Contacts      []SourceConfig `yaml:"contacts"`
	ContactsCache CacheConfig    `yaml:"contacts_cache"`
	Unowned       UnownedConfig  `yaml:"unowned"`
}

func decodeStrict(t *testing.T, doc string) (wiring, error) {
	t.Helper()
	var w wiring
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	err := dec.Decode(&w)
	return w, err
}

func TestConfigShape(t *testing.T) {
	t.Parallel()
	w, err := decodeStrict(t, `
contacts:
  - type: file
    path: customers.csv
  - type: sql
    url_env: CRM_DATABASE_URL
    query: SELECT network, customer, name, email FROM crm WHERE $1::inet <<= network
  - type: http
    url: https://crm.example.net/lookup?ip={ip}
    timeout: 2s
    token_file: /run/secrets/crm
contacts_cache:
  ttl: 10m
  size: 5000
unowned:
  action: catch_all
  customer: {customer: abuse-desk, name: Our abuse desk, email: abuse@example.net}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateSources(w.Contacts); err != nil {
		t.Fatal(err)
	}
	if err := w.Unowned.Validate(); err != nil {
		t.Fatal(err)
	}
	if w.ContactsCache.TTL != 10*time.Minute || w.Contacts[2].Timeout != 2*time.Second || len(w.Unowned.Customer.Email) != 1 {
		t.Fatalf("decoded %+v", w)
	}
	if got := sourceNames(w.Contacts); strings.Join(got, ",") != "file,sql,http" {
		t.Errorf("names = %v", got)
	}
	// email and tags take a list too.
	w, err = decodeStrict(t, "unowned:\n  action: catch_all\n  customer:\n    customer: desk\n    email: [a@x.example, 'b@x.example; c@x.example']\n    tags: x,y\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Unowned.Customer.Email, " "); got != "a@x.example b@x.example c@x.example" {
		t.Errorf("emails = %q", got)
	}
	if _, err := decodeStrict(t, "unowned:\n  customer:\n    email: {a: b}\n"); err == nil || !strings.Contains(err.Error(), "want a string or a list") {
		t.Errorf("mapping as email: %v", err)
	}
	if _, err := decodeStrict(t, "contacts:\n  - type: file\n    pth: x.csv\n"); err == nil || !strings.Contains(err.Error(), "pth") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestSourceConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  SourceConfig
		want []string // substrings; none = valid
	}{
		{"file", SourceConfig{Type: "file", Path: "c.csv"}, nil},
		{"file yaml", SourceConfig{Type: "file", Path: "c.txt", Format: "yaml", Reload: time.Minute}, nil},
		{"no type", SourceConfig{Path: "c.csv"}, []string{"type: missing"}},
		{"bad type", SourceConfig{Type: "ldap"}, []string{`type: "ldap" is not one of`}},
		{"file without path", SourceConfig{Type: "file"}, []string{"path: missing"}},
		{"file with url and query", SourceConfig{Type: "file", Path: "c.csv", URL: "x", Query: "q"}, []string{"url: does not apply to a file source", "query: does not apply"}},
		{"file bad format", SourceConfig{Type: "file", Path: "c.csv", Format: "xml"}, []string{`format: "xml"`}},
		{"sql", SourceConfig{Type: "sql", URLEnv: "CRM", Query: "SELECT 1 WHERE $1"}, nil},
		{"sql mysql url", SourceConfig{Type: "sql", URL: "mysql://root@tcp(127.0.0.1:3306)/crm", Query: "q"}, nil},
		{"sql without url and query", SourceConfig{Type: "sql"}, []string{"url: missing", "query: missing"}},
		{"sql unknown scheme", SourceConfig{Type: "sql", URL: "sqlserver://u:pw@h/db", Query: "q"}, []string{"url: cannot tell the database"}},
		{"sql bad mysql dsn hides the password", SourceConfig{Type: "sql", Driver: "mysql", URL: "root:pw-secret@127.0.0.1", Query: "q"}, []string{"url: not a MySQL DSN"}},
		{"sql two urls", SourceConfig{Type: "sql", URL: "postgres://h/db", URLEnv: "X", Query: "q"}, []string{"url: give the secret one way only"}},
		{"sql with headers and path", SourceConfig{Type: "sql", URL: "postgres://h/db", Query: "q", Headers: map[string]string{"a": "b"}, Path: "x"}, []string{"path: does not apply to a sql source", "headers: does not apply"}},
		{"sql bad driver", SourceConfig{Type: "sql", URL: "postgres://h/db", Query: "q", Driver: "oracle"}, []string{`driver: "oracle"`}},
		{"http", SourceConfig{Type: "http", URL: "https://crm.example/{ip}", TokenEnv: "T"}, nil},
		{"http basic", SourceConfig{Type: "http", URL: "https://crm.example/{ip}", Username: "u", PasswordFile: "/p"}, nil},
		{"http without placeholder", SourceConfig{Type: "http", URL: "https://crm.example/"}, []string{"uses none of"}},
		{"http token and password", SourceConfig{Type: "http", URL: "https://crm.example/{ip}", Token: "t", Username: "u", Password: "p"}, []string{"not both"}},
		{"http password without user", SourceConfig{Type: "http", URL: "https://crm.example/{ip}", Password: "p"}, []string{"username: missing"}},
		{"http with query and driver", SourceConfig{Type: "http", URL: "https://crm.example/{ip}", Query: "q", Driver: "mysql"}, []string{"driver: does not apply to a http source", "query: does not apply"}},
		{"negative timeout", SourceConfig{Type: "http", URL: "https://crm.example/{ip}", Timeout: -time.Second}, []string{"timeout: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pw-secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestValidateSourcesAndUnowned(t *testing.T) {
	t.Parallel()
	err := ValidateSources([]SourceConfig{
		{Type: "file", Path: "a.csv"},
		{Type: "file", Path: "b.csv"},
		{Type: "http", Name: "file-1", URL: "https://x.example/{ip}"},
		{Type: "sql"},
	})
	for _, w := range []string{`contacts[2].name: "file-1" is also the name of contacts[0]`, "contacts[3].url: missing", "contacts[3].query: missing"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	for _, tt := range []struct {
		u    UnownedConfig
		want string
	}{
		{UnownedConfig{}, ""},
		{UnownedConfig{Action: "drop"}, ""},
		{UnownedConfig{Action: "catch_all", Customer: CustomerConfig{Customer: "desk", Email: List{"a@x.example"}}}, ""},
		{UnownedConfig{Action: "catch_all"}, "unowned.customer.customer: missing"},
		{UnownedConfig{Action: "catch_all", Customer: CustomerConfig{Customer: "desk", Email: List{"desk"}}}, `unowned.customer.email: "desk" is not an e-mail address`},
		{UnownedConfig{Action: "drop", Customer: CustomerConfig{Customer: "desk"}}, "set only with action: catch_all"},
		{UnownedConfig{Action: "keep"}, `unowned.action: "keep"`},
	} {
		err := tt.u.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.u, err, tt.want)
		}
	}
	if err := (CacheConfig{Size: -1}).Validate(); err == nil {
		t.Error("negative cache size accepted")
	}
}

// TestNew builds a chain from configuration: a relative file path, an http
// source behind it, Check and Close.
func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "customers.csv", "network,customer,name,email\n192.0.2.0/24,file-owner,F,f@x.example\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ip") == "198.51.100.7" {
			_, _ = w.Write([]byte(`{"customer":"http-owner","network":"198.51.100.0/24"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	cfgs := []SourceConfig{
		{Type: TypeFile, Path: "customers.csv"},
		{Type: TypeHTTP, URL: srv.URL + "/?ip={ip}"},
	}
	c, err := New(t.Context(), cfgs, Options{Dir: dir, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if errs := c.Check(t.Context()); len(errs) > 0 {
		t.Fatalf("Check: %v", errs)
	}
	for ip, want := range map[string]string{"192.0.2.9": "file-owner", "198.51.100.7": "http-owner", "203.0.113.1": ""} {
		got, ok, err := c.Lookup(t.Context(), Query{IP: netip.MustParseAddr(ip)})
		if err != nil || ok != (want != "") || got.Key != want {
			t.Errorf("%s: %+v %v %v, want %q", ip, got, ok, err, want)
		}
	}

	// A missing file fails New, naming the source.
	_, err = New(t.Context(), []SourceConfig{{Type: TypeFile, Path: "missing.csv"}}, Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "contacts source file") || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
	// An invalid config fails New.
	if _, err := New(t.Context(), []SourceConfig{{Type: "file"}}, Options{}); err == nil {
		t.Error("invalid config accepted")
	}
}
