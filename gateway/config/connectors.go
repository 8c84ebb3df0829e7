package config

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/registry"
)

// Connector is one entry of `connectors:`: a helpdesk. Its keys depend on
// its type (connectors/registry); the common ones are name, type, rate_limit,
// concurrency, timeout and status_map.
type Connector struct {
	// Config is the decoded configuration of the connector's type.
	Config connectors.Configurer
}

// Name returns the connector's name.
func (c Connector) Name() string { return c.Config.Base().Name }

// Type returns the connector's type.
func (c Connector) Type() string { return c.Config.Base().Type }

// dynamicType is implemented by values whose YAML shape depends on the node
// (a connector's keys depend on its type), so that key checking can walk the
// concrete type.
type dynamicType interface {
	dynamicType(n *yaml.Node) (reflect.Type, error)
}

func (Connector) dynamicType(n *yaml.Node) (reflect.Type, error) {
	t, err := connectorType(n)
	if err != nil {
		return nil, err
	}
	return reflect.TypeOf(t.NewConfig()).Elem(), nil
}

func connectorType(n *yaml.Node) (registry.Type, error) {
	if n.Kind != yaml.MappingNode {
		return registry.Type{}, fmt.Errorf("line %d: a connector is a mapping of keys", n.Line)
	}
	var typ string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typ = n.Content[i+1].Value
		}
	}
	if typ == "" {
		return registry.Type{}, fmt.Errorf("line %d: connector without a type (known: %v)", n.Line, registry.Types())
	}
	t, err := registry.Lookup(typ)
	if err != nil {
		return registry.Type{}, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return t, nil
}

// UnmarshalYAML decodes the entry into its type's configuration. Unknown
// keys were reported before decoding, with their lines.
func (c *Connector) UnmarshalYAML(n *yaml.Node) error {
	t, err := connectorType(n)
	if err != nil {
		return err
	}
	cfg := t.NewConfig()
	if err := n.Decode(cfg); err != nil {
		return err
	}
	c.Config = cfg
	return nil
}
