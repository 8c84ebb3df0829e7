package content

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/normalizer"
)

// How an Advice was found, in Advice.Match.
const (
	// MatchIdentifier: advice written for the classification.identifier.
	MatchIdentifier = "identifier"
	// MatchType: advice for the classification.type, because the identifier
	// has none of its own (deliberately, or because it is not known).
	MatchType = "type"
	// MatchGeneric: the fallback for anything else.
	MatchGeneric = "generic"
)

// Advice is the remediation advice for a classification.
type Advice struct {
	// Title names the problem ("Open DNS resolver"); it goes into subjects.
	Title string
	// Meaning explains what was seen and why it matters.
	Meaning string
	// Fix lists the steps that solve the problem.
	Fix []string
	// References are URLs with more information.
	References []string
	// Match is MatchIdentifier, MatchType or MatchGeneric; Key is the
	// identifier or type the advice was found under ("" for generic).
	Match, Key string
}

// adviceEntry is one entry of an advice file: the advice for one or more
// keys (identifiers or types).
type adviceEntry struct {
	IDs []string `yaml:"ids"`
	// Titles overrides Title for single keys of a shared entry.
	Titles     map[string]string `yaml:"titles"`
	Title      string            `yaml:"title"`
	Meaning    string            `yaml:"meaning"`
	Fix        []string          `yaml:"fix"`
	References []string          `yaml:"references"`
}

// adviceFile is the shape of advice/<lang>.yaml.
type adviceFile struct {
	// Identifiers is advice per classification.identifier.
	Identifiers []adviceEntry `yaml:"identifiers"`
	// TypeLevel lists identifiers that deliberately use their type's advice
	// (reports too rare or too vague to deserve their own).
	TypeLevel []string `yaml:"type_level"`
	// Types is advice per classification.type.
	Types []adviceEntry `yaml:"types"`
	// Generic is the fallback.
	Generic adviceEntry `yaml:"generic"`
}

// adviceSet is a parsed advice file, read-only after parseAdvice.
type adviceSet struct {
	identifiers map[string]Advice
	typeLevel   map[string]bool
	types       map[string]Advice
	generic     Advice
}

// parseAdvice reads an advice file. name is used in errors only.
func parseAdvice(name string, data []byte) (*adviceSet, error) {
	var f adviceFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &adviceSet{
		identifiers: map[string]Advice{},
		typeLevel:   map[string]bool{},
		types:       map[string]Advice{},
	}
	var errs []error
	add := func(section string, m map[string]Advice, match string, entries []adviceEntry) {
		for i, e := range entries {
			where := fmt.Sprintf("%s entry %d (%s)", section, i+1, strings.Join(e.IDs, ", "))
			if err := e.check(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			for k := range e.Titles {
				if !containsFold(e.IDs, k) {
					errs = append(errs, fmt.Errorf("%s: title for %q, which is not in ids", where, k))
				}
			}
			for _, id := range e.IDs {
				key := normKey(id)
				if key == "" || strings.ContainsAny(key, " \t") {
					errs = append(errs, fmt.Errorf("%s: bad id %q", where, id))
					continue
				}
				if match == MatchType {
					if _, ok := normalizer.Taxonomy(key); !ok {
						errs = append(errs, fmt.Errorf("%s: %q is not an IntelMQ classification.type", where, id))
					}
				}
				if _, dup := m[key]; dup {
					errs = append(errs, fmt.Errorf("%s: %q is listed twice", where, id))
				}
				a := e.advice(match, key)
				if t, ok := e.Titles[id]; ok {
					a.Title = strings.TrimSpace(t)
				}
				m[key] = a
			}
		}
	}
	add("identifiers", s.identifiers, MatchIdentifier, f.Identifiers)
	add("types", s.types, MatchType, f.Types)
	for _, id := range f.TypeLevel {
		key := normKey(id)
		if key == "" || strings.ContainsAny(key, " \t") {
			errs = append(errs, fmt.Errorf("type_level: bad id %q", id))
		}
		if _, ok := s.identifiers[key]; ok {
			errs = append(errs, fmt.Errorf("type_level: %q also has advice of its own", id))
		}
		s.typeLevel[key] = true
	}
	if err := f.Generic.check(); err != nil {
		errs = append(errs, fmt.Errorf("generic: %w", err))
	}
	s.generic = f.Generic.advice(MatchGeneric, "")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// check reports what an entry lacks.
func (e *adviceEntry) check() error {
	var errs []error
	if strings.TrimSpace(e.Title) == "" {
		errs = append(errs, errors.New("no title"))
	}
	if strings.TrimSpace(e.Meaning) == "" {
		errs = append(errs, errors.New("no meaning"))
	}
	if len(e.Fix) == 0 {
		errs = append(errs, errors.New("no fix steps"))
	}
	for _, u := range e.References {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			errs = append(errs, fmt.Errorf("reference %q is not an http(s) URL", u))
		}
	}
	return errors.Join(errs...)
}

func (e *adviceEntry) advice(match, key string) Advice {
	fix := make([]string, len(e.Fix))
	for i, f := range e.Fix {
		fix[i] = strings.TrimSpace(f)
	}
	return Advice{
		Title:      strings.TrimSpace(e.Title),
		Meaning:    strings.TrimSpace(e.Meaning),
		Fix:        fix,
		References: append([]string(nil), e.References...),
		Match:      match,
		Key:        key,
	}
}

// lookup returns the advice for a classification: by identifier, unless it
// is listed as type-level; then by type (legacy type names are mapped);
// then the generic advice.
func (s *adviceSet) lookup(c Classification) Advice {
	id := normKey(c.Identifier)
	if a, ok := s.identifiers[id]; ok && id != "" {
		return a
	}
	typ := normKey(c.Type)
	if t, ok := normalizer.ClassificationType(typ); ok {
		typ = t
	}
	if a, ok := s.types[typ]; ok {
		return a
	}
	return s.generic
}

// specific reports whether identifier has advice of its own, and whether it
// is deliberately left to its type's advice.
func (s *adviceSet) specific(identifier string) (own, typeLevel bool) {
	key := normKey(identifier)
	_, own = s.identifiers[key]
	return own, s.typeLevel[key]
}

func normKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
