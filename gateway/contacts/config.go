package contacts

import (
	"errors"
	"fmt"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/gateway/secret"
)

// Source types.
const (
	TypeFile = "file"
	TypeSQL  = "sql"
	TypeHTTP = "http"
)

// Defaults used when a duration or size is left at zero.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultReload       = 10 * time.Second
	DefaultCacheTTL     = 10 * time.Minute
	DefaultCacheSize    = 100_000
	DefaultMaxOpenConns = 4
)

// SourceConfig is one entry of the `contacts:` list. Type says which of the
// other keys apply; Validate rejects keys that don't.
//
//	contacts:
//	  - type: file                # file, sql or http
//	    name: customers           # optional; default: the type (type-N when a type repeats)
//	    path: customers.csv       # file: CSV or YAML, relative to the config directory
//	    format: csv               # file: csv or yaml (default: from the extension)
//	    reload: 10s               # file: check for changes at most this often (-1s: never)
//	  - type: sql
//	    driver: postgres          # postgres or mysql (default: from the URL's scheme)
//	    url_env: CRM_DATABASE_URL # or url, url_file
//	    query: SELECT network, customer, name, email FROM crm WHERE $1::inet <<= network ORDER BY masklen(network) DESC LIMIT 1
//	    timeout: 5s
//	    max_open_conns: 4
//	  - type: http
//	    url: https://crm.example.net/lookup?ip={ip}   # {ip}, {asn}, {fqdn}
//	    timeout: 5s
//	    token_env: CRM_TOKEN      # bearer token (token, token_env, token_file)
//	    username: abusegw         # or basic auth (password, password_env, password_file)
//	    headers: {Accept: application/json}
type SourceConfig struct {
	Type string `yaml:"type"`
	Name string `yaml:"name"`

	// file
	Path   string        `yaml:"path"`
	Format string        `yaml:"format"`
	Reload time.Duration `yaml:"reload"`

	// sql and http: the DSN or URL template, possibly a secret.
	URL     string `yaml:"url"`
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`

	// sql
	Driver       string `yaml:"driver"`
	Query        string `yaml:"query"`
	MaxOpenConns int    `yaml:"max_open_conns"`

	// sql and http: bound on one lookup.
	Timeout time.Duration `yaml:"timeout"`

	// http
	Headers      map[string]string `yaml:"headers"`
	Token        string            `yaml:"token"`
	TokenEnv     string            `yaml:"token_env"`
	TokenFile    string            `yaml:"token_file"`
	Username     string            `yaml:"username"`
	Password     string            `yaml:"password"`
	PasswordEnv  string            `yaml:"password_env"`
	PasswordFile string            `yaml:"password_file"`
}

// CacheConfig is the `contacts_cache:` block. The cache holds the answers of
// sql and http sources (file sources are faster than any cache).
//
//	contacts_cache:
//	  ttl: 10m           # how long an answer is kept (default 10m; -1s: no cache)
//	  negative_ttl: 10m  # how long "nobody owns it" is kept (default: ttl)
//	  size: 100000       # most entries kept (default 100000)
type CacheConfig struct {
	TTL         time.Duration `yaml:"ttl"`
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	Size        int           `yaml:"size"`
}

// UnownedConfig is the `unowned:` block: what happens to events nobody owns.
//
//	unowned:
//	  action: catch_all   # or drop (the default)
//	  customer: {customer: abuse-desk, name: Our abuse desk, email: abuse@example.net}
type UnownedConfig struct {
	Action   string         `yaml:"action"`
	Customer CustomerConfig `yaml:"customer"`
}

// Unowned actions.
const (
	ActionDrop     = "drop"
	ActionCatchAll = "catch_all"
)

// CustomerConfig is a customer written in the configuration, with the same
// keys as a file source's columns.
type CustomerConfig struct {
	Customer  string `yaml:"customer"`
	Name      string `yaml:"name"`
	Email     List   `yaml:"email"`
	Connector string `yaml:"connector"`
	Queue     string `yaml:"queue"`
	Language  string `yaml:"language"`
	Tags      List   `yaml:"tags"`
}

// List is a list of strings written either as a YAML sequence or as one
// string separated by ";" or ",".
type List []string

// UnmarshalYAML accepts a scalar ("a@x; b@y") or a sequence of scalars.
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*l = nil
			return nil
		}
		*l = splitList(n.Value)
		return nil
	case yaml.SequenceNode:
		var out List
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a string, found a %s", c.Line, kindName(c.Kind))
			}
			out = append(out, splitList(c.Value)...)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings, found a %s", n.Line, kindName(n.Kind))
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

// splitList splits a cell on ";" and ",", trimming spaces and dropping empty
// parts.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' })
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// customer turns the configured customer into a Customer, validating it.
func (c CustomerConfig) customer(source string) (Customer, error) {
	cu := Customer{
		Key:       strings.TrimSpace(c.Customer),
		Name:      strings.TrimSpace(c.Name),
		Connector: strings.TrimSpace(c.Connector),
		Queue:     strings.TrimSpace(c.Queue),
		Language:  strings.TrimSpace(c.Language),
		Tags:      slices.Clone([]string(c.Tags)),
		Source:    source,
	}
	if cu.Key == "" {
		return Customer{}, &fieldError{"customer", errors.New("missing (the customer's id)")}
	}
	for _, e := range c.Email {
		addr, err := checkEmail(e)
		if err != nil {
			return Customer{}, &fieldError{"email", err}
		}
		cu.Emails = appendUnique(cu.Emails, addr)
	}
	return cu, nil
}

// fieldError is a problem with one key of a customer.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// checkEmail accepts a bare address (local@domain) and returns it trimmed.
func checkEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", fmt.Errorf("%q is not an e-mail address (want local@domain)", s)
	}
	return s, nil
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// Validate checks the block and returns every problem joined.
func (u UnownedConfig) Validate() error {
	switch u.Action {
	case "", ActionDrop:
		if u.Customer.Customer != "" {
			return errors.New("unowned.customer: set only with action: catch_all")
		}
		return nil
	case ActionCatchAll:
		if _, err := u.Customer.customer("catch_all"); err != nil {
			return fmt.Errorf("unowned.customer.%w", err)
		}
		return nil
	}
	return fmt.Errorf("unowned.action: %q is neither catch_all nor drop", u.Action)
}

// Validate checks the block.
func (c CacheConfig) Validate() error {
	if c.Size < 0 {
		return errors.New("contacts_cache.size: must not be negative")
	}
	return nil
}

// field is one key of a SourceConfig and whether it is set.
type field struct {
	key string
	set bool
}

func (c *SourceConfig) fields() []field {
	return []field{
		{"path", c.Path != ""}, {"format", c.Format != ""}, {"reload", c.Reload != 0},
		{"url", c.URL != ""}, {"url_env", c.URLEnv != ""}, {"url_file", c.URLFile != ""},
		{"driver", c.Driver != ""}, {"query", c.Query != ""}, {"max_open_conns", c.MaxOpenConns != 0},
		{"timeout", c.Timeout != 0},
		{"headers", len(c.Headers) > 0},
		{"token", c.Token != ""}, {"token_env", c.TokenEnv != ""}, {"token_file", c.TokenFile != ""},
		{"username", c.Username != ""},
		{"password", c.Password != ""}, {"password_env", c.PasswordEnv != ""}, {"password_file", c.PasswordFile != ""},
	}
}

var allowedKeys = map[string][]string{
	TypeFile: {"path", "format", "reload"},
	TypeSQL:  {"url", "url_env", "url_file", "driver", "query", "max_open_conns", "timeout"},
	TypeHTTP: {"url", "url_env", "url_file", "timeout", "headers", "token", "token_env", "token_file",
		"username", "password", "password_env", "password_file"},
}

func (c *SourceConfig) urlRef() secret.Ref {
	return secret.Ref{Value: c.URL, Env: c.URLEnv, File: c.URLFile}
}

func (c *SourceConfig) tokenRef() secret.Ref {
	return secret.Ref{Value: c.Token, Env: c.TokenEnv, File: c.TokenFile}
}

func (c *SourceConfig) passwordRef() secret.Ref {
	return secret.Ref{Value: c.Password, Env: c.PasswordEnv, File: c.PasswordFile}
}

// Validate checks one source without touching files, the network or the
// environment, and returns every problem joined. Its messages start with the
// key they are about (relative to the list entry).
func (c *SourceConfig) Validate() error {
	allowed, ok := allowedKeys[c.Type]
	if !ok {
		if c.Type == "" {
			return errors.New("type: missing (file, sql or http)")
		}
		return fmt.Errorf("type: %q is not one of file, sql, http", c.Type)
	}
	var errs []error
	for _, f := range c.fields() {
		if f.set && !slices.Contains(allowed, f.key) {
			errs = append(errs, fmt.Errorf("%s: does not apply to a %s source (keys here: type, name, %s)", f.key, c.Type, strings.Join(allowed, ", ")))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	switch c.Type {
	case TypeFile:
		if c.Path == "" {
			errs = append(errs, errors.New("path: missing (a CSV or YAML file)"))
		}
		if _, err := c.fileFormat(); err != nil {
			errs = append(errs, err)
		}
	case TypeSQL:
		errs = append(errs, c.checkURL("a database URL")...)
		if strings.TrimSpace(c.Query) == "" {
			errs = append(errs, errors.New("query: missing"))
		}
		if c.Driver != "" && c.Driver != "postgres" && c.Driver != "mysql" {
			errs = append(errs, fmt.Errorf("driver: %q is neither postgres nor mysql", c.Driver))
		}
		if c.URL != "" {
			if _, _, err := sqlDriver(c.Driver, c.URL); err != nil {
				errs = append(errs, fmt.Errorf("url: %w", err))
			}
		}
		if c.MaxOpenConns < 0 {
			errs = append(errs, errors.New("max_open_conns: must not be negative"))
		}
	case TypeHTTP:
		errs = append(errs, c.checkURL("a URL template with {ip}, {asn} or {fqdn}")...)
		if c.URL != "" {
			if err := checkTemplate(c.URL); err != nil {
				errs = append(errs, fmt.Errorf("url: %w", err))
			}
		}
		if err := c.tokenRef().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("token: %w", err))
		}
		if err := c.passwordRef().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("password: %w", err))
		}
		if c.tokenRef().IsSet() && (c.Username != "" || c.passwordRef().IsSet()) {
			errs = append(errs, errors.New("token: give a bearer token or username/password, not both"))
		}
		if c.passwordRef().IsSet() && c.Username == "" {
			errs = append(errs, errors.New("username: missing (a password is set)"))
		}
	}
	return errors.Join(errs...)
}

func (c *SourceConfig) checkURL(what string) []error {
	ref := c.urlRef()
	if !ref.IsSet() {
		return []error{fmt.Errorf("url: missing (%s; or url_env, url_file)", what)}
	}
	if err := ref.Validate(); err != nil {
		return []error{fmt.Errorf("url: %w", err)}
	}
	return nil
}

// fileFormat returns "csv" or "yaml".
func (c *SourceConfig) fileFormat() (string, error) {
	switch strings.ToLower(c.Format) {
	case "csv":
		return "csv", nil
	case "yaml", "yml":
		return "yaml", nil
	case "":
		switch strings.ToLower(filepath.Ext(c.Path)) {
		case ".yaml", ".yml":
			return "yaml", nil
		default:
			return "csv", nil
		}
	}
	return "", fmt.Errorf("format: %q is neither csv nor yaml", c.Format)
}

// ValidateSources checks every entry of the `contacts:` list and that their
// names are unique. Messages name the entry as contacts[i].
func ValidateSources(cfgs []SourceConfig) error {
	var errs []error
	for i := range cfgs {
		if err := cfgs[i].Validate(); err != nil {
			errs = append(errs, prefixErrors(fmt.Sprintf("contacts[%d].", i), err)...)
		}
	}
	seen := map[string]int{}
	for i, name := range sourceNames(cfgs) {
		if j, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("contacts[%d].name: %q is also the name of contacts[%d]", i, name, j))
			continue
		}
		seen[name] = i
	}
	return errors.Join(errs...)
}

// prefixErrors splits a joined error and puts prefix in front of each.
func prefixErrors(prefix string, err error) []error {
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fmt.Errorf("%s%w", prefix, e))
		}
		return out
	}
	return []error{fmt.Errorf("%s%w", prefix, err)}
}

// sourceNames gives each source its name: the configured one, else its
// type, else (when a type repeats) type-N with N counted from 1 per type.
func sourceNames(cfgs []SourceConfig) []string {
	count := map[string]int{}
	for _, c := range cfgs {
		if c.Name == "" {
			count[c.Type]++
		}
	}
	n := map[string]int{}
	names := make([]string, len(cfgs))
	for i, c := range cfgs {
		switch {
		case c.Name != "":
			names[i] = c.Name
		case count[c.Type] == 1:
			names[i] = c.Type
		default:
			n[c.Type]++
			names[i] = fmt.Sprintf("%s-%d", c.Type, n[c.Type])
		}
	}
	return names
}
