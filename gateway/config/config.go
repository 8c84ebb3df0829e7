// Package config loads abusegw's YAML configuration. Every key has a working
// default, every key can be overridden by an environment variable named after
// its path (http.listen → ABUSEGW_HTTP_LISTEN, connectors[0].url →
// ABUSEGW_CONNECTORS_0_URL), and unknown keys or values of the wrong type are
// errors that name the key and the line.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/channels/imap"
	"github.com/abusegw/abusegw/gateway/channels/shadowserverapi"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/metrics"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/secret"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
	"github.com/abusegw/abusegw/normalizer/csvmap"
)

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "ABUSEGW_"

// Config is the whole configuration.
type Config struct {
	// Dir is the configuration file's directory, against which relative
	// paths in it are resolved ("" without a file). Not a key.
	Dir string `yaml:"-"`
	// DataDir holds files abusegw keeps beside the database (an updated
	// Shadowserver schema, for one). Default: the working directory.
	DataDir  string   `yaml:"data_dir"`
	Database Database `yaml:"database"`
	HTTP     HTTP     `yaml:"http"`
	Log      Log      `yaml:"log"`
	// Normalizer configures report parsing beyond the built-in formats.
	Normalizer Normalizer `yaml:"normalizer"`
	// Ingest configures how reports are stored.
	Ingest Ingest `yaml:"ingest"`
	// Contacts are the sources that say who owns an address, asked in order.
	Contacts      []contacts.SourceConfig `yaml:"contacts"`
	ContactsCache contacts.CacheConfig    `yaml:"contacts_cache"`
	// Unowned says what happens to events nobody owns.
	Unowned contacts.UnownedConfig `yaml:"unowned"`
	// Connectors are the helpdesks tickets go to.
	Connectors []Connector `yaml:"connectors"`
	// Routing chooses connector, queue and notification per event.
	Routing routing.Config `yaml:"routing"`
	// Cases configures aggregation and the case lifecycle.
	Cases cases.Config `yaml:"cases"`
	// Desk is who writes to customers.
	Desk cases.Desk `yaml:"desk"`
	// Templates configures ticket texts.
	Templates Templates `yaml:"templates"`
	// IMAP are the mailboxes reports arrive in.
	IMAP []imap.Config `yaml:"imap"`
	// ShadowserverAPI pulls reports from Shadowserver's Reports API.
	ShadowserverAPI shadowserverapi.Config `yaml:"shadowserver_api"`
	// Metrics configures the compliance figures (SLA, relapse window, not-acted reasons).
	Metrics metrics.Config `yaml:"metrics"`
	// Sync schedules the reconcile of ticket status with the helpdesks.
	Sync gwsync.Config `yaml:"sync"`
	// Spool is the watched directory `serve` ingests files dropped into.
	Spool Spool `yaml:"spool"`
}

// Spool configures the watched directory.
type Spool struct {
	// Dir is the directory watched; "" (the default) watches none. Files
	// taken from it move to Dir/processed or Dir/failed.
	Dir string `yaml:"dir"`
	// Interval is how often the directory is scanned. Default 30 s.
	Interval time.Duration `yaml:"interval"`
	// StableFor is how long a file must keep its size and modification
	// time before it is taken. Default 10 s.
	StableFor time.Duration `yaml:"stable_for"`
}

// Ingest configures report storage.
type Ingest struct {
	// InlineMax is the largest report kept inside the database; larger ones
	// are files under data_dir/reports. Default 8 MiB.
	InlineMax int64 `yaml:"inline_max"`
	// MaxReport refuses larger reports. Default 0: no limit.
	MaxReport int64 `yaml:"max_report"`
}

// Templates configures the ticket texts.
type Templates struct {
	// Dir overrides the embedded templates and advice file by file
	// (DIR/en/subject.tmpl, DIR/advice/de.yaml, …).
	Dir string `yaml:"dir"`
	// MaxIPs is how many addresses a message lists. Default 50.
	MaxIPs int `yaml:"max_ips"`
}

// Normalizer configures report parsing.
type Normalizer struct {
	// CSV are generic CSV feeds: column → event field mappings for feeds
	// no built-in parser knows.
	CSV []csvmap.Mapping `yaml:"csv"`
}

// Database says where the data lives.
type Database struct {
	// URL is sqlite://FILE (default sqlite://abusegw.db) or
	// postgres://USER@HOST:PORT/DB?sslmode=…
	URL string `yaml:"url"`
	// URLEnv and URLFile give the URL as a secret, for URLs with passwords.
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`
	// MaxOpenConns bounds the connection pool (0: 8 on SQLite, 16 on PostgreSQL).
	MaxOpenConns int `yaml:"max_open_conns"`
	// BusyTimeout is how long SQLite writers queue for the lock.
	BusyTimeout time.Duration `yaml:"busy_timeout"`
	// ConnectTimeout bounds connecting at start.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// HTTP configures the server of `abusegw serve`.
type HTTP struct {
	Listen            string        `yaml:"listen"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may take to finish
	// after SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Tokens are the bearer tokens the ingest API accepts; without any, the
	// ingest API is disabled.
	Tokens []Token `yaml:"tokens"`
	// MaxReportBytes is the largest request body the ingest API accepts.
	// Default 256 MiB.
	MaxReportBytes int64 `yaml:"max_report_bytes"`
}

// Token is one bearer token of the HTTP API, given one way only: inline
// (token), as an environment variable (token_env) or a file (token_file).
type Token struct {
	// Name says who uses the token (logged, never the token itself).
	Name      string `yaml:"name"`
	Token     string `yaml:"token"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
}

// Secret is the token's secret reference.
func (t Token) Secret() secret.Ref {
	return secret.Ref{Value: t.Token, Env: t.TokenEnv, File: t.TokenFile}
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Default returns the configuration used when nothing is configured: SQLite
// in the working directory, HTTP on 127.0.0.1:8080, JSON logs at info.
func Default() Config {
	return Config{
		DataDir: ".",
		Database: Database{
			URL:            "sqlite://abusegw.db",
			BusyTimeout:    30 * time.Second,
			ConnectTimeout: 10 * time.Second,
		},
		HTTP: HTTP{
			Listen:            "127.0.0.1:8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       5 * time.Minute,
			WriteTimeout:      5 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   30 * time.Second,
			MaxReportBytes:    256 << 20,
		},
		Log:   Log{Level: "info", Format: "json"},
		Spool: Spool{Interval: 30 * time.Second, StableFor: 10 * time.Second},
	}
}

// DatabaseURL resolves the database URL, which may be given as a secret.
func (c *Config) DatabaseURL() (string, error) {
	ref := secret.Ref{Env: c.Database.URLEnv, File: c.Database.URLFile}
	if ref.IsSet() {
		u, err := ref.Resolve()
		if err != nil {
			return "", fmt.Errorf("database.url: %w", err)
		}
		return u, nil
	}
	return c.Database.URL, nil
}

// Validate checks the values that decoding cannot, and returns every problem
// joined, one per line.
func (c *Config) Validate() error {
	var errs []error
	if c.Database.URLEnv != "" && c.Database.URLFile != "" {
		errs = append(errs, errors.New("database: give url_env or url_file, not both"))
	}
	if u, err := c.DatabaseURL(); err != nil {
		errs = append(errs, err)
	} else if !strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		errs = append(errs, errors.New("database.url: want sqlite://FILE or postgres://USER@HOST:PORT/DB"))
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		errs = append(errs, fmt.Errorf("http.listen: %q is not HOST:PORT", c.HTTP.Listen))
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		errs = append(errs, err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		errs = append(errs, fmt.Errorf("log.format: %q is neither json nor text", c.Log.Format))
	}
	errs = append(errs, c.validateParts()...)
	errs = append(errs, c.validateIngestChannels()...)
	for name, d := range map[string]time.Duration{
		"database.busy_timeout": c.Database.BusyTimeout, "http.shutdown_timeout": c.HTTP.ShutdownTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	return errors.Join(errs...)
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// Load reads the file at path (none when path is ""), applies the
// ABUSEGW_* variables of environ over it, and validates the result.
func Load(path string, environ []string) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		data = b
	}
	cfg, err := Parse(data, path, environ)
	if err != nil {
		return nil, err
	}
	if path != "" {
		cfg.Dir = filepath.Dir(path)
	}
	return cfg, nil
}

// ConnectorNames lists the configured connectors' names.
func (c *Config) ConnectorNames() []string {
	names := make([]string, 0, len(c.Connectors))
	for _, k := range c.Connectors {
		names = append(names, k.Name())
	}
	return names
}

// validateParts checks the blocks that belong to other packages, and how
// they refer to each other.
func (c *Config) validateParts() []error {
	var errs []error
	seen := map[string]bool{}
	for i, k := range c.Connectors {
		if err := k.Config.Base().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("connectors[%d]: %w", i, err))
		}
		if seen[k.Name()] {
			errs = append(errs, fmt.Errorf("connectors[%d]: name %q is used twice", i, k.Name()))
		}
		seen[k.Name()] = true
	}
	if err := contacts.ValidateSources(c.Contacts); err != nil {
		errs = append(errs, err)
	}
	if err := c.ContactsCache.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Unowned.Validate(); err != nil {
		errs = append(errs, err)
	}
	var names []string
	if len(c.Connectors) > 0 {
		names = c.ConnectorNames()
	}
	if _, err := routing.New(c.Routing, names); err != nil {
		errs = append(errs, err)
	}
	if len(c.Connectors) > 0 && c.Routing.DefaultConnector == "" {
		if len(c.Connectors) == 1 {
			c.Routing.DefaultConnector = c.Connectors[0].Name()
		} else {
			errs = append(errs, errors.New("routing.default_connector: several connectors are configured; name the default one"))
		}
	}
	if err := c.Cases.Validate(); err != nil {
		errs = append(errs, err)
	}
	imapNames := map[string]bool{}
	for i, m := range c.IMAP {
		if err := m.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("imap[%d]: %w", i, err))
		}
		if imapNames[m.Name] {
			errs = append(errs, fmt.Errorf("imap[%d]: name %q is used twice", i, m.Name))
		}
		imapNames[m.Name] = true
	}
	if err := c.ShadowserverAPI.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Sync.Validate(names); err != nil {
		errs = append(errs, err)
	}
	if err := c.Metrics.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Ingest.InlineMax < 0 || c.Ingest.MaxReport < 0 || c.Templates.MaxIPs < 0 {
		errs = append(errs, errors.New("ingest.inline_max, ingest.max_report and templates.max_ips must not be negative"))
	}
	return errs
}

// validateIngestChannels checks the HTTP tokens and limits and the spool
// directory.
func (c *Config) validateIngestChannels() []error {
	var errs []error
	names := map[string]bool{}
	for i, t := range c.HTTP.Tokens {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("http.tokens[%d]: name is missing", i))
		} else if names[t.Name] {
			errs = append(errs, fmt.Errorf("http.tokens[%d]: name %q is used twice", i, t.Name))
		}
		names[t.Name] = true
		ref := t.Secret()
		if !ref.IsSet() {
			errs = append(errs, fmt.Errorf("http.tokens[%d]: give token, token_env or token_file", i))
		} else if err := ref.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("http.tokens[%d]: give token, token_env or token_file, only one of them", i))
		}
	}
	if c.HTTP.MaxReportBytes <= 0 {
		errs = append(errs, errors.New("http.max_report_bytes: must be positive"))
	}
	if c.Spool.Interval <= 0 || c.Spool.StableFor < 0 {
		errs = append(errs, errors.New("spool.interval must be positive and spool.stable_for must not be negative"))
	}
	return errs
}
