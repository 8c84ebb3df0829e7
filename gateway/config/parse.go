package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// envLineBase marks nodes set from the environment: their Line is
// envLineBase+i, so that a decoding error can name the variable instead of a
// line of the file.
const envLineBase = 1 << 30

// Parse decodes data (a YAML document, possibly empty) over the defaults,
// applies the ABUSEGW_* variables of environ, and validates the result. name
// is the file name used in messages.
func Parse(data []byte, name string, environ []string) (*Config, error) {
	if name == "" {
		name = "config"
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind == 0 { // empty file
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: the configuration must be a mapping of keys", name, root.Line)
	}

	cfgType := reflect.TypeFor[Config]()
	envVars, err := applyEnv(root, cfgType, environ)
	if err != nil {
		return nil, err
	}

	paths := map[int]string{}
	var problems []error
	checkKeys(root, cfgType, "", paths, &problems, name, envVars)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	cfg := Default()
	if err := root.Decode(&cfg); err != nil {
		return nil, describeDecodeError(err, name, paths, envVars)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// where names the place of a node: a line of the file or a variable.
func where(n *yaml.Node, file string, envVars []string) string {
	if n.Line >= envLineBase {
		return "environment variable " + envVars[n.Line-envLineBase]
	}
	return fmt.Sprintf("%s: line %d", file, n.Line)
}

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// checkKeys reports keys that name no field, with their path and line, and
// records the path of every value node by line for describeDecodeError.
func checkKeys(n *yaml.Node, t reflect.Type, path string, paths map[int]string, problems *[]error, file string, envVars []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Line > 0 {
		// Children are visited after their parent, so the most specific
		// path of a line wins.
		paths[n.Line] = path
	}
	if dt, ok := reflect.New(t).Elem().Interface().(dynamicType); ok {
		ct, err := dt.dynamicType(n)
		if err != nil {
			*problems = append(*problems, fmt.Errorf("%s: %s: %w", file, path, err))
			return
		}
		checkKeys(n, ct, path, paths, problems, file, envVars)
		return
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) || t == reflect.TypeFor[yaml.Node]() {
		return // checks itself
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() || n.Kind != yaml.MappingNode {
			return // a type error, reported by Decode
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			p := join(path, k.Value)
			if !ok {
				*problems = append(*problems, fmt.Errorf("%s: unknown key %s%s", where(k, file, envVars), p, suggest(k.Value, fields)))
				continue
			}
			checkKeys(v, ft, p, paths, problems, file, envVars)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), paths, problems, file, envVars)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), paths, problems, file, envVars)
		}
	}
}

func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return " (known keys here: " + strings.Join(names, ", ") + ")"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML names of t's fields (inline structs flattened) to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// describeDecodeError rewrites yaml's "line N: cannot unmarshal …" messages
// so that each names the key it is about.
func describeDecodeError(err error, file string, paths map[int]string, envVars []string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", file, err)
	}
	out := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		m := lineRE.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, fmt.Errorf("%s: %s", file, msg))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		place := fmt.Sprintf("%s: line %d", file, line)
		if line >= envLineBase {
			place = "environment variable " + envVars[line-envLineBase]
		}
		key := paths[line]
		out = append(out, fmt.Errorf("%s: key %s: %s", place, key, m[2]))
	}
	return errors.Join(out...)
}

// applyEnv sets the value of every ABUSEGW_* variable that names a key into
// the YAML tree. Variables that name no key are left alone: desks name their
// secret variables ABUSEGW_TOKEN_… too. It returns the variables it applied,
// indexed by their marker line.
func applyEnv(root *yaml.Node, t reflect.Type, environ []string) ([]string, error) {
	var applied []string
	sorted := slices.Clone(environ)
	slices.Sort(sorted) // deterministic: CONNECTORS_0_* before CONNECTORS_1_*
	for _, kv := range sorted {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		rest := strings.TrimPrefix(name, EnvPrefix)
		if rest == "CONFIG" || strings.HasPrefix(rest, "TEST_") {
			continue
		}
		path, ok := resolveEnv(t, strings.Split(strings.ToLower(rest), "_"))
		if !ok {
			continue
		}
		if err := setPath(root, path, value, envLineBase+len(applied)); err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
		applied = append(applied, name)
	}
	return applied, nil
}

// resolveEnv finds the key path that the lower-cased, "_"-split parts of a
// variable name spell for type t. Key names contain "_" themselves
// (url_env), so it tries every split and takes the first that reaches a
// leaf.
func resolveEnv(t reflect.Type, parts []string) ([]string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(parts) == 0 {
		return nil, isLeaf(t)
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		// Opaque to us (it decodes itself): the rest is one key.
		return []string{strings.Join(parts, "_")}, true
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return nil, false
		}
		fields := yamlFields(t)
		for k := len(parts); k >= 1; k-- {
			key := strings.Join(parts[:k], "_")
			ft, ok := fields[key]
			if !ok {
				continue
			}
			if rest, ok := resolveEnv(ft, parts[k:]); ok {
				return append([]string{key}, rest...), true
			}
		}
	case reflect.Slice:
		if _, err := strconv.Atoi(parts[0]); err != nil {
			return nil, false
		}
		if rest, ok := resolveEnv(t.Elem(), parts[1:]); ok {
			return append([]string{"#" + parts[0]}, rest...), true
		}
	case reflect.Map:
		for k := len(parts); k >= 1; k-- {
			if rest, ok := resolveEnv(t.Elem(), parts[k:]); ok {
				return append([]string{strings.Join(parts[:k], "_")}, rest...), true
			}
		}
	}
	return nil, false
}

func isLeaf(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
		return t == reflect.TypeFor[time.Time]()
	}
	return true
}

// setPath sets a scalar at path ("#N" segments index sequences), creating
// mappings and sequence entries on the way.
func setPath(n *yaml.Node, path []string, value string, line int) error {
	for i, seg := range path {
		last := i == len(path)-1
		if idx, ok := strings.CutPrefix(seg, "#"); ok {
			if n.Kind != yaml.SequenceNode {
				if n.Kind == yaml.ScalarNode && n.Tag == "!!null" || n.Kind == 0 {
					*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
				} else {
					return errors.New("the configuration has no list there")
				}
			}
			j, _ := strconv.Atoi(idx)
			for len(n.Content) <= j {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			}
			n = n.Content[j]
			if last {
				*n = scalar(value, line)
			}
			continue
		}
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" || n.Kind == 0 {
				*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			} else {
				return errors.New("the configuration has no mapping there")
			}
		}
		var child *yaml.Node
		for k := 0; k+1 < len(n.Content); k += 2 {
			if n.Content[k].Value == seg {
				child = n.Content[k+1]
			}
		}
		if child == nil {
			child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg, Line: line}, child)
		}
		if last {
			*child = scalar(value, line)
		}
		n = child
	}
	return nil
}

func scalar(value string, line int) yaml.Node {
	// No tag: YAML resolves it as if it had been written in the file, so
	// ABUSEGW_DATABASE_MAX_OPEN_CONNS=4 is an int and "10s" a duration.
	return yaml.Node{Kind: yaml.ScalarNode, Value: value, Line: line}
}
