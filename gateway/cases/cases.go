// Package cases turns owned, routed events into cases: one problem of one
// customer, one ticket. It decides when a case is new, when new events only
// add to an open case (and are batched into at most one update per period),
// when a closed case is reopened and when a new case follows a closed one,
// and it writes every such change together with the helpdesk operations it
// causes, in the caller's transaction.
package cases

import (
	"errors"
	"time"

	"github.com/abusegw/abusegw/gateway/content"
)

// Config is the `cases:` block of the configuration.
type Config struct {
	// Key lists the parts of a case key; default customer and
	// classification.identifier. See compileKey for the parts.
	Key []string `yaml:"key"`
	// UpdateInterval is the shortest time between two update messages of a
	// case. Default 24h.
	UpdateInterval time.Duration `yaml:"update_interval"`
	// ReopenWindow is how long after its closure a case is reopened when its
	// problem is seen again; after it, a new case is opened that links the
	// old one. Default 7 days (168h).
	ReopenWindow time.Duration `yaml:"reopen_window"`
	// ReferencePrefix starts the human reference of a case ("ABUSE-42").
	ReferencePrefix string `yaml:"reference_prefix"`
	// MaxSamples is how many events are quoted as evidence. Default 3.
	MaxSamples int `yaml:"max_samples"`
}

// Desk is the `desk:` block: who writes to customers.
type Desk struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	URL   string `yaml:"url"`
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.UpdateInterval == 0 {
		c.UpdateInterval = 24 * time.Hour
	}
	if c.ReopenWindow == 0 {
		c.ReopenWindow = 7 * 24 * time.Hour
	}
	if c.ReferencePrefix == "" {
		c.ReferencePrefix = "ABUSE"
	}
	if c.MaxSamples == 0 {
		c.MaxSamples = 3
	}
	return c
}

// Validate checks the block.
func (c Config) Validate() error {
	var errs []error
	if _, err := compileKey(c.Key); err != nil {
		errs = append(errs, err)
	}
	if c.UpdateInterval < 0 || c.ReopenWindow < 0 || c.MaxSamples < 0 {
		errs = append(errs, errors.New("cases: update_interval, reopen_window and max_samples must not be negative"))
	}
	return errors.Join(errs...)
}

// Renderer writes the words of tickets (gateway/content.Renderer).
type Renderer interface {
	Render(kind content.Kind, c content.Case) (content.Message, error)
}

// States of a case. A case is open until its ticket is resolved or closed in
// the helpdesk (the sync stage records that).
const (
	StateOpen     = "open"
	StatePending  = "pending"
	StateResolved = "resolved"
	StateClosed   = "closed"
)

// closedState reports whether a case in state s is done.
func closedState(s string) bool { return s == StateResolved || s == StateClosed }

// Customer is the owner of a case, as the contact lookup found it.
type Customer struct {
	Key       string
	Name      string
	Emails    []string
	Connector string
	Queue     string
	Language  string
	Tags      []string
}

func (c Customer) validate() error {
	if c.Key == "" {
		return errors.New("customer without a key")
	}
	return nil
}
