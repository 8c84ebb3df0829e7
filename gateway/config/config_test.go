package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"", "\n", "# nothing\n", "---\n"} {
		cfg, err := Parse([]byte(data), "abusegw.yaml", nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		if cfg.Database.URL != "sqlite://abusegw.db" || cfg.HTTP.Listen != "127.0.0.1:8080" || cfg.Log.Level != "info" {
			t.Fatalf("Parse(%q) defaults = %+v", data, cfg)
		}
	}
}

func TestParse(t *testing.T) { // not parallel: a case sets the environment
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "db-url")
	if err := os.WriteFile(secretFile, []byte("postgres://u:pw@127.0.0.1:5432/abuse?sslmode=disable\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		yaml    string
		env     []string
		setenv  map[string]string
		check   func(t *testing.T, c *Config)
		wantErr []string // every substring must appear
	}{
		{
			name: "file values",
			yaml: "database:\n  url: postgres://abuse@127.0.0.1:5432/abuse?sslmode=disable\nhttp:\n  listen: 0.0.0.0:9000\n  shutdown_timeout: 5s\n",
			check: func(t *testing.T, c *Config) {
				if c.Database.URL != "postgres://abuse@127.0.0.1:5432/abuse?sslmode=disable" || c.HTTP.Listen != "0.0.0.0:9000" || c.HTTP.ShutdownTimeout != 5*time.Second {
					t.Errorf("got %+v", c)
				}
				if c.HTTP.ReadHeaderTimeout != 10*time.Second {
					t.Errorf("unset key lost its default: %v", c.HTTP.ReadHeaderTimeout)
				}
			},
		},
		{
			name: "env overrides file",
			yaml: "http:\n  listen: 127.0.0.1:1\n",
			env:  []string{"ABUSEGW_HTTP_LISTEN=127.0.0.1:2", "ABUSEGW_DATABASE_MAX_OPEN_CONNS=3", "ABUSEGW_LOG_LEVEL=debug", "ABUSEGW_DATABASE_BUSY_TIMEOUT=2s"},
			check: func(t *testing.T, c *Config) {
				if c.HTTP.Listen != "127.0.0.1:2" || c.Database.MaxOpenConns != 3 || c.Log.Level != "debug" || c.Database.BusyTimeout != 2*time.Second {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "env key with underscore in its name",
			env:  []string{"ABUSEGW_DATABASE_URL_FILE=" + secretFile, "ABUSEGW_DATA_DIR=/var/lib/abusegw"},
			check: func(t *testing.T, c *Config) {
				if c.Database.URLFile != secretFile || c.DataDir != "/var/lib/abusegw" {
					t.Errorf("got %+v", c)
				}
				u, err := c.DatabaseURL()
				if err != nil || u != "postgres://u:pw@127.0.0.1:5432/abuse?sslmode=disable" {
					t.Errorf("DatabaseURL() = %q, %v", u, err)
				}
			},
		},
		{
			name:   "url from env secret",
			yaml:   "database:\n  url_env: MY_DB\n",
			setenv: map[string]string{"MY_DB": "postgres://x@127.0.0.1:5432/y"},
			check: func(t *testing.T, c *Config) {
				if u, err := c.DatabaseURL(); err != nil || u != "postgres://x@127.0.0.1:5432/y" {
					t.Errorf("DatabaseURL() = %q, %v", u, err)
				}
			},
		},
		{
			name:    "missing env secret",
			yaml:    "database:\n  url_env: ABUSEGW_NO_SUCH_VARIABLE_SET\n",
			wantErr: []string{"database.url", "ABUSEGW_NO_SUCH_VARIABLE_SET"},
		},
		{
			name: "unrelated ABUSEGW variables are ignored",
			env:  []string{"ABUSEGW_TOKEN_INTELMQ=s3cret", "ABUSEGW_CONFIG=/etc/x.yaml", "ABUSEGW_TEST_POSTGRES_URL=x"},
		},
		{
			name:    "unknown key names path and line",
			yaml:    "http:\n  listen: 127.0.0.1:1\n  lisen: 127.0.0.1:2\n",
			wantErr: []string{"line 3", "unknown key http.lisen", "listen"},
		},
		{
			name:    "unknown top-level key",
			yaml:    "databse:\n  url: sqlite://x.db\n",
			wantErr: []string{"line 1", "unknown key databse"},
		},
		{
			name:    "wrong type names key and line",
			yaml:    "database:\n  max_open_conns: many\n",
			wantErr: []string{"line 2", "database.max_open_conns", "many"},
		},
		{
			name:    "wrong type from env names the variable",
			env:     []string{"ABUSEGW_DATABASE_MAX_OPEN_CONNS=lots"},
			wantErr: []string{"ABUSEGW_DATABASE_MAX_OPEN_CONNS", "database.max_open_conns"},
		},
		{
			name:    "bad duration",
			yaml:    "http:\n  shutdown_timeout: soon\n",
			wantErr: []string{"line 2", "http.shutdown_timeout"},
		},
		{
			name:    "invalid values are all reported",
			yaml:    "http:\n  listen: nowhere\nlog:\n  level: loud\ndatabase:\n  url: mysql://x\n",
			wantErr: []string{"http.listen", "log.level", "database.url"},
		},
		{
			name:    "not a mapping",
			yaml:    "- a\n- b\n",
			wantErr: []string{"must be a mapping"},
		},
		{
			name:    "yaml syntax error",
			yaml:    "http:\n  listen: [\n",
			wantErr: []string{"abusegw.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.setenv {
				t.Setenv(k, v)
			}
			cfg, err := Parse([]byte(tt.yaml), "abusegw.yaml", tt.env)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Parse succeeded with %+v, want an error", cfg)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	cfg, err := Load(os.DevNull, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", os.DevNull, err)
	}
	if cfg.Database.URL != Default().Database.URL {
		t.Fatalf("Load(/dev/null) = %+v", cfg)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("database:\n  url: sqlite://abusegw.db\nhttp:\n  listen: 127.0.0.1:8080\n"))
	f.Add([]byte("http: [1, 2]\n"))
	f.Add([]byte("log: {level: debug, format: text}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data, "fuzz.yaml", []string{"ABUSEGW_HTTP_LISTEN=127.0.0.1:1"})
	})
}
