// Package registry is the one place that names the connector types. The
// config loader decodes each `connectors:` entry's `type`, asks Lookup for
// it, decodes the whole YAML node into NewConfig() (with KnownFields, so a
// misspelt key is an error) and calls New.
//
// Adding a helpdesk means adding one line to types below, like Alertmanager's
// BuildReceiverIntegrations list.
package registry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
)

// Type builds connectors of one helpdesk type.
type Type struct {
	// NewConfig returns a pointer to a fresh config struct of this type, with
	// yaml tags; it embeds connectors.Common, so it satisfies
	// connectors.Configurer.
	NewConfig func() connectors.Configurer
	// New validates a config made by NewConfig and decoded, resolves its
	// secrets and returns the connector. It sends no request.
	New func(cfg connectors.Configurer, deps connectors.Deps) (connectors.Connector, error)
}

// types lists every connector type. It is built on each call so that no
// package-level state can be changed.
func types() map[string]Type {
	return map[string]Type{
		"rt": {
			NewConfig: func() connectors.Configurer { return &rt.Config{} },
			New: func(cfg connectors.Configurer, deps connectors.Deps) (connectors.Connector, error) {
				c, ok := cfg.(*rt.Config)
				if !ok {
					return nil, fmt.Errorf("rt connector: config is %T, want *rt.Config", cfg)
				}
				return rt.New(c, deps)
			},
		},
	}
}

// Lookup returns the connector type called name.
func Lookup(name string) (Type, error) {
	t, ok := types()[name]
	if !ok {
		return Type{}, fmt.Errorf("unknown connector type %q (known: %s)", name, strings.Join(Types(), ", "))
	}
	return t, nil
}

// Types lists the known connector type names, sorted.
func Types() []string {
	var names []string
	for n := range types() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
