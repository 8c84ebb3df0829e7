// Package notices holds the rules that read plain-text abuse notices (mails
// from SpamCop, Project Honey Pot, Clean-MX, …) as data: how to recognise a
// sender, which regular expressions find the reported address, URL and time,
// and how to classify what they find. The rules are embedded from
// notices.yaml and compiled once; a deployment can load its own file with
// Load.
//
// Named groups in the expressions become event fields: ip (source.ip), url
// (source.url), fqdn (source.fqdn), port (source.port), dport
// (destination.port), time (time.source), malware (malware.name), type
// (classification.type), identifier (classification.identifier), network
// (source.network), asn (source.asn); any other group name g becomes
// extra.g.
package notices

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed notices.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded rules file.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Set is a compiled rules file. It is not changed after Load.
type Set struct {
	Senders []*Sender `yaml:"senders"`
}

// Sender describes one sender of notices.
type Sender struct {
	// Name identifies the rule set (shown as the mail's format detail).
	Name string `yaml:"name"`
	// Feed and Provider become feed.name and feed.provider.
	Feed     string `yaml:"feed"`
	Provider string `yaml:"provider"`
	// Match says which mails are from this sender; every criterion set must
	// hold, and at least one must be set.
	Match Match `yaml:"match"`
	// Classification is the default for every event of this sender.
	Classification Classification `yaml:"classification"`
	// Common expressions are matched once against the subject and the body
	// (the subject first); their groups are defaults for every event.
	Common []string `yaml:"common"`
	// Rules find the events: each match of a rule is one event.
	Rules []*Rule `yaml:"rules"`
	// TypeMap classifies events by their "report" group (matched without
	// case), for senders that forward several kinds of reports.
	TypeMap map[string]Classification `yaml:"type_map"`
	// TimeFormats are Go layouts tried, after the common formats, on time
	// groups. Zone abbreviations such as CEST or PDT are understood.
	TimeFormats []string `yaml:"time_formats"`

	CommonRE []*regexp.Regexp `yaml:"-"`
	FromRE   *regexp.Regexp   `yaml:"-"`
}

// Match recognises a sender.
type Match struct {
	// From lists domains; the From address's domain must be one of them or
	// a subdomain of one.
	From []string `yaml:"from"`
	// Subject and Body are regular expressions that must match.
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`

	SubjectRE *regexp.Regexp `yaml:"-"`
	BodyRE    *regexp.Regexp `yaml:"-"`
}

// Rule finds events in a notice body.
type Rule struct {
	// Within, if set, cuts the body into blocks: each match of Within (its
	// first group if it has one, else the whole match) is searched with
	// Regex on its own.
	Within string `yaml:"within"`
	// Regex finds one event per match.
	Regex string `yaml:"regex"`
	// Classification overrides the sender's for this rule's events.
	Classification Classification `yaml:"classification"`
	// Fields are constant fields for this rule's events.
	Fields map[string]string `yaml:"fields"`

	WithinRE *regexp.Regexp `yaml:"-"`
	RE       *regexp.Regexp `yaml:"-"`
}

// Classification is a classification.type and classification.identifier.
type Classification struct {
	Type       string `yaml:"type"`
	Identifier string `yaml:"identifier"`
}

// GroupFields maps the short group names to event fields.
var GroupFields = map[string]string{
	"ip":         "source.ip",
	"url":        "source.url",
	"fqdn":       "source.fqdn",
	"port":       "source.port",
	"dport":      "destination.port",
	"dip":        "destination.ip",
	"time":       "time.source",
	"malware":    "malware.name",
	"type":       "classification.type",
	"identifier": "classification.identifier",
	"network":    "source.network",
	"asn":        "source.asn",
	"protocol":   "protocol.application",
	"transport":  "protocol.transport",
}

// Field returns the event field of a named group.
func Field(group string) string {
	if f, ok := GroupFields[group]; ok {
		return f
	}
	return "extra." + group
}

// Default returns the embedded rules, compiled once.
var Default = sync.OnceValues(func() (*Set, error) { return Load(defaultYAML) })

// Load parses and compiles a rules file.
func Load(data []byte) (*Set, error) {
	var s Set
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("reading notice rules: %w", err)
	}
	var errs []error
	names := map[string]bool{}
	for i, snd := range s.Senders {
		if snd == nil {
			errs = append(errs, fmt.Errorf("sender %d: empty", i+1))
			continue
		}
		if err := snd.compile(); err != nil {
			errs = append(errs, fmt.Errorf("sender %d (%s): %w", i+1, snd.Name, err))
		}
		if names[snd.Name] {
			errs = append(errs, fmt.Errorf("sender %d: duplicate name %q", i+1, snd.Name))
		}
		names[snd.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notice rules: %w", err)
	}
	return &s, nil
}

func (s *Sender) compile() error {
	var errs []error
	re := func(what, expr string) *regexp.Regexp {
		if expr == "" {
			return nil
		}
		r, err := regexp.Compile(expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		return r
	}
	if s.Name == "" {
		errs = append(errs, errors.New("no name"))
	}
	if len(s.Match.From) == 0 && s.Match.Subject == "" && s.Match.Body == "" {
		errs = append(errs, errors.New("match: set from, subject or body"))
	}
	s.Match.SubjectRE = re("match.subject", s.Match.Subject)
	s.Match.BodyRE = re("match.body", s.Match.Body)
	for i, c := range s.Common {
		if r := re(fmt.Sprintf("common %d", i+1), c); r != nil {
			s.CommonRE = append(s.CommonRE, r)
		}
	}
	if len(s.Rules) == 0 {
		errs = append(errs, errors.New("no rules"))
	}
	for i, r := range s.Rules {
		if r == nil || r.Regex == "" {
			errs = append(errs, fmt.Errorf("rule %d: no regex", i+1))
			continue
		}
		r.RE = re(fmt.Sprintf("rule %d regex", i+1), r.Regex)
		r.WithinRE = re(fmt.Sprintf("rule %d within", i+1), r.Within)
		if r.RE != nil && !hasAddress(r.RE) && !hasAddressCommon(s.CommonRE) {
			errs = append(errs, fmt.Errorf("rule %d: no group ip, url, fqdn or network, here or in common", i+1))
		}
	}
	return errors.Join(errs...)
}

func hasAddress(r *regexp.Regexp) bool {
	for _, n := range r.SubexpNames() {
		switch n {
		case "ip", "url", "fqdn", "network":
			return true
		}
	}
	return false
}

func hasAddressCommon(rs []*regexp.Regexp) bool {
	for _, r := range rs {
		if hasAddress(r) {
			return true
		}
	}
	return false
}

// Matches reports whether a mail with this From domain, subject and body is
// from s. fromDomain is lower case.
func (s *Sender) Matches(fromDomain, subject, body string) bool {
	if len(s.Match.From) > 0 {
		ok := false
		for _, d := range s.Match.From {
			d = strings.ToLower(d)
			if fromDomain == d || strings.HasSuffix(fromDomain, "."+d) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if s.Match.SubjectRE != nil && !s.Match.SubjectRE.MatchString(subject) {
		return false
	}
	if s.Match.BodyRE != nil && !s.Match.BodyRE.MatchString(body) {
		return false
	}
	return true
}
