package registry

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
)

// decode does what the config loader does with one connectors: entry.
func decode(t *testing.T, src string) (connectors.Connector, connectors.Configurer, error) {
	t.Helper()
	var head struct {
		Type string `yaml:"type"`
	}
	if err := yaml.Unmarshal([]byte(src), &head); err != nil {
		t.Fatal(err)
	}
	typ, err := Lookup(head.Type)
	if err != nil {
		return nil, nil, err
	}
	cfg := typ.NewConfig()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return nil, cfg, err
	}
	c, err := typ.New(cfg, connectors.Deps{})
	return c, cfg, err
}

func TestRTFromYAML(t *testing.T) {
	t.Setenv("ABUSEGW_TEST_REGISTRY_TOKEN", "1-14-abc")
	c, cfg, err := decode(t, `
name: rt
type: rt
url: http://127.0.0.1:8087/
token_env: ABUSEGW_TEST_REGISTRY_TOKEN
queue: Abuse
key_field: AbuseKey
reason_field: Reason
rate_limit: 10
concurrency: 2
timeout: 5s
status_map: {investigating: open}
`)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*rt.Client); !ok {
		t.Fatalf("New returned %T", c)
	}
	b := cfg.Base()
	if b.Name != "rt" || b.RateLimit != 10 || b.Concurrency != 2 || b.Timeout != 5*time.Second || b.StatusMap["investigating"] != "open" {
		t.Errorf("common keys: %+v", b)
	}
	if _, ok := c.(connectors.ClosureReasoner); !ok {
		t.Error("rt connector is no ClosureReasoner")
	}
	if _, ok := c.(connectors.Checker); !ok {
		t.Error("rt connector is no Checker")
	}
	if _, ok := c.(connectors.CommentFinder); !ok {
		t.Error("rt connector is no CommentFinder")
	}
	for _, s := range []string{fmtV(c), fmtPlusV(c)} {
		if strings.Contains(s, "1-14-abc") {
			t.Errorf("client prints its token: %s", s)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown type", "name: x\ntype: otrs\n", `unknown connector type "otrs" (known: rt)`},
		{"misspelt key", "name: rt\ntype: rt\nurl: http://rt/\ntoken: x\nqueue: A\nqeue: B\n", "field qeue not found"},
		{"no credentials", "name: rt\ntype: rt\nurl: http://rt/\nqueue: A\n", "missing credentials"},
		{"two credentials", "name: rt\ntype: rt\nurl: http://rt/\ntoken: x\nuser: u\npassword: p\nqueue: A\n", "either a token or user and password"},
		{"token twice", "name: rt\ntype: rt\nurl: http://rt/\ntoken: x\ntoken_env: Y\nqueue: A\n", "one way only"},
		{"no queue", "name: rt\ntype: rt\nurl: http://rt/\ntoken: x\n", "missing queue"},
		{"bad url", "name: rt\ntype: rt\nurl: rt.example\ntoken: x\nqueue: A\n", `url "rt.example"`},
		{"unset env", "name: rt\ntype: rt\nurl: http://rt/\ntoken_env: ABUSEGW_TEST_SURELY_UNSET\nqueue: A\n", "ABUSEGW_TEST_SURELY_UNSET"},
		{"bad status map", "name: rt\ntype: rt\nurl: http://rt/\ntoken: x\nqueue: A\nstatus_map: {stalled: waiting}\n", `"waiting" is not one of`},
		{"page size", "name: rt\ntype: rt\nurl: http://rt/\ntoken: x\nqueue: A\npage_size: 500\n", "page_size 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decode(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// The resolved secret must never print, not even with %+v on the config.
func TestSecretsDoNotPrint(t *testing.T) {
	_, cfg, err := decode(t, "name: rt\ntype: rt\nurl: http://rt/\ntoken: 1-14-verysecret\nqueue: A\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmtV(cfg), fmtPlusV(cfg)} {
		if strings.Contains(s, "verysecret") {
			t.Errorf("config prints its token: %s", s)
		}
	}
}
