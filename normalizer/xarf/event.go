package xarf

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/abusegw/abusegw/normalizer"
)

// FeedName is the feed.name of every X-ARF event.
const FeedName = "X-ARF"

// builder collects the fields of one event. A value that does not fit its
// harmonization field is kept under extra.* instead of being lost.
type builder struct {
	ev normalizer.Event
}

func newBuilder() *builder {
	b := &builder{ev: normalizer.NewEvent(24)}
	b.ev.Fields["feed.name"] = FeedName
	return b
}

// set stores v under key and reports whether it fitted.
func (b *builder) set(key string, v any) bool {
	if isEmpty(v) {
		return false
	}
	return b.ev.Set(key, v) == nil
}

// setDefault is set for a key that is still unset.
func (b *builder) setDefault(key string, v any) bool {
	if b.ev.Has(key) {
		return false
	}
	return b.set(key, v)
}

// setOr stores v under key, or under extra.name when it does not fit.
func (b *builder) setOr(key, name string, v any) {
	if !b.set(key, v) {
		b.extra(name, v)
	}
}

// extra stores v as extra.name unless it is empty.
func (b *builder) extra(name string, v any) {
	if isEmpty(v) || name == "" {
		return
	}
	_ = b.ev.Set("extra."+name, plain(v))
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(t) == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

// plain turns json.Number into int64 or float64, recursively, so extra
// values look the same whichever decoder produced them.
func plain(v any) any {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return t.String()
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// str returns v as a trimmed string; numbers are formatted, other types give "".
func str(v any) string {
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case json.Number:
		return t.String()
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

// sourceHint says how to read a source identifier.
type sourceHint int

const (
	guessSource sourceHint = iota
	ipSource
	urlSource
	hostSource
	networkSource
)

// hintFor reads an X-ARF Source-Type ("ipv4", "ip-address", "uri", …).
func hintFor(sourceType string) sourceHint {
	switch t := typeKey(sourceType); {
	case t == "":
		return guessSource
	case strings.HasPrefix(t, "ip") && !strings.Contains(t, "range") && !strings.Contains(t, "net"):
		return ipSource
	case strings.Contains(t, "ur"):
		return urlSource
	case strings.Contains(t, "domain") || strings.Contains(t, "host") || strings.Contains(t, "fqdn"):
		return hostSource
	case strings.Contains(t, "cidr") || strings.Contains(t, "net") || strings.Contains(t, "range"):
		return networkSource
	}
	return guessSource
}

// setSource reads a source identifier (IP, URL, host name or network) into
// source.ip, source.url, source.fqdn or source.network. The hint is tried
// first, then the value's shape decides. It reports whether anything was set.
func (b *builder) setSource(value string, hint sourceHint) bool {
	value = strings.TrimSpace(value)
	if value == "" {
		return false
	}
	try := func(h sourceHint) bool {
		switch h {
		case ipSource:
			a, err := normalizer.ParseAddr(value)
			return err == nil && b.setDefault("source.ip", a.String())
		case urlSource:
			if !strings.Contains(value, "://") && !strings.Contains(value, "/") {
				return false
			}
			if !b.setDefault("source.url", value) {
				return false
			}
			b.hostFromURL(value)
			return true
		case networkSource:
			if !strings.Contains(value, "/") {
				return false
			}
			p, err := normalizer.ParsePrefix(value)
			if err != nil {
				return false
			}
			if p.IsSingleIP() {
				return b.setDefault("source.ip", p.Addr().String())
			}
			return b.setDefault("source.network", p.String())
		case hostSource:
			return b.setDefault("source.fqdn", value)
		}
		return false
	}
	if hint != guessSource && try(hint) {
		return true
	}
	for _, h := range []sourceHint{ipSource, networkSource, urlSource, hostSource} {
		if h != hint && try(h) {
			return true
		}
	}
	return false
}

// hostFromURL sets source.ip or source.fqdn from a URL's host when unset.
func (b *builder) hostFromURL(raw string) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return
	}
	if a, err := normalizer.ParseAddr(u.Hostname()); err == nil {
		b.setDefault("source.ip", a.String())
		return
	}
	b.setDefault("source.fqdn", u.Hostname())
}

// hasSource reports whether the event names its source in a field the
// gateway can route on.
func (b *builder) hasSource() bool {
	for _, k := range []string{"source.ip", "source.url", "source.fqdn", "source.network", "source.asn", "source.account"} {
		if b.ev.Has(k) {
			return true
		}
	}
	return false
}

// setProtocol stores a protocol name as protocol.transport (tcp, udp, …) or
// protocol.application (smtp, http, …).
func (b *builder) setProtocol(p string) {
	switch p = strings.ToLower(strings.TrimSpace(p)); p {
	case "":
	case "tcp", "udp", "icmp", "sctp", "icmpv6", "ipv6-icmp", "gre", "esp":
		b.setDefault("protocol.transport", p)
	default:
		b.setDefault("protocol.application", p)
	}
}

// setHash stores "sha256:abc…" or a bare hex hash in malware.hash.*.
func (b *builder) setHash(alg, value string) bool {
	if a, v, ok := strings.Cut(value, ":"); ok && alg == "" {
		alg, value = a, v
	}
	alg = strings.ToLower(strings.ReplaceAll(alg, "-", ""))
	if alg == "" {
		switch len(value) {
		case 32:
			alg = "md5"
		case 40:
			alg = "sha1"
		case 64:
			alg = "sha256"
		}
	}
	switch alg {
	case "md5", "sha1", "sha256":
		return b.set("malware.hash."+alg, strings.ToLower(value))
	}
	return false
}

// snake turns "SmtpMailFromAddress", "Source-Type" or "source_port" into
// "smtp_mail_from_address", "source_type", "source_port".
func snake(s string) string {
	var out []rune
	rs := []rune(strings.TrimSpace(s))
	for i, r := range rs {
		switch {
		case r == '-' || r == ' ' || r == '.' || r == '_':
			if len(out) > 0 && out[len(out)-1] != '_' {
				out = append(out, '_')
			}
		case unicode.IsUpper(r):
			if i > 0 && len(out) > 0 && out[len(out)-1] != '_' &&
				(unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				out = append(out, '_')
			}
			out = append(out, unicode.ToLower(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			out = append(out, r)
		}
	}
	return strings.Trim(string(out), "_")
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// finish checks what every event needs and fills the taxonomy.
func (b *builder) finish(field string) (normalizer.Event, error) {
	if !b.ev.Has("classification.type") && !b.ev.Has("classification.identifier") {
		return normalizer.Event{}, &SchemaError{Field: field, Reason: "report has no type"}
	}
	if !b.hasSource() {
		return normalizer.Event{}, &SchemaError{Field: field, Reason: "report names no source (IP, URL, host name or network)"}
	}
	b.ev.Complete()
	return b.ev, nil
}
