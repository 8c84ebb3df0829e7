package connectors

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Common holds the configuration keys every connector has. Each connector's
// config struct embeds it with `yaml:",inline"`, so one `connectors:` entry
// reads
//
//   - name: rt
//     type: rt
//     rate_limit: 10
//     concurrency: 2
//     timeout: 30s
//     status_map: {investigating: open}
//     url: …                      # and the type's own keys
type Common struct {
	// Name identifies this connector instance in routing, webhooks
	// (/webhooks/{name}), metrics and logs.
	Name string `yaml:"name"`
	// Type selects the implementation (see connectors/registry).
	Type string `yaml:"type"`
	// RateLimit is the most outbox operations per second run against this
	// helpdesk (one operation makes one to four HTTP requests: a create may
	// look the key up first, a reopen sets the status and then comments);
	// 0 means no limit.
	RateLimit float64 `yaml:"rate_limit"`
	// Concurrency is how many operations the outbox runs at once against
	// this helpdesk; 0 means DefaultConcurrency.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one HTTP request; 0 means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// StatusMap overrides or extends the embedded status map: the helpdesk's
	// status name → a canonical status (new, open, pending, resolved, closed).
	StatusMap map[string]string `yaml:"status_map"`
}

// Defaults for Common.
const (
	DefaultConcurrency = 1
	DefaultTimeout     = 30 * time.Second
)

// Base returns c itself. Every connector config embeds Common, so the config
// loader and the outbox reach the common keys of any decoded config through
// the [Configurer] interface without knowing its type.
func (c *Common) Base() *Common { return c }

// Configurer is satisfied by a pointer to every connector config.
type Configurer interface{ Base() *Common }

// ApplyDefaults fills unset optional keys.
func (c *Common) ApplyDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Validate checks the common keys; problems are joined, each naming its key.
func (c *Common) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("missing name"))
	}
	if c.Type == "" {
		errs = append(errs, errors.New("missing type"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate_limit %v: must not be negative", c.RateLimit))
	}
	if c.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d: must not be negative", c.Concurrency))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must not be negative", c.Timeout))
	}
	for theirs, ours := range c.StatusMap {
		if !Status(ours).Valid() {
			errs = append(errs, fmt.Errorf("status_map %q: %q is not one of new, open, pending, resolved, closed", theirs, ours))
		}
	}
	return errors.Join(errs...)
}

// Deps are what a connector gets from the program rather than from its
// config.
type Deps struct {
	// HTTPClient is used for every request; nil means a new client with the
	// configured timeout. Connectors copy it and set what they need (RT turns
	// off redirects and cookies), so one client can be shared.
	HTTPClient *http.Client
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// UserAgent is sent with every request; empty means "abusegw".
	UserAgent string
}

// DefaultUserAgent is the User-Agent when Deps.UserAgent is empty. It must
// not contain "Mozilla": RT answers browsers with a login redirect.
const DefaultUserAgent = "abusegw"
