package metrics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultSLA           = 72 * time.Hour
	DefaultRelapseWindow = 30 * 24 * time.Hour
	DefaultTopOffenders  = 10
)

// DefaultNotActedReasons are the closure reasons that do not count as acted on
// when the configuration names none.
var DefaultNotActedReasons = []string{"no response", "won't fix", "customer unreachable"}

// Config is the `metrics:` block of the configuration. The zero value means
// the defaults.
type Config struct {
	// SLA is the time from receipt within which a case should be resolved.
	// Default 72h.
	SLA time.Duration `yaml:"sla"`
	// SLAByClassification overrides SLA per classification identifier
	// (e.g. {open-dns: 168h}).
	SLAByClassification map[string]time.Duration `yaml:"sla_by_classification"`
	// RelapseWindow is how soon after a closure a new case of the same
	// customer and classification counts as a relapse. Default 720h (30 days).
	RelapseWindow time.Duration `yaml:"relapse_window"`
	// NotActedReasons are the closure reasons (compared case-insensitively,
	// ignoring surrounding blanks) of cases that were closed without being
	// acted on. Empty means DefaultNotActedReasons; list "" to count
	// closures without a reason as not acted on.
	NotActedReasons []string `yaml:"not_acted_reasons"`
	// TopOffenders is how many repeat-offender customers a report lists.
	// Default 10.
	TopOffenders int `yaml:"top_offenders"`
}

// Validate reports values that make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.SLA < 0 {
		errs = append(errs, fmt.Errorf("metrics.sla: %s is negative", c.SLA))
	}
	if c.RelapseWindow < 0 {
		errs = append(errs, fmt.Errorf("metrics.relapse_window: %s is negative", c.RelapseWindow))
	}
	if c.TopOffenders < 0 {
		errs = append(errs, fmt.Errorf("metrics.top_offenders: %d is negative", c.TopOffenders))
	}
	keys := make([]string, 0, len(c.SLAByClassification))
	for k := range c.SLAByClassification {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if d := c.SLAByClassification[k]; d <= 0 {
			errs = append(errs, fmt.Errorf("metrics.sla_by_classification.%s: %s is not positive", k, d))
		}
	}
	return errors.Join(errs...)
}

// WithDefaults returns c with every unset value at its default and the
// not-acted reasons normalized (lower case, trimmed, sorted, unique).
func (c Config) WithDefaults() Config {
	if c.SLA <= 0 {
		c.SLA = DefaultSLA
	}
	if c.RelapseWindow <= 0 {
		c.RelapseWindow = DefaultRelapseWindow
	}
	if c.TopOffenders <= 0 {
		c.TopOffenders = DefaultTopOffenders
	}
	reasons := c.NotActedReasons
	if len(reasons) == 0 {
		reasons = DefaultNotActedReasons
	}
	norm := make([]string, 0, len(reasons))
	for _, r := range reasons {
		norm = append(norm, normalizeReason(r))
	}
	slices.Sort(norm)
	c.NotActedReasons = slices.Compact(norm)
	if len(c.SLAByClassification) > 0 {
		m := make(map[string]time.Duration, len(c.SLAByClassification))
		for k, v := range c.SLAByClassification {
			if v > 0 {
				m[k] = v
			}
		}
		c.SLAByClassification = m
	}
	return c
}

// normalizeReason is how closure reasons are compared.
func normalizeReason(r string) string { return strings.ToLower(strings.TrimSpace(r)) }
