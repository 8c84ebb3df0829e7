package httpapi_test

import (
	"strings"
	"testing"

	"github.com/abusegw/abusegw/gateway/config"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`http:
  listen: 127.0.0.1:8080
  tokens:
    - name: intelmq
      token_env: ABUSEGW_TOKEN_INTELMQ
    - name: scripts
      token_file: /run/secrets/abusegw-scripts
  max_report_bytes: 1048576
spool:
  dir: /var/spool/abusegw
  interval: 1m
`), "test.yaml", []string{"ABUSEGW_TOKEN_INTELMQ=not-a-key", "ABUSEGW_SPOOL_STABLE_FOR=5s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.HTTP.Tokens) != 2 || cfg.HTTP.Tokens[0].Secret().Env != "ABUSEGW_TOKEN_INTELMQ" || cfg.HTTP.Tokens[1].Secret().File == "" ||
		cfg.HTTP.MaxReportBytes != 1<<20 || cfg.Spool.Dir != "/var/spool/abusegw" || cfg.Spool.Interval.String() != "1m0s" ||
		cfg.Spool.StableFor.String() != "5s" {
		t.Errorf("parsed %+v %+v", cfg.HTTP, cfg.Spool)
	}
	def, err := config.Parse(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.HTTP.MaxReportBytes != 256<<20 || len(def.HTTP.Tokens) != 0 || def.Spool.Dir != "" ||
		def.Spool.Interval.String() != "30s" || def.Spool.StableFor.String() != "10s" {
		t.Errorf("defaults %+v %+v", def.HTTP, def.Spool)
	}

	for _, tc := range []struct {
		name, yaml, msg string
	}{
		{"two names alike", "http:\n  tokens:\n    - {name: a, token: x}\n    - {name: a, token: y}\n", `http.tokens[1]: name "a" is used twice`},
		{"no name", "http:\n  tokens:\n    - {token: x}\n", "http.tokens[0]: name is missing"},
		{"no secret", "http:\n  tokens:\n    - {name: a}\n", "http.tokens[0]: give token, token_env or token_file"},
		{"two secrets", "http:\n  tokens:\n    - {name: a, token: x, token_env: Y}\n", "only one of them"},
		{"unknown key", "http:\n  tokens:\n    - {name: a, secret: x}\n", "unknown key http.tokens[0].secret"},
		{"zero limit", "http:\n  max_report_bytes: 0\n", "http.max_report_bytes: must be positive"},
		{"zero interval", "spool:\n  interval: 0s\n", "spool.interval must be positive"},
		{"unknown spool key", "spool:\n  path: /x\n", "unknown key spool.path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), "test.yaml", nil)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %q", err, tc.msg)
			}
		})
	}
}
