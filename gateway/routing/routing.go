// Package routing decides, for an owned event, which helpdesk connector and
// queue its case goes to, which template set its ticket uses, whether the
// customer is written to or the ticket stays internal, and whether the event
// is ignored altogether (an allowlist: known research scanners, a customer
// that opted out of a report type).
package routing

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// Config is the `routing:` block of the configuration.
type Config struct {
	// DefaultConnector names the connector (from `connectors:`) that gets
	// cases no rule routes elsewhere.
	DefaultConnector string `yaml:"default_connector"`
	// DefaultQueue overrides the connector's own queue; "" keeps it.
	DefaultQueue string `yaml:"default_queue"`
	// Notify says whether customers are written to by default. Default true.
	Notify *bool `yaml:"notify"`
	// Rules are tried in order; the first that matches decides the fields
	// it sets, the rest come from the customer's own settings and the
	// defaults.
	Rules []Rule `yaml:"rules"`
}

// Rule is one routing rule.
type Rule struct {
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	// Ignore drops matching events: they are counted, not made into cases.
	Ignore    bool   `yaml:"ignore"`
	Connector string `yaml:"connector"`
	Queue     string `yaml:"queue"`
	Template  string `yaml:"template"`
	Notify    *bool  `yaml:"notify"`
}

// Match selects events. Every criterion that is set must hold; within a
// criterion any listed value matches. Values are globs (path.Match syntax)
// except Networks, which are CIDR prefixes of source.ip.
type Match struct {
	Customers       []string `yaml:"customers"`
	Tags            []string `yaml:"tags"`
	Classifications []string `yaml:"classifications"` // classification.type or classification.identifier
	Feeds           []string `yaml:"feeds"`           // feed.name
	Networks        []string `yaml:"networks"`        // source.ip within any of these

	prefixes []netip.Prefix
}

// Input is what a routing decision looks at.
type Input struct {
	Customer                 string
	Tags                     []string
	CustomerConnector        string // the contact source's connector column
	CustomerQueue            string // the contact source's queue column
	ClassificationType       string
	ClassificationIdentifier string
	Feed                     string
	IP                       netip.Addr
}

// Route is the decision.
type Route struct {
	Ignore    bool
	Rule      string // the rule that matched, "" for the defaults
	Connector string
	Queue     string
	Template  string
	Notify    bool
}

// Router applies a Config.
type Router struct {
	cfg    Config
	notify bool
}

// New validates cfg; connectors lists the configured connector names (nil
// skips that check).
func New(cfg Config, connectors []string) (*Router, error) {
	var errs []error
	known := func(where, name string) {
		if name != "" && connectors != nil && !slices.Contains(connectors, name) {
			errs = append(errs, fmt.Errorf("%s: connector %q is not configured (have %s)", where, name, strings.Join(connectors, ", ")))
		}
	}
	known("routing.default_connector", cfg.DefaultConnector)
	cfg.Rules = slices.Clone(cfg.Rules) // compiled prefixes must not leak into the caller's config
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		where := fmt.Sprintf("routing.rules[%d]", i)
		if r.Name != "" {
			where += " (" + r.Name + ")"
		}
		known(where+".connector", r.Connector)
		for _, list := range [][]string{r.Match.Customers, r.Match.Tags, r.Match.Classifications, r.Match.Feeds} {
			for _, p := range list {
				if _, err := path.Match(p, ""); err != nil {
					errs = append(errs, fmt.Errorf("%s.match: bad pattern %q: %w", where, p, err))
				}
			}
		}
		r.Match.prefixes = r.Match.prefixes[:0]
		for _, n := range r.Match.Networks {
			p, err := netip.ParsePrefix(n)
			if err != nil {
				a, aerr := netip.ParseAddr(n)
				if aerr != nil {
					errs = append(errs, fmt.Errorf("%s.match.networks: %q is not a CIDR prefix", where, n))
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			r.Match.prefixes = append(r.Match.prefixes, p.Masked())
		}
		if r.Ignore && (r.Connector != "" || r.Queue != "" || r.Template != "" || r.Notify != nil) {
			errs = append(errs, fmt.Errorf("%s: an ignore rule routes nowhere; drop connector/queue/template/notify", where))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	notify := true
	if cfg.Notify != nil {
		notify = *cfg.Notify
	}
	return &Router{cfg: cfg, notify: notify}, nil
}

// Decide routes one event.
func (r *Router) Decide(in Input) Route {
	route := Route{
		Connector: firstNonEmpty(in.CustomerConnector, r.cfg.DefaultConnector),
		Queue:     firstNonEmpty(in.CustomerQueue, r.cfg.DefaultQueue),
		Notify:    r.notify,
	}
	for _, rule := range r.cfg.Rules {
		if !rule.Match.matches(in) {
			continue
		}
		route.Rule = rule.Name
		if rule.Ignore {
			route.Ignore = true
			return route
		}
		if rule.Connector != "" {
			route.Connector = rule.Connector
		}
		if rule.Queue != "" {
			route.Queue = rule.Queue
		}
		route.Template = rule.Template
		if rule.Notify != nil {
			route.Notify = *rule.Notify
		}
		return route
	}
	return route
}

func (m *Match) matches(in Input) bool {
	if len(m.Customers) > 0 && !anyGlob(m.Customers, in.Customer) {
		return false
	}
	if len(m.Tags) > 0 && !slices.ContainsFunc(in.Tags, func(t string) bool { return anyGlob(m.Tags, t) }) {
		return false
	}
	if len(m.Classifications) > 0 && !anyGlob(m.Classifications, in.ClassificationType) && !anyGlob(m.Classifications, in.ClassificationIdentifier) {
		return false
	}
	if len(m.Feeds) > 0 && !anyGlob(m.Feeds, in.Feed) {
		return false
	}
	if len(m.prefixes) > 0 && !slices.ContainsFunc(m.prefixes, func(p netip.Prefix) bool { return in.IP.IsValid() && p.Contains(in.IP) }) {
		return false
	}
	return true
}

func anyGlob(patterns []string, s string) bool {
	if s == "" {
		return false
	}
	s = strings.ToLower(s)
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), s); ok {
			return true
		}
	}
	return false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
