package normalizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TimeFormat is how DateTime fields are written: RFC 3339 in UTC with an
// explicit "+00:00" offset, as IntelMQ writes them.
const TimeFormat = "2006-01-02T15:04:05.999999-07:00"

var (
	// ErrUnknownField is returned for a key that is not a harmonization field.
	ErrUnknownField = errors.New("unknown field")
	// ErrInvalidValue is returned for a value that does not fit its field.
	ErrInvalidValue = errors.New("invalid value")
)

// FieldError says which field had which bad value and why.
type FieldError struct {
	Field string
	Value any
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %s: %v (value %q)", e.Field, e.Err, truncate(fmt.Sprint(e.Value), 80))
}

func (e *FieldError) Unwrap() error { return e.Err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// FieldType returns the IntelMQ type of a harmonization field and whether the
// field exists. extra.* fields have type "JSONDict".
func FieldType(key string) (string, bool) {
	if strings.HasPrefix(key, "extra.") {
		return "JSONDict", true
	}
	t, ok := fieldTypes[key]
	return t, ok
}

// Sanitize checks v against the type of harmonization field key and returns
// it in canonical form (trimmed, lower-cased where IntelMQ lower-cases, IPs
// in canonical notation, times in UTC as TimeFormat, integers as int64).
func Sanitize(key string, v any) (any, error) {
	typ, ok := FieldType(key)
	if !ok {
		return nil, &FieldError{Field: key, Value: v, Err: ErrUnknownField}
	}
	out, err := sanitize(typ, v)
	if err != nil {
		return nil, &FieldError{Field: key, Value: v, Err: err}
	}
	return out, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidValue}, args...)...)
}

func sanitize(typ string, v any) (any, error) {
	switch typ {
	case "JSONDict", "JSON":
		return v, nil
	case "Integer":
		return toInt(v)
	case "ASN":
		if s, ok := v.(string); ok {
			s = strings.TrimSpace(s)
			if len(s) > 2 && strings.EqualFold(s[:2], "as") {
				v = s[2:]
			}
		}
		n, err := toInt(v)
		if err != nil {
			return nil, err
		}
		if n <= 0 || n > math.MaxUint32 {
			return nil, invalid("ASN %d out of range", n)
		}
		return n, nil
	case "Float":
		return toFloat(v)
	case "Accuracy":
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		if f < 0 || f > 100 {
			return nil, invalid("accuracy %v outside 0..100", f)
		}
		return f, nil
	case "Boolean":
		return toBool(v)
	case "DateTime":
		t, err := ParseTime(v)
		if err != nil {
			return nil, err
		}
		var buf [40]byte
		return string(AppendTime(buf[:0], t)), nil
	}
	s, err := toString(v)
	if err != nil {
		return nil, err
	}
	out, err := sanitizeString(typ, s)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stringTyped reports whether the canonical value of a field of type typ is
// a string, so that sanitizeString applies to it.
func stringTyped(typ string) bool {
	switch typ {
	case "String", "Base64", "LowercaseString", "UppercaseString", "IPAddress", "IPNetwork",
		"FQDN", "URL", "Registry", "TLP", "ClassificationTaxonomy", "ClassificationType":
		return true
	}
	return false
}

// sanitizeString is sanitize for a string value of a string-typed field. It
// returns s itself, without allocating, when s is already canonical.
func sanitizeString(typ, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("empty")
	}
	switch typ {
	case "String", "Base64":
		return s, nil
	case "LowercaseString":
		return strings.ToLower(s), nil
	case "UppercaseString":
		return strings.ToUpper(s), nil
	case "IPAddress":
		return CanonicalAddr(s)
	case "IPNetwork":
		p, err := ParsePrefix(s)
		if err != nil {
			return "", err
		}
		return p.String(), nil
	case "FQDN":
		s = strings.TrimSuffix(strings.ToLower(s), ".")
		if s == "" || strings.ContainsAny(s, " \t/:@\\\"'<>") {
			return "", invalid("not a host name")
		}
		// Only digits and dots can be an IPv4 address here (a colon was
		// rejected above); testing first spares ParseAddr's error value.
		if dotted(s) {
			if _, err := netip.ParseAddr(s); err == nil {
				return "", invalid("an IP address is not a host name")
			}
		}
		return s, nil
	case "URL":
		return sanitizeURL(s)
	case "Registry":
		s = strings.ToUpper(s)
		if s == "RIPE-NCC" || s == "RIPENCC" {
			s = "RIPE"
		}
		switch s {
		case "AFRINIC", "APNIC", "ARIN", "LACNIC", "RIPE":
			return s, nil
		}
		return "", invalid("unknown registry")
	case "TLP":
		s = strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "TLP:"))
		switch s {
		case "WHITE", "GREEN", "AMBER", "RED", "CLEAR", "AMBER+STRICT":
			return s, nil
		}
		return "", invalid("unknown TLP level")
	case "ClassificationTaxonomy":
		s = strings.ToLower(s)
		if _, ok := taxonomies[s]; !ok {
			return "", invalid("unknown taxonomy")
		}
		return s, nil
	case "ClassificationType":
		t, ok := ClassificationType(s)
		if !ok {
			return "", invalid("unknown classification type")
		}
		return t, nil
	}
	return "", invalid("unsupported field type %s", typ)
}

// dotted reports whether s has only digits and dots.
func dotted(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// CanonicalAddr sanitizes an IP address as the IPAddress field type does
// (see ParseAddr) and returns it in canonical notation. When s is already
// canonical, s itself is returned and nothing is allocated.
func CanonicalAddr(s string) (string, error) {
	a, err := ParseAddr(s)
	if err != nil {
		return "", err
	}
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == s {
		return s, nil
	}
	return a.String(), nil
}

func toString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case []byte:
		return string(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	case fmt.Stringer:
		return t.String(), nil
	case nil:
		return "", invalid("null")
	}
	return "", invalid("expected a string, got %T", v)
}

func toInt(v any) (int64, error) {
	switch t := v.(type) {
	case int:
		return int64(t), nil
	case int64:
		return t, nil
	case int32:
		return int64(t), nil
	case uint16:
		return int64(t), nil
	case uint32:
		return int64(t), nil
	case float64:
		if t != math.Trunc(t) || math.IsInf(t, 0) {
			return 0, invalid("not an integer")
		}
		return int64(t), nil
	case json.Number:
		return toInt(string(t))
	case string:
		s := strings.TrimSpace(t)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) {
				return 0, invalid("not an integer")
			}
			return int64(f), nil
		}
		return n, nil
	}
	return 0, invalid("expected an integer, got %T", v)
}

func toFloat(v any) (float64, error) {
	switch t := v.(type) {
	case float64:
		return t, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case json.Number:
		return toFloat(string(t))
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, invalid("not a number")
		}
		return f, nil
	}
	return 0, invalid("expected a number, got %T", v)
}

func toBool(v any) (bool, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case int64:
		return t != 0, nil
	case int:
		return t != 0, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "1", "yes", "y", "t":
			return true, nil
		case "false", "0", "no", "n", "f":
			return false, nil
		}
	}
	return false, invalid("not a boolean")
}

// ParseAddr parses an IP address as reports write them: surrounding space,
// brackets, a zone or an IPv4-mapped IPv6 form are tolerated.
func ParseAddr(s string) (netip.Addr, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		// "192.0.2.1/32" names one address.
		if p, perr := netip.ParsePrefix(s); perr == nil && p.IsSingleIP() {
			return p.Addr().Unmap(), nil
		}
		return netip.Addr{}, invalid("not an IP address")
	}
	return a.WithZone("").Unmap(), nil
}

// ParsePrefix parses a network in CIDR notation; a bare address is its own
// single-address network. Host bits are cleared.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, invalid("not an IP network")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func sanitizeURL(s string) (string, error) {
	lower := strings.ToLower(s)
	for _, d := range [][2]string{{"hxxp://", "http://"}, {"hxxps://", "https://"}} {
		if strings.HasPrefix(lower, d[0]) {
			s = d[1] + s[len(d[0]):]
		}
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || strings.ContainsAny(u.Host, " \t") {
		return "", invalid("not a URL")
	}
	return s, nil
}

// timeLayouts are the shapes of timestamps seen in reports, tried in order.
// Values without a zone are UTC, as Shadowserver documents for its reports.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05 Z0700",
	"2006-01-02 15:04:05 -0700 MST",
	"2006-01-02 15:04:05 MST",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05-07",
	"2006-01-02 15:04:05-07",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC1123Z,
	time.RFC1123,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700 (MST)",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
	time.ANSIC,
	time.UnixDate,
	"Jan 2 2006 15:04:05",
	"02/01/2006 15:04:05",
}

// ParseTime reads a timestamp in any of the common report formats, a
// time.Time, or Unix seconds, and returns it in UTC.
func ParseTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return time.Time{}, invalid("zero time")
		}
		return t.UTC(), nil
	case int64:
		return time.Unix(t, 0).UTC(), nil
	case int:
		return time.Unix(int64(t), 0).UTC(), nil
	case float64:
		sec, frac := math.Modf(t)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return time.Time{}, invalid("empty time")
		}
		// "+00" and " UTC" suffixes are common; Go's layouts want full offsets.
		for _, layout := range timeLayouts {
			if tm, err := time.Parse(layout, s); err == nil {
				return tm.UTC(), nil
			}
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			if n > 1e12 { // milliseconds
				return time.UnixMilli(n).UTC(), nil
			}
			return time.Unix(n, 0).UTC(), nil
		}
		if strings.HasSuffix(s, " UTC") || strings.HasSuffix(s, " GMT") {
			return ParseTime(s[:len(s)-4])
		}
		return time.Time{}, invalid("unrecognised time format")
	}
	return time.Time{}, invalid("expected a time, got %T", v)
}
