package rt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/secret"
)

// Config is one `type: rt` entry of the `connectors:` list:
//
//   - name: rt
//     type: rt
//     url: http://127.0.0.1:8087/
//     token_env: RT_TOKEN          # or token / token_file, or user + password_env / password_file
//     queue: Abuse
//     key_field: AbuseKey          # ticket custom field holding the case key
//     reason_field: ClosureReason  # optional ticket custom field: why it was closed
//     rate_limit: 10
type Config struct {
	connectors.Common `yaml:",inline"`

	// URL is RT's WebBaseURL plus WebPath (REST2 lives under REST/2.0/).
	URL string `yaml:"url"`

	// An auth token (RT 5: Settings → Auth Tokens), given one way.
	Token     secret.Redacted `yaml:"token"`
	TokenEnv  string          `yaml:"token_env"`
	TokenFile string          `yaml:"token_file"`

	// Or an RT user and password (basic auth), the password given one way.
	User         string          `yaml:"user"`
	Password     secret.Redacted `yaml:"password"`
	PasswordEnv  string          `yaml:"password_env"`
	PasswordFile string          `yaml:"password_file"`

	// Queue receives new tickets unless the CreateRequest names another.
	Queue string `yaml:"queue"`
	// KeyField is the ticket custom field that holds the case key; it must
	// exist and apply to Queue, because RT silently drops unknown custom
	// fields on create. Default DefaultKeyField.
	KeyField string `yaml:"key_field"`
	// ReasonField is an optional ticket custom field read as the closure
	// reason.
	ReasonField string `yaml:"reason_field"`
	// PageSize is how many tickets one ListUpdated page holds (1-100,
	// RT's maximum); default 100.
	PageSize int `yaml:"page_size"`

	// WebhookSecret is the shared secret that the abusegw scrip in RT
	// (deploy/rt) signs its status-change POSTs with (HMAC-SHA256 over the
	// body). Without it, POST /webhooks/{name} refuses every request.
	WebhookSecret     secret.Redacted `yaml:"webhook_secret"`
	WebhookSecretEnv  string          `yaml:"webhook_secret_env"`
	WebhookSecretFile string          `yaml:"webhook_secret_file"`
}

// Defaults.
const (
	DefaultKeyField = "AbuseKey"
	MaxPageSize     = 100 // RT caps per_page at 100
)

// ApplyDefaults fills unset optional keys.
func (c *Config) ApplyDefaults() {
	c.Common.ApplyDefaults()
	if c.KeyField == "" {
		c.KeyField = DefaultKeyField
	}
	if c.PageSize == 0 {
		c.PageSize = MaxPageSize
	}
}

// tokenRef and passwordRef say where the secrets come from.
func (c *Config) tokenRef() secret.Ref {
	return secret.Ref{Value: string(c.Token), Env: c.TokenEnv, File: c.TokenFile}
}

func (c *Config) webhookSecretRef() secret.Ref {
	return secret.Ref{Value: string(c.WebhookSecret), Env: c.WebhookSecretEnv, File: c.WebhookSecretFile}
}

func (c *Config) passwordRef() secret.Ref {
	return secret.Ref{Value: string(c.Password), Env: c.PasswordEnv, File: c.PasswordFile}
}

// Validate checks the config without resolving secrets; each problem names
// its key.
func (c *Config) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.URL == "" {
		errs = append(errs, errors.New("missing url"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q: want http(s)://host[:port]/[path]", c.URL))
	}
	tok, pw := c.tokenRef(), c.passwordRef()
	if err := tok.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("token: %w", err))
	}
	if err := pw.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("password: %w", err))
	}
	if err := c.webhookSecretRef().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("webhook_secret: %w", err))
	}
	switch {
	case tok.IsSet() && (c.User != "" || pw.IsSet()):
		errs = append(errs, errors.New("give either a token or user and password, not both"))
	case !tok.IsSet() && c.User == "":
		errs = append(errs, errors.New("missing credentials: token_env, token_file or token, or user with password_env or password_file"))
	case c.User != "" && !pw.IsSet():
		errs = append(errs, fmt.Errorf("user %q: missing password_env, password_file or password", c.User))
	}
	if strings.TrimSpace(c.Queue) == "" {
		errs = append(errs, errors.New("missing queue"))
	}
	if strings.ContainsAny(c.KeyField, "{}'") || strings.ContainsAny(c.ReasonField, "{}'") {
		errs = append(errs, errors.New("key_field and reason_field must not contain {, } or '"))
	}
	if c.PageSize < 0 || c.PageSize > MaxPageSize {
		errs = append(errs, fmt.Errorf("page_size %d: must be 1-%d", c.PageSize, MaxPageSize))
	}
	return errors.Join(errs...)
}
