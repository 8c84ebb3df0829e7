package imap

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/abusegw/abusegw/gateway/secret"
)

// TLS modes of Config.TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (port 993)
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 143)
	TLSNone     = "none"     // no encryption at all (tests, a local relay)
)

// What happens to a message once it is durably stored (Config.After).
const (
	AfterFlag = "flag" // set \Seen and leave it where it is
	AfterMove = "move" // move it to Config.ProcessedFolder
)

// Config is one IMAP account of the `imap:` list.
//
//	imap:
//	  - name: abuse-inbox
//	    address: imap.example.net:993
//	    tls: implicit            # implicit, starttls, none
//	    user: abuse
//	    password_env: IMAP_PASSWORD
//	    mailboxes: [INBOX]
//	    interval: 1m
//	    after: move              # or flag
//	    processed_folder: Processed
//	    failed_folder: Failed
type Config struct {
	// Name identifies the account in logs and in the cursors table.
	Name string `yaml:"name"`
	// Address is HOST:PORT of the server.
	Address string `yaml:"address"`
	// TLS is implicit (default), starttls or none.
	TLS string `yaml:"tls"`
	// InsecureSkipVerify turns certificate verification off. Default false;
	// prefer ca_file for a private CA.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// CAFile is a PEM file of the CAs trusted for the server certificate
	// instead of the system's.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name expected in the certificate (default: the
	// host of Address).
	ServerName string `yaml:"server_name"`
	// User logs in with PasswordEnv or PasswordFile.
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// Mailboxes are polled, each by its own connection. Default [INBOX].
	Mailboxes []string `yaml:"mailboxes"`
	// Interval between polls. Default 1m. Where the server offers IDLE, a
	// new message wakes the poller early.
	Interval time.Duration `yaml:"interval"`
	// DisableIdle polls by interval only, even where IDLE is offered.
	DisableIdle bool `yaml:"disable_idle"`
	// After is flag (default: set \Seen) or move (to ProcessedFolder).
	After string `yaml:"after"`
	// ProcessedFolder receives stored messages with after: move. Default
	// Processed. Created when missing.
	ProcessedFolder string `yaml:"processed_folder"`
	// FailedFolder, when set, receives messages whose report could not be
	// processed (failed or unrecognized). Created when missing.
	FailedFolder string `yaml:"failed_folder"`
	// Timeout bounds connecting and each command's answer. Default 1m.
	Timeout time.Duration `yaml:"timeout"`
}

// Password is the account's secret as configured.
func (c Config) Password() secret.Ref {
	return secret.Ref{Env: c.PasswordEnv, File: c.PasswordFile}
}

// WithDefaults fills in what is not configured.
func (c Config) WithDefaults() Config {
	if c.TLS == "" {
		c.TLS = TLSImplicit
	}
	if len(c.Mailboxes) == 0 {
		c.Mailboxes = []string{"INBOX"}
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.After == "" {
		c.After = AfterFlag
	}
	if c.ProcessedFolder == "" {
		c.ProcessedFolder = "Processed"
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	return c
}

// Resolve makes the account's relative file paths relative to dir (the
// configuration file's directory).
func (c Config) Resolve(dir string) Config {
	abs := func(p string) string {
		if p == "" || dir == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.CAFile = abs(c.CAFile)
	c.PasswordFile = abs(c.PasswordFile)
	return c
}

// Validate checks one account; the errors name its keys.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: missing"))
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("address: %q is not HOST:PORT", c.Address))
	}
	switch c.TLS {
	case "", TLSImplicit, TLSStartTLS, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("tls: %q is not one of implicit, starttls, none", c.TLS))
	}
	if c.User == "" {
		errs = append(errs, errors.New("user: missing"))
	}
	if c.PasswordEnv == "" && c.PasswordFile == "" {
		errs = append(errs, errors.New("password_env or password_file: missing"))
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("password_env, password_file: give one, not both"))
	}
	switch c.After {
	case "", AfterFlag, AfterMove:
	default:
		errs = append(errs, fmt.Errorf("after: %q is neither flag nor move", c.After))
	}
	if c.Interval < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("interval, timeout: must not be negative"))
	}
	seen := map[string]bool{}
	for _, m := range c.Mailboxes {
		if m == "" || seen[m] {
			errs = append(errs, fmt.Errorf("mailboxes: %q is empty or listed twice", m))
		}
		seen[m] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("imap %s: %w", c.Name, err)
	}
	return nil
}
