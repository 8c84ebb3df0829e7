package shadowserverapi

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/abusegw/abusegw/gateway/secret"
)

// DefaultURL is Shadowserver's API root.
const DefaultURL = "https://transform.shadowserver.org/api2/"

// Config is the `shadowserver_api:` block.
//
//	shadowserver_api:
//	  enabled: true
//	  key_env: SHADOWSERVER_API_KEY
//	  secret_env: SHADOWSERVER_API_SECRET
//	  schedule: "0 * * * *"
//	  days: 3
//	  reports: []        # report types to fetch; empty: all
type Config struct {
	Enabled bool `yaml:"enabled"`
	// URL is the API root. Default https://transform.shadowserver.org/api2/.
	URL string `yaml:"url"`
	// The API key and secret, from the environment or files.
	KeyEnv     string `yaml:"key_env"`
	KeyFile    string `yaml:"key_file"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Schedule is a cron expression (five fields, or @hourly and friends).
	// Default "0 * * * *": every hour.
	Schedule string `yaml:"schedule"`
	// Days is how far back the first run looks. Default 3. Later runs look
	// from the last successful run, less a day of overlap.
	Days int `yaml:"days"`
	// Reports are the report types to fetch (scan_ntp, event4_sinkhole, …);
	// empty fetches every report the key can see.
	Reports []string `yaml:"reports"`
	// Lists are the mailing lists (Shadowserver's "reports" parameter, e.g.
	// your organisation's list) to ask about; empty asks about all of the
	// key's.
	Lists []string `yaml:"lists"`
	// PageSize is the limit of one reports/list call. Default 1000.
	PageSize int `yaml:"page_size"`
	// Timeout bounds each HTTP request. Default 10m (downloads are large).
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how often a failed request (a network error, 429, 5xx) is
	// tried again, with exponential backoff. Default 4.
	Retries int `yaml:"retries"`
}

// Key and Secret are the configured credentials.
func (c Config) Key() secret.Ref { return secret.Ref{Env: c.KeyEnv, File: c.KeyFile} }

// Secret is the HMAC secret as configured.
func (c Config) Secret() secret.Ref { return secret.Ref{Env: c.SecretEnv, File: c.SecretFile} }

// WithDefaults fills in what is not configured.
func (c Config) WithDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Schedule == "" {
		c.Schedule = "0 * * * *"
	}
	if c.Days == 0 {
		c.Days = 3
	}
	if c.PageSize == 0 {
		c.PageSize = 1000
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Retries == 0 {
		c.Retries = 4
	}
	return c
}

// Resolve makes relative secret files relative to dir.
func (c Config) Resolve(dir string) Config {
	abs := func(p string) string {
		if p == "" || dir == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.KeyFile, c.SecretFile = abs(c.KeyFile), abs(c.SecretFile)
	return c
}

// Validate checks the block (only when enabled); the errors name its keys.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url: %q is not an http(s) URL", c.URL))
		}
	}
	for name, r := range map[string]secret.Ref{"key": c.Key(), "secret": c.Secret()} {
		if !r.IsSet() {
			errs = append(errs, fmt.Errorf("%[1]s_env or %[1]s_file: missing", name))
		} else if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if c.Schedule != "" {
		if _, err := cron.ParseStandard(c.Schedule); err != nil {
			errs = append(errs, fmt.Errorf("schedule: %q: %w", c.Schedule, err))
		}
	}
	if c.Days < 0 || c.PageSize < 0 || c.Retries < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("days, page_size, retries, timeout: must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shadowserver_api: %w", err)
	}
	return nil
}
