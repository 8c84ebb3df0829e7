package normalizer

import (
	"math"
	"time"
)

// ValueKind is the Go type of a field's canonical value, as Sanitize
// returns it.
type ValueKind uint8

const (
	// KindAny is a field stored as given (extra.*, JSON fields).
	KindAny ValueKind = iota
	// KindString is a field whose canonical value is a string (String,
	// LowercaseString, IPAddress, FQDN, URL, DateTime, …).
	KindString
	// KindInt is an Integer or ASN field, stored as int64.
	KindInt
	// KindFloat is a Float or Accuracy field, stored as float64.
	KindFloat
	// KindBool is a Boolean field.
	KindBool
)

// A FieldSanitizer sanitizes values for one harmonization field. It is
// SanitizerFor's compiled form of Sanitize: the field's type is looked up
// once, so parsers that bind columns to fields ahead of time (a Shadowserver
// plan, a CSV column mapping) pay for the lookup once per file rather than
// once per value, and the typed methods avoid boxing values into interfaces
// that the caller already has unboxed. A FieldSanitizer is immutable and safe
// for concurrent use.
type FieldSanitizer struct {
	key  string
	typ  string
	kind ValueKind
}

// SanitizerFor returns the sanitizer of the harmonization field key. An
// unknown key is a *FieldError wrapping ErrUnknownField. extra.* keys are
// accepted and store values as given, as Event.Set does.
func SanitizerFor(key string) (*FieldSanitizer, error) {
	if f, ok := sanitizers[key]; ok {
		return f, nil
	}
	typ, ok := FieldType(key)
	if !ok || key == "extra." {
		return nil, &FieldError{Field: key, Err: ErrUnknownField}
	}
	return newFieldSanitizer(key, typ), nil
}

// sanitizers holds one shared FieldSanitizer per harmonization field. It is
// built once and never changed.
var sanitizers = func() map[string]*FieldSanitizer {
	m := make(map[string]*FieldSanitizer, len(fieldTypes))
	for k, t := range fieldTypes {
		m[k] = newFieldSanitizer(k, t)
	}
	return m
}()

func newFieldSanitizer(key, typ string) *FieldSanitizer {
	f := &FieldSanitizer{key: key, typ: typ}
	switch {
	case stringTyped(typ), typ == "DateTime":
		f.kind = KindString
	case typ == "Integer", typ == "ASN":
		f.kind = KindInt
	case typ == "Float", typ == "Accuracy":
		f.kind = KindFloat
	case typ == "Boolean":
		f.kind = KindBool
	}
	return f
}

// Key is the field's harmonization name.
func (f *FieldSanitizer) Key() string { return f.key }

// Type is the field's IntelMQ type name ("IPAddress", "Integer", …).
func (f *FieldSanitizer) Type() string { return f.typ }

// Kind is the Go type of the field's canonical values.
func (f *FieldSanitizer) Kind() ValueKind { return f.kind }

// Sanitize is Sanitize(f.Key(), v).
func (f *FieldSanitizer) Sanitize(v any) (any, error) {
	out, err := sanitize(f.typ, v)
	if err != nil {
		return nil, &FieldError{Field: f.key, Value: v, Err: err}
	}
	return out, nil
}

// SanitizeString sanitizes a string for a field of KindString and returns
// the canonical string, exactly as Sanitize would; for fields of other kinds
// it is an error wrapping ErrInvalidValue. When s is already canonical
// (trimmed, lower case where the field lower-cases, an IP address in
// canonical notation) s itself is returned without allocating.
func (f *FieldSanitizer) SanitizeString(s string) (string, error) {
	var (
		out string
		err error
	)
	switch {
	case f.typ == "DateTime":
		var t time.Time
		if t, err = ParseTime(s); err == nil {
			var buf [40]byte
			out = string(AppendTime(buf[:0], t))
		}
	case f.kind == KindString:
		out, err = sanitizeString(f.typ, s)
	default:
		err = invalid("field of type %s has no string form", f.typ)
	}
	if err != nil {
		return "", &FieldError{Field: f.key, Value: s, Err: err}
	}
	return out, nil
}

// SanitizeInt sanitizes an integer for a field of KindInt, as Sanitize
// would (an ASN must be in 1..2³²-1); for other kinds it is an error
// wrapping ErrInvalidValue.
func (f *FieldSanitizer) SanitizeInt(n int64) (int64, error) {
	var err error
	switch {
	case f.typ == "ASN" && (n <= 0 || n > math.MaxUint32):
		err = invalid("ASN %d out of range", n)
	case f.kind != KindInt:
		err = invalid("field of type %s is not an integer", f.typ)
	}
	if err != nil {
		return 0, &FieldError{Field: f.key, Value: n, Err: err}
	}
	return n, nil
}

// SanitizeTime formats a time for a DateTime field, as Sanitize would; for
// other fields it is an error wrapping ErrInvalidValue. Use AppendTime to
// format into a reused buffer instead.
func (f *FieldSanitizer) SanitizeTime(t time.Time) (string, error) {
	if f.typ != "DateTime" {
		return "", &FieldError{Field: f.key, Value: t, Err: invalid("field of type %s is not a time", f.typ)}
	}
	if t.IsZero() {
		return "", &FieldError{Field: f.key, Value: t, Err: invalid("zero time")}
	}
	var buf [40]byte
	return string(AppendTime(buf[:0], t)), nil
}

// AppendTime appends t in UTC as TimeFormat, the canonical form of DateTime
// fields, to dst. Whole seconds in years 0 to 9999, what reports carry, are
// written directly, several times faster than time.Time.AppendFormat.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if t.Nanosecond() != 0 || year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeFormat)
	}
	hour, minute, sec := t.Clock()
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '+', '0', '0', ':', '0', '0')
}

// SetSanitized stores v under key without checking it. It is for values
// that a FieldSanitizer of key (or Sanitize) has already produced, and for
// extra.* values; anything else would make the Event invalid, so use Set
// when in doubt.
func (e *Event) SetSanitized(key string, v any) {
	if e.Fields == nil {
		e.Fields = make(map[string]any)
	}
	e.Fields[key] = v
}
