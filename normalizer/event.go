// Package normalizer turns abuse reports of every supported format into one
// stream of Events named after IntelMQ's harmonization fields.
//
// Each format lives in a sub-package (shadowserver, xarf, arf, intelmq,
// csvmap, mail) and offers a Reader that yields Events one at a time, the way
// encoding/csv yields records: Next returns io.EOF at the end, and a *RowError
// for a row that could not be turned into an Event, after which reading goes on.
package normalizer

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Reader yields the Events of one report. Next returns io.EOF when the report
// is exhausted and a *RowError for a row that was rejected; callers keep
// calling Next after a *RowError. Any other error ends the report.
type Reader interface {
	Next() (Event, error)
}

// RawRef points back at the raw report an Event came from.
type RawRef struct {
	// Report is the stored report's id; zero until the report is stored.
	Report int64 `json:"report,omitempty"`
	// File is the name of the file or attachment, if known.
	File string `json:"file,omitempty"`
	// Line is the 1-based line (CSV row, JSON line) within File, if any.
	Line int `json:"line,omitempty"`
	// Part is the MIME part path ("1.2") for events found in mails.
	Part string `json:"part,omitempty"`
}

// Event is one normalized observation. Fields are keyed by IntelMQ
// harmonization names ("source.ip", "classification.type", "extra.tag").
// Values are string, int64, float64, bool, or, under extra.*, any value that
// encoding/json produces. Use Set to add fields: it sanitizes values the way
// IntelMQ does, so every Event that leaves a parser is valid.
type Event struct {
	Fields map[string]any
	Raw    RawRef
}

// NewEvent returns an empty Event with room for n fields.
func NewEvent(n int) Event {
	return Event{Fields: make(map[string]any, n)}
}

// Set sanitizes v for the harmonization field key and stores it. Keys under
// "extra." are stored as given. An unknown key or a value that does not fit
// the field's type is an error of type *FieldError and leaves the Event as it
// was.
func (e *Event) Set(key string, v any) error {
	if e.Fields == nil {
		e.Fields = make(map[string]any)
	}
	if strings.HasPrefix(key, "extra.") {
		if len(key) == len("extra.") {
			return &FieldError{Field: key, Value: v, Err: ErrUnknownField}
		}
		e.Fields[key] = v
		return nil
	}
	sv, err := Sanitize(key, v)
	if err != nil {
		return err
	}
	e.Fields[key] = sv
	return nil
}

// SetDefault sets key only when the Event does not have it yet.
func (e *Event) SetDefault(key string, v any) error {
	if _, ok := e.Fields[key]; ok {
		return nil
	}
	return e.Set(key, v)
}

// Has reports whether the Event has key.
func (e Event) Has(key string) bool {
	_, ok := e.Fields[key]
	return ok
}

// Get returns the value of key.
func (e Event) Get(key string) (any, bool) {
	v, ok := e.Fields[key]
	return v, ok
}

// String returns the value of key formatted as a string, or "".
func (e Event) String(key string) string {
	v, ok := e.Fields[key]
	if !ok || v == nil {
		return ""
	}
	switch t := v.(type) {
	case string:
		return t
	case int64:
		return fmt.Sprint(t)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return strings.Trim(string(b), `"`)
	}
}

// Int returns an integer field (source.port, source.asn, …).
func (e Event) Int(key string) (int64, bool) {
	v, ok := e.Fields[key].(int64)
	return v, ok
}

// Addr returns an IP address field (source.ip, destination.ip, …).
func (e Event) Addr(key string) (netip.Addr, bool) {
	s, ok := e.Fields[key].(string)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// Time returns a DateTime field (time.source, time.observation, …) in UTC.
func (e Event) Time(key string) (time.Time, bool) {
	s, ok := e.Fields[key].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil
}

// Keys returns the Event's field names, sorted.
func (e Event) Keys() []string {
	return slices.Sorted(maps.Keys(e.Fields))
}

// Extra returns the extra.* fields without their prefix.
func (e Event) Extra() map[string]any {
	var out map[string]any
	for k, v := range e.Fields {
		if name, ok := strings.CutPrefix(k, "extra."); ok {
			if out == nil {
				out = make(map[string]any)
			}
			out[name] = v
		}
	}
	return out
}

// MarshalJSON writes the Event as IntelMQ does: one flat object whose keys
// are the harmonization names. The raw reference is not part of it.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.Fields == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(e.Fields)
}

// UnmarshalJSON reads a flat IntelMQ-style object without sanitizing it; use
// the intelmq package to read untrusted input.
func (e *Event) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		if f, ok := v.(float64); ok && f == float64(int64(f)) && fieldTypes[k] != "Float" {
			m[k] = int64(f)
		}
	}
	e.Fields = m
	return nil
}

// WriteJSONLines writes events as JSON lines, the format of `abusegw parse`.
func WriteJSONLines(w io.Writer, events ...Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			return fmt.Errorf("writing event: %w", err)
		}
	}
	return nil
}
