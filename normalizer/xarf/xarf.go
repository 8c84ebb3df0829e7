// Package xarf reads X-ARF abuse reports into normalizer Events.
//
// Three generations are supported:
//
//   - v4 JSON (xarf-spec, "xarf_version": "4.x.y"), validated against the
//     schema of its category and type;
//   - v3 JSON ("Version": "3"), validated against abusix/xarf's per-type
//     schemas, or xarf-spec's legacy v3 schema ("3.0"); other 3.x shapes
//     (xarf-spec's v3 samples, "3.0.0") have no published schema and are
//     mapped best-effort;
//   - v0.1/v0.2 e-mails, whose report is a YAML part ("Report-Type: …"),
//     read tolerantly: see ParseV02Report.
//
// JSON documents are small, so Parse returns a slice. A document may hold one
// report, an array of reports, or several reports one after another (JSON
// lines); a rejected report is a *normalizer.RowError naming its line, and
// the others still come through. Schemas are the embedded ones from
// mappings/xarf, compiled once.
//
// Each event has feed.name "X-ARF", classification.type (from a table per
// generation) and classification.identifier (the X-ARF type, lower-cased),
// and a source.* field; everything else goes under extra.*.
package xarf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/abusegw/abusegw/normalizer"
)

// MaxDocumentSize is the most Parse reads of a JSON document, and
// ParseMessage of a mail.
const MaxDocumentSize = 16 << 20

// ErrTooLarge is returned for input beyond MaxDocumentSize.
var ErrTooLarge = errors.New("X-ARF input too large")

// DetectJSON reports whether head (the first bytes of a file, at least a few
// hundred) looks like an X-ARF v3 or v4 JSON report.
func DetectJSON(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || (head[0] != '{' && head[0] != '[') {
		return false
	}
	if bytes.Contains(head, []byte(`"xarf_version"`)) {
		return true
	}
	return bytes.Contains(head, []byte(`"Version"`)) &&
		(bytes.Contains(head, []byte(`"ReporterInfo"`)) || bytes.Contains(head, []byte(`"Report"`)))
}

// Parse reads X-ARF JSON reports from r. name is the file or attachment
// name used in errors and RawRef. It returns the events of the valid reports
// and, if any report was rejected, an error: the *normalizer.RowError of the
// one bad report, or errors.Join of several. Errors from reading r are
// returned as they are.
func Parse(r io.Reader, name string) ([]normalizer.Event, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading X-ARF document %s: %w", name, err)
	}
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("reading X-ARF document %s: %w (limit %d bytes)", name, ErrTooLarge, MaxDocumentSize)
	}
	set, err := schemas()
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var events []normalizer.Event
	var errs []error
	rowErr := func(off int64, err error) {
		re := &normalizer.RowError{File: name, Line: lineAt(data, off), Err: err}
		var se *SchemaError
		if errors.As(err, &se) {
			re.Field = se.Field
		}
		errs = append(errs, re)
	}
	for {
		off := skipSpace(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			rowErr(off, fmt.Errorf("%w: not JSON: %w", ErrInvalidReport, err))
			break // the decoder cannot resynchronise
		}
		var docs []json.RawMessage
		var offs []int64
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			if err := json.Unmarshal(t, &docs); err != nil {
				rowErr(off, fmt.Errorf("%w: %w", ErrInvalidReport, err))
				continue
			}
			for _, d := range docs {
				// Offsets of array elements are approximate: the array's.
				_ = d
				offs = append(offs, off)
			}
		} else {
			docs, offs = []json.RawMessage{raw}, []int64{off}
		}
		for i, d := range docs {
			ev, err := parseDoc(set, d)
			if err != nil {
				rowErr(offs[i], err)
				continue
			}
			ev.Raw = normalizer.RawRef{File: name, Line: lineAt(data, offs[i])}
			events = append(events, ev)
		}
	}
	switch len(errs) {
	case 0:
		return events, nil
	case 1:
		return events, errs[0]
	}
	return events, errors.Join(errs...)
}

// parseDoc validates and maps one JSON report.
func parseDoc(set *schemaSet, raw []byte) (normalizer.Event, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return normalizer.Event{}, fmt.Errorf("%w: not JSON: %w", ErrInvalidReport, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return normalizer.Event{}, &SchemaError{Field: "/", Reason: "report must be a JSON object"}
	}
	if _, ok := doc["xarf_version"]; ok {
		if err := validateV4(set, doc); err != nil {
			return normalizer.Event{}, err
		}
		return mapV4(doc)
	}
	version, ok := doc["Version"]
	if !ok {
		return normalizer.Event{}, &SchemaError{Field: "/xarf_version", Reason: "required field is missing (neither v4 \"xarf_version\" nor v3 \"Version\" present)"}
	}
	if !strings.HasPrefix(str(version), "3") {
		return normalizer.Event{}, &SchemaError{Field: "/Version", Value: version, Reason: "unsupported X-ARF version (want 3 or a v4 \"xarf_version\")"}
	}
	validated, err := validateV3(set, doc)
	if err != nil {
		return normalizer.Event{}, err
	}
	ev, err := mapV3(doc)
	if err != nil {
		return ev, err
	}
	if !validated {
		ev.Fields["extra.schema_validated"] = false
	}
	return ev, nil
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
			continue
		}
		break
	}
	return off
}

// lineAt returns the 1-based line of byte offset off.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
