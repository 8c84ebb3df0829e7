package shadowserver

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusegw/abusegw/normalizer"
)

// A converter is one of the functions IntelMQ's Shadowserver parser looks up
// by name in its `functions` table (intelmq/bots/parsers/shadowserver/
// _config.py). fn returns the converted value; a value of kind vNone is
// Python's None (the field is not set). fn never panics, whatever the input.
type converter struct {
	name     string
	needsRow bool
	fn       func(v string, row *rowView) (val, error)
}

// valKind says which member of a val is set.
type valKind uint8

const (
	vNone valKind = iota
	vString
	vInt
	vFloat
	vBool
	vTime
)

// val is a converted value, kept unboxed until it is stored in the Event:
// boxing into an interface allocates, and the hot path should do it once.
type val struct {
	kind valKind
	b    bool
	s    string
	n    int64
	f    float64
	t    time.Time
}

var none = val{}

func str(s string) val { return val{kind: vString, s: s} }

// errUnparsed marks a value the converter could not interpret but that is
// not wrong enough to reject the row: for an optional field the raw value is
// kept under extra.<column>, as IntelMQ does when Event.add rejects a value;
// for a required field it is a row error.
var errUnparsed = errors.New("value not understood")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{normalizer.ErrInvalidValue}, args...)...)
}

// converters is the complete IntelMQ function table. It is never written
// after package initialisation.
var converters = map[string]*converter{
	"add_UTC_to_timestamp":      {fn: convUTCTimestamp},
	"convert_bool":              {fn: convBool},
	"validate_to_none":          {fn: convValidateToNone},
	"convert_int":               {fn: convInt},
	"convert_float":             {fn: convFloat},
	"convert_http_host_and_url": {fn: convHTTPHostAndURL, needsRow: true},
	"invalidate_zero":           {fn: convInvalidateZero},
	"validate_ip":               {fn: convValidateIP},
	"validate_network":          {fn: convValidateNetwork},
	"validate_fqdn":             {fn: convValidateFQDN},
	"convert_date":              {fn: convDate},
	"convert_date_utc":          {fn: convDate},
	"force_base64":              {fn: convForceBase64},
	"scan_exchange_taxonomy":    {fn: exchangeChoice("intrusions", "vulnerable")},
	"scan_exchange_type":        {fn: exchangeChoice("system-compromise", "vulnerable-system")},
	"scan_exchange_identifier":  {fn: exchangeChoice("exchange-server-webshell", "vulnerable-exchange-server")},
	"category_or_detail":        {fn: convCategoryOrDetail, needsRow: true},
	"extract_cve_from_tag":      {fn: convExtractCVE},
}

func init() {
	for name, c := range converters {
		c.name = name
	}
}

// rowView gives the row-aware converters the columns they look at, by name,
// the way IntelMQ's csv.DictReader row does: a column is "in the row" when it
// is in the header, and a short row reads as empty.
type rowView struct {
	rec []string
	idx *specialColumns
}

// specialColumns are the header positions (-1: absent) of the columns that
// row-aware converters read; resolved once per file.
type specialColumns struct {
	ccDNS, httpHost, hostname, ip, url, httpURL, application, category, detail int
}

func (r *rowView) has(i int) bool { return i >= 0 }

func (r *rowView) get(i int) string {
	if i < 0 || i >= len(r.rec) {
		return ""
	}
	return r.rec[i]
}

// convUTCTimestamp is add_UTC_to_timestamp: Shadowserver timestamps carry no
// zone and are UTC. IntelMQ appends " UTC" and lets the DateTime field parse
// it; we parse directly.
func convUTCTimestamp(v string, _ *rowView) (val, error) {
	t, ok := parseUTC(v)
	if !ok {
		return none, errUnparsed
	}
	return val{kind: vTime, t: t}, nil
}

// convDate is convert_date and convert_date_utc: a timestamp in any common
// format, UTC when it names no zone.
func convDate(v string, _ *rowView) (val, error) {
	if strings.TrimSpace(v) == "" {
		return none, nil
	}
	t, ok := parseUTC(v)
	if !ok {
		return none, errUnparsed
	}
	return val{kind: vTime, t: t}, nil
}

// parseUTC reads Shadowserver's "YYYY-MM-DD HH:MM:SS" without allocating,
// and falls back to normalizer.ParseTime for anything else.
func parseUTC(v string) (time.Time, bool) {
	if len(v) == 19 && v[4] == '-' && v[7] == '-' && (v[10] == ' ' || v[10] == 'T') && v[13] == ':' && v[16] == ':' {
		y, ok1 := digits(v[0:4])
		mo, ok2 := digits(v[5:7])
		d, ok3 := digits(v[8:10])
		h, ok4 := digits(v[11:13])
		mi, ok5 := digits(v[14:16])
		s, ok6 := digits(v[17:19])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && mo >= 1 && mo <= 12 && d >= 1 && h < 24 && mi < 60 && s < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
			// time.Date normalises 02-30 to 03-02; a real date keeps its day.
			if t.Day() == d {
				return t, true
			}
		}
	}
	if t, ok := parseHTTPDate(v); ok {
		return t, true
	}
	// Guess the layout from the shape before falling back to
	// normalizer.ParseTime, which tries some twenty layouts and allocates an
	// error for each miss: HTTP dates in scan_http cost more than the rest
	// of the row that way.
	var layout string
	switch {
	case len(v) == 29 && v[3] == ',' && (strings.HasSuffix(v, " GMT") || strings.HasSuffix(v, " UTC")):
		layout = time.RFC1123 // "Thu, 19 Apr 2018 00:02:28 GMT", from HTTP headers
	case len(v) > 19 && v[4] == '-' && v[10] == 'T' && (v[len(v)-1] == 'Z' || v[len(v)-3] == ':'):
		layout = time.RFC3339Nano
	}
	if layout != "" {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	t, err := normalizer.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// parseHTTPDate reads an HTTP date, "Thu, 19 Apr 2018 00:02:28 GMT" (or
// UTC), without allocating: time.Parse makes a new fixed zone for the zone
// name of every value. It accepts exactly what time.Parse(time.RFC1123, v)
// accepts for these two zones, and reports false for anything else.
func parseHTTPDate(v string) (time.Time, bool) {
	if len(v) != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
		v[19] != ':' || v[22] != ':' || (v[25:] != " GMT" && v[25:] != " UTC") {
		return time.Time{}, false
	}
	switch v[:3] {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
	default:
		return time.Time{}, false
	}
	month := strings.Index("JanFebMarAprMayJunJulAugSepOctNovDec", v[8:11])
	if month < 0 || month%3 != 0 {
		return time.Time{}, false
	}
	d, ok1 := digits(v[5:7])
	y, ok2 := digits(v[12:16])
	h, ok3 := digits(v[17:19])
	mi, ok4 := digits(v[20:22])
	sec, ok5 := digits(v[23:25])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(month/3+1), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 31 Apr: time.Parse rejects it, time.Date moves on
		return time.Time{}, false
	}
	return t, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// convBool is convert_bool: unknown words are None, not errors.
func convBool(v string, _ *rowView) (val, error) {
	switch strings.ToLower(v) {
	case "y", "yes", "true", "enabled", "1":
		return val{kind: vBool, b: true}, nil
	case "n", "no", "false", "disabled", "0":
		return val{kind: vBool}, nil
	}
	return none, nil
}

// convValidateToNone is validate_to_none: "0" and "unknown" mean no value.
func convValidateToNone(v string, _ *rowView) (val, error) {
	if v == "" || v == "0" || v == "unknown" {
		return none, nil
	}
	return str(v), nil
}

// parseInt reads an integer as Python's int(str) does for report data:
// surrounding space and a sign are allowed.
func parseInt(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, invalidf("not an integer")
	}
	return n, nil
}

// convInt is convert_int: empty is None, anything else must be an integer.
func convInt(v string, _ *rowView) (val, error) {
	if v == "" {
		return none, nil
	}
	n, err := parseInt(v)
	if err != nil {
		return none, err
	}
	return val{kind: vInt, n: n}, nil
}

// convInvalidateZero is invalidate_zero: like convert_int, and 0 is None
// (Shadowserver writes 0 for "no ASN", "no NAICS code").
func convInvalidateZero(v string, _ *rowView) (val, error) {
	if v == "" {
		return none, nil
	}
	n, err := parseInt(v)
	if err != nil {
		return none, err
	}
	if n == 0 {
		return none, nil
	}
	return val{kind: vInt, n: n}, nil
}

// convFloat is convert_float. NaN and infinities are rejected because they
// cannot be written as JSON.
func convFloat(v string, _ *rowView) (val, error) {
	if v == "" {
		return none, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return none, invalidf("not a number")
	}
	return val{kind: vFloat, f: f}, nil
}

// convValidateIP is validate_ip: 0.0.0.0 and values with a prefix length are
// not a host address (IntelMQ issue #1720) and read as None.
func convValidateIP(v string, _ *rowView) (val, error) {
	if v == "0.0.0.0" || strings.Contains(v, "/") {
		return none, nil
	}
	a, err := normalizer.CanonicalAddr(v)
	if err != nil {
		return none, nil
	}
	return str(a), nil
}

// convValidateNetwork is validate_network: only CIDR notation is a network.
func convValidateNetwork(v string, _ *rowView) (val, error) {
	if !strings.Contains(v, "/") {
		return none, nil
	}
	p, err := normalizer.ParsePrefix(v)
	if err != nil {
		return none, nil
	}
	return str(p.String()), nil
}

// convValidateFQDN is validate_fqdn: a value that is not a host name is None.
func convValidateFQDN(v string, _ *rowView) (val, error) {
	if v == "" {
		return none, nil
	}
	if _, err := fqdnSanitizer.SanitizeString(v); err != nil {
		return none, nil
	}
	return str(v), nil
}

// fqdnSanitizer checks host names for validate_fqdn.
var fqdnSanitizer = func() *normalizer.FieldSanitizer {
	f, err := normalizer.SanitizerFor("source.fqdn")
	if err != nil {
		panic(err) // a harmonization field the normalizer defines itself
	}
	return f
}()

// convForceBase64 is force_base64: values that are already base64 stay as
// they are, anything else is encoded, so the field is uniformly base64.
func convForceBase64(v string, _ *rowView) (val, error) {
	if v == "" {
		return none, nil
	}
	// Python's b64decode(validate=True) rejects line breaks; Go's decoder
	// skips them, so check for them first.
	if !strings.ContainsAny(v, "\r\n") {
		if _, err := base64.StdEncoding.DecodeString(v); err == nil {
			return str(v), nil
		}
	}
	return str(base64.StdEncoding.EncodeToString([]byte(v))), nil
}

// exchangeChoice builds scan_exchange_taxonomy/_type/_identifier: the
// Exchange scan marks a server with a web shell in its tag.
func exchangeChoice(webshell, otherwise string) func(string, *rowView) (val, error) {
	return func(v string, _ *rowView) (val, error) {
		if strings.Contains(v, "webshell") {
			return str(webshell), nil
		}
		return str(otherwise), nil
	}
}

// convCategoryOrDetail is category_or_detail: the category column, or the
// detail column when the category is empty.
func convCategoryOrDetail(_ string, row *rowView) (val, error) {
	if c := row.get(row.idx.category); c != "" {
		return str(c), nil
	}
	return str(row.get(row.idx.detail)), nil
}

// convExtractCVE is extract_cve_from_tag: the sorted, de-duplicated
// "cve-NNNN-NNNN" entries of a ";"-separated tag, or None.
func convExtractCVE(v string, _ *rowView) (val, error) {
	if !strings.Contains(v, "cve-") {
		return none, nil // the common case, without allocating
	}
	var cves []string
	for t := range strings.SplitSeq(v, ";") {
		if isCVE(t) {
			cves = append(cves, t)
		}
	}
	if len(cves) == 0 {
		return none, nil
	}
	slices.Sort(cves)
	cves = slices.Compact(cves)
	return str(strings.Join(cves, ";")), nil
}

// isCVE matches ^cve-[0-9]+-[0-9]+$ (lower case only, as IntelMQ's regex).
func isCVE(t string) bool {
	rest, ok := strings.CutPrefix(t, "cve-")
	if !ok {
		return false
	}
	year, num, ok := strings.Cut(rest, "-")
	if !ok || year == "" || num == "" {
		return false
	}
	_, ok1 := digits(year)
	_, ok2 := digits(num)
	return ok1 && ok2
}

// convHTTPHostAndURL is convert_http_host_and_url: reports split a URL into
// a host column (cc_dns, http_host, hostname or ip, first non-empty) and a
// path or request-line column (url or http_url); join them into one URL.
// Without both parts the value is returned unchanged.
func convHTTPHostAndURL(v string, row *rowView) (val, error) {
	idx := row.idx
	host := ""
	for _, i := range [...]int{idx.ccDNS, idx.httpHost, idx.hostname, idx.ip} {
		if host = row.get(i); host != "" {
			break
		}
	}
	var path string
	switch {
	case row.has(idx.url):
		path = row.get(idx.url)
	case row.has(idx.httpURL):
		path = row.get(idx.httpURL)
	}
	if host == "" || path == "" {
		return str(v), nil
	}
	// Strip a leading method ("GET ") and a trailing " HTTP/1.1", as
	// IntelMQ's two regular expressions do.
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[i:]
	} else {
		path = ""
	}
	if i := strings.IndexAny(path, " \t\r\n\v\f"); i >= 0 {
		path = path[:i]
	}
	scheme := "http"
	if a := row.get(idx.application); a == "http" || a == "https" {
		scheme = a
	}
	return str(scheme + "://" + host + path), nil
}
