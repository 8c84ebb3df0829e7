// Package status holds the tables that map each helpdesk's ticket statuses
// onto abusegw's canonical ones (many of theirs to one of ours), embedded from
// <helpdesk>.yaml, and the reverse choice used to set a status (reopen).
//
// Desks customise lifecycles, so a connector's `status_map` config entry
// overrides or extends the embedded table (see Load).
package status

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/connectors"
)

//go:embed *.yaml
var files embed.FS

// file is the shape of a <helpdesk>.yaml table.
type file struct {
	Helpdesk string            `yaml:"helpdesk"`
	From     map[string]string `yaml:"from"` // theirs → ours
	To       map[string]string `yaml:"to"`   // ours → theirs
}

// Map translates one helpdesk's statuses. Lookups of their names ignore case
// and surrounding space (Jira writes "In Progress", RT "open"). A Map is
// read-only after Load and safe for concurrent use.
type Map struct {
	helpdesk string
	from     map[string]connectors.Status
	to       map[connectors.Status]string
}

// Helpdesks lists the helpdesks with an embedded table, sorted.
func Helpdesks() []string {
	names, _ := fs.Glob(files, "*.yaml") // the pattern is constant and valid
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".yaml")
	}
	sort.Strings(names)
	return names
}

// Load returns the embedded table of helpdesk, with override (their status →
// canonical status name, from the connector's status_map) applied on top.
func Load(helpdesk string, override map[string]string) (*Map, error) {
	data, err := files.ReadFile(helpdesk + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("loading status map: no table for helpdesk %q (have %s)",
			helpdesk, strings.Join(Helpdesks(), ", "))
	}
	return Parse(helpdesk+".yaml", data, override)
}

// Parse reads a table in the <helpdesk>.yaml format (name is used in
// errors) and applies override on top of it.
func Parse(name string, data []byte, override map[string]string) (*Map, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing status map %s: %w", name, err)
	}
	m := &Map{
		helpdesk: f.Helpdesk,
		from:     make(map[string]connectors.Status, len(f.From)+len(override)),
		to:       make(map[connectors.Status]string, len(f.To)),
	}
	if m.helpdesk == "" {
		m.helpdesk = strings.TrimSuffix(path.Base(name), ".yaml")
	}
	var errs []error
	add := func(where, theirs, ours string) {
		s := connectors.Status(strings.TrimSpace(ours))
		if !s.Valid() {
			errs = append(errs, fmt.Errorf("%s: %q maps to %q, which is not one of %s",
				where, theirs, ours, statusList()))
			return
		}
		m.from[fold(theirs)] = s
	}
	for theirs, ours := range f.From {
		add(name+" from", theirs, ours)
	}
	for theirs, ours := range override {
		add("status_map", theirs, ours)
	}
	for ours, theirs := range f.To {
		s := connectors.Status(ours)
		if !s.Valid() {
			errs = append(errs, fmt.Errorf("%s to: %q is not one of %s", name, ours, statusList()))
			continue
		}
		if _, ok := m.from[fold(theirs)]; !ok {
			errs = append(errs, fmt.Errorf("%s to: %s → %q, but %q is not in from", name, ours, theirs, theirs))
			continue
		}
		m.to[s] = theirs
	}
	if len(m.from) == 0 {
		errs = append(errs, fmt.Errorf("%s: the table maps no status", name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("status map for %s: %w", m.helpdesk, err)
	}
	return m, nil
}

// Helpdesk returns the helpdesk the table is for.
func (m *Map) Helpdesk() string { return m.helpdesk }

// Canonical maps the helpdesk's status to ours; ok is false for a status
// the table does not know.
func (m *Map) Canonical(theirs string) (s connectors.Status, ok bool) {
	s, ok = m.from[fold(theirs)]
	return s, ok
}

// Raw returns the helpdesk status to set for s; ok is false when the table
// names none.
func (m *Map) Raw(s connectors.Status) (theirs string, ok bool) {
	theirs, ok = m.to[s]
	return theirs, ok
}

// Known returns the helpdesk statuses the table knows, sorted, in lower case.
func (m *Map) Known() []string {
	out := make([]string, 0, len(m.from))
	for k := range m.from {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func statusList() string {
	var names []string
	for _, s := range connectors.Statuses() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
