package xarf

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	mapxarf "github.com/abusegw/abusegw/mappings/xarf"
	"github.com/abusegw/abusegw/normalizer"
)

// schemaSet is every X-ARF schema compiled once, with the tables needed to
// pick the one schema that applies to a report. It is never changed after
// compileSchemas returns.
type schemaSet struct {
	// v4 maps "category/type" to the type's schema (from the master
	// schema's if/then list); v4Core validates reports of unknown type;
	// v4Types lists the known types per category.
	v4      map[string]*jsonschema.Schema
	v4Core  *jsonschema.Schema
	v4Types map[string][]string

	// v3 are abusix/xarf's per-type schemas, tried by ReportType/ReportClass.
	v3 []v3Schema
	// v3Any is abusix's oneOf over all v3 types, for reports whose type is
	// not known (its errors are less precise).
	v3Any *jsonschema.Schema
}

type v3Schema struct {
	name     string // file name, e.g. "spam.schema.json"
	types    []string
	classes  []string
	subtypes []string
	schema   *jsonschema.Schema
}

// schemas compiles the embedded schemas on first use.
var schemas = sync.OnceValues(func() (*schemaSet, error) {
	return compileSchemas(mapxarf.Schemas)
})

var printer = message.NewPrinter(language.English)

func compileSchemas(fsys fs.FS) (*schemaSet, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	docs := map[string]any{} // file path → parsed document
	ids := map[string]string{}
	err := fs.WalkDir(fsys, "schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return fmt.Errorf("reading schema %s: %w", p, err)
		}
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			return fmt.Errorf("schema %s has no $id", p)
		}
		if err := c.AddResource(id, doc); err != nil {
			return fmt.Errorf("adding schema %s: %w", p, err)
		}
		docs[p] = doc
		ids[p] = id
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading X-ARF schemas: %w", err)
	}
	compile := func(p string) (*jsonschema.Schema, error) {
		id, ok := ids[p]
		if !ok {
			return nil, fmt.Errorf("schema %s is not embedded", p)
		}
		s, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("compiling schema %s: %w", p, err)
		}
		return s, nil
	}
	set := &schemaSet{v4: map[string]*jsonschema.Schema{}, v4Types: map[string][]string{}}

	// v4: the master schema's allOf holds one if/then per category+type.
	const master = "schemas/v4/xarf-v4-master.json"
	if set.v4Core, err = compile("schemas/v4/xarf-core.json"); err != nil {
		return nil, err
	}
	mdoc, _ := docs[master].(map[string]any)
	allOf, _ := mdoc["allOf"].([]any)
	for _, item := range allOf {
		m, _ := item.(map[string]any)
		cond, _ := m["if"].(map[string]any)
		then, _ := m["then"].(map[string]any)
		ref, _ := then["$ref"].(string)
		props, _ := cond["properties"].(map[string]any)
		cat := constOf(props["category"])
		typ := constOf(props["type"])
		if cat == "" || typ == "" || ref == "" {
			continue
		}
		s, err := compile(path.Join(path.Dir(master), ref))
		if err != nil {
			return nil, err
		}
		set.v4[cat+"/"+typ] = s
		set.v4Types[cat] = append(set.v4Types[cat], typ)
	}
	if len(set.v4) == 0 {
		return nil, errors.New("X-ARF v4 master schema lists no types")
	}

	// v3: one schema per type; its ReportType/ReportClass enums say which.
	for p, doc := range docs {
		if path.Dir(p) != "schemas/v3" {
			continue
		}
		base := path.Base(p)
		switch base {
		case "xarf.schema.json":
			if set.v3Any, err = compile(p); err != nil {
				return nil, err
			}
			continue
		case "xarf_shared.schema.json":
			continue
		}
		enums := map[string][]string{}
		collectEnums(doc, enums)
		s, err := compile(p)
		if err != nil {
			return nil, err
		}
		set.v3 = append(set.v3, v3Schema{
			name: base, types: enums["ReportType"], classes: enums["ReportClass"],
			subtypes: enums["ReportSubType"], schema: s,
		})
	}
	slices.SortFunc(set.v3, func(a, b v3Schema) int { return strings.Compare(a.name, b.name) })
	if set.v3Any == nil || len(set.v3) == 0 {
		return nil, errors.New("X-ARF v3 schemas missing")
	}
	return set, nil
}

func constOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["const"].(string)
	return s
}

// collectEnums finds properties named ReportType, ReportClass and
// ReportSubType anywhere in a schema and collects their enum values.
func collectEnums(v any, out map[string][]string) {
	switch t := v.(type) {
	case map[string]any:
		if props, ok := t["properties"].(map[string]any); ok {
			for _, k := range []string{"ReportType", "ReportClass", "ReportSubType"} {
				p, _ := props[k].(map[string]any)
				enum, _ := p["enum"].([]any)
				for _, e := range enum {
					if s, ok := e.(string); ok {
						out[k] = append(out[k], s)
					}
				}
			}
		}
		for _, k := range sortedKeys(t) {
			collectEnums(t[k], out)
		}
	case []any:
		for _, e := range t {
			collectEnums(e, out)
		}
	}
}

// ErrInvalidReport is wrapped by every error for a report that breaks its
// X-ARF schema or lacks what an event needs.
var ErrInvalidReport = errors.New("invalid X-ARF report")

// SchemaError says which field of a report is wrong and why. Field is a JSON
// pointer into the report ("/Report/SourceIp") for JSON reports and the key
// name ("Source") for v0.1/v0.2 YAML reports. Others lists further fields
// that are also wrong.
type SchemaError struct {
	Field  string
	Reason string
	Value  any
	Others []string
}

func (e *SchemaError) Error() string {
	field := e.Field
	if field == "" {
		field = "/"
	}
	s := "field " + field + ": " + e.Reason
	if len(e.Others) > 0 {
		s += fmt.Sprintf(" (and %d more: %s)", len(e.Others), strings.Join(e.Others, ", "))
	}
	return s
}

// Unwrap returns the error as a *normalizer.FieldError for the same field,
// so that a *normalizer.RowError around it names the field once, and
// ErrInvalidReport.
func (e *SchemaError) Unwrap() []error {
	return []error{&normalizer.FieldError{Field: e.Field, Value: e.Value, Err: normalizer.ErrInvalidValue}, ErrInvalidReport}
}

type leaf struct {
	loc string
	msg string
}

// describe turns a jsonschema validation error into a SchemaError naming
// the first offending field (in sorted order, so the message is stable).
func describe(err error, doc any) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%w: %w", ErrInvalidReport, err)
	}
	var leaves []leaf
	collectLeaves(ve, &leaves)
	if len(leaves) == 0 {
		return &SchemaError{Field: "/", Reason: ve.Error()}
	}
	slices.SortFunc(leaves, func(a, b leaf) int {
		if c := strings.Compare(a.loc, b.loc); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	leaves = slices.Compact(leaves)
	first := leaves[0].loc
	var msgs, others []string
	for _, l := range leaves {
		if l.loc == first {
			msgs = append(msgs, l.msg)
		} else if !slices.Contains(others, l.loc) {
			others = append(others, l.loc)
		}
	}
	if len(others) > 5 {
		others = append(others[:5], "…")
	}
	return &SchemaError{Field: first, Reason: strings.Join(msgs, "; or "), Value: pointerValue(doc, first), Others: others}
}

func collectLeaves(e *jsonschema.ValidationError, out *[]leaf) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collectLeaves(c, out)
		}
		return
	}
	loc := jsonPointer(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, p := range k.Missing {
			*out = append(*out, leaf{loc + "/" + escapePointer(p), "required field is missing"})
		}
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, leaf{loc + "/" + escapePointer(p), "field is not allowed here"})
		}
		return
	case *kind.FalseSchema:
		*out = append(*out, leaf{loc, "field is not allowed here"})
		return
	}
	*out = append(*out, leaf{loc, e.ErrorKind.LocalizedString(printer)})
}

func jsonPointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointer(t))
	}
	return b.String()
}

func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// pointerValue returns the value at a JSON pointer, or nil.
func pointerValue(doc any, ptr string) any {
	if ptr == "" {
		return nil
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch t := cur.(type) {
		case map[string]any:
			cur = t[tok]
		case []any:
			i := 0
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(t) {
				return nil
			}
			cur = t[i]
		default:
			return nil
		}
	}
	switch cur.(type) {
	case map[string]any, []any:
		return nil // too big to quote
	}
	return cur
}
