package xarf

import (
	"bytes"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/internal/mimewalk"
)

// MaxYAMLSize is the most of a v0.1/v0.2 report part that is read.
const MaxYAMLSize = 1 << 20

// kv is one "Key: value" of a v0.2 report; key as written.
type kv struct {
	key, value string
}

// yamlReport is a parsed v0.1/v0.2 report: its fields in order, looked up
// by normalised key (lower case, "_" and " " as "-").
type yamlReport struct {
	fields []kv
	index  map[string]int
}

func normKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	return strings.NewReplacer("_", "-", " ", "-").Replace(k)
}

func (r *yamlReport) add(k, v string) {
	nk := normKey(k)
	if nk == "" {
		return
	}
	if _, dup := r.index[nk]; dup {
		return // the first value wins, as a reader would take it
	}
	r.index[nk] = len(r.fields)
	r.fields = append(r.fields, kv{strings.TrimSpace(k), v})
}

func (r *yamlReport) get(k string) string {
	if i, ok := r.index[k]; ok {
		return r.fields[i].value
	}
	return ""
}

// parseYAMLReport reads the report strictly as YAML first and, when that
// fails (as it does for many real senders), line by line as "Key: value".
func parseYAMLReport(data []byte) *yamlReport {
	if len(data) > MaxYAMLSize {
		data = data[:MaxYAMLSize]
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if !utf8.Valid(data) {
		data = []byte(strings.ToValidUTF8(string(data), "\uFFFD"))
	}
	if r := parseStrictYAML(data); r != nil {
		return r
	}
	return parseLines(data)
}

func parseStrictYAML(data []byte) *yamlReport {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	r := &yamlReport{index: map[string]int{}}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		r.add(k.Value, nodeString(v, 0))
	}
	if len(r.fields) == 0 {
		return nil
	}
	return r
}

// nodeString flattens a YAML value whatever its tag ("!!python/unicode 'x'"
// is just "x"); lists become comma-separated. Aliases are followed within a
// budget of nodes, so a "billion laughs" document costs little.
func nodeString(n *yaml.Node, depth int) string {
	budget := 1000
	return flatten(n, depth, &budget)
}

func flatten(n *yaml.Node, depth int, budget *int) string {
	*budget--
	if depth > 8 || *budget < 0 || n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return strings.TrimSpace(n.Value)
	case yaml.AliasNode:
		return flatten(n.Alias, depth+1, budget)
	case yaml.SequenceNode, yaml.MappingNode:
		var parts []string
		for _, c := range n.Content {
			if s := flatten(c, depth+1, budget); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	}
	return ""
}

var (
	lineKey = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_ .-]{0,62}?)\s*:(?:\s+|$)(.*)$`)
	yamlTag = regexp.MustCompile(`^!!?[A-Za-z0-9/:._-]*\s+`)
)

// parseLines is the tolerant reader: tabs, unquoted values containing ": ",
// quotes, YAML tags, repeated keys, indented continuation lines and trailing
// garbage (lines that are not "Key: value") are all taken as a person would.
func parseLines(data []byte) *yamlReport {
	r := &yamlReport{index: map[string]int{}}
	var last = -1
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.ReplaceAll(raw, "\t", " ")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "", trimmed == "---", trimmed == "...", strings.HasPrefix(trimmed, "#"):
			continue
		}
		if m := lineKey.FindStringSubmatch(trimmed); m != nil {
			before := len(r.fields)
			r.add(m[1], cleanValue(m[2]))
			if len(r.fields) > before {
				last = len(r.fields) - 1
			} else {
				last = -1
			}
			continue
		}
		if line[0] == ' ' && last >= 0 {
			// A folded continuation of the previous value.
			r.fields[last].value = strings.TrimSpace(r.fields[last].value + " " + cleanValue(trimmed))
			continue
		}
		last = -1 // garbage: ignore it and what hangs off it
	}
	return r
}

func cleanValue(v string) string {
	v = strings.TrimSpace(v)
	v = yamlTag.ReplaceAllString(v, "")
	if len(v) >= 2 && (v[0] == '\'' && v[len(v)-1] == '\'' || v[0] == '"' && v[len(v)-1] == '"') {
		v = v[1 : len(v)-1]
	}
	return strings.TrimSpace(v)
}

// DetectYAMLPart reports whether a MIME part (its Content-Type value and
// decoded body) is an X-ARF v0.1/v0.2 YAML report: a text, YAML or
// octet-stream part with "Report-Type:" (or "Category:") and "Source:" lines.
func DetectYAMLPart(contentType string, body []byte) bool {
	mt, _ := contentType2(contentType)
	switch {
	case mt == "", strings.HasPrefix(mt, "text/plain"), strings.Contains(mt, "yaml"),
		mt == "application/octet-stream", mt == "text/x-arf", mt == "application/x-arf":
	default:
		return false
	}
	if len(body) > 16<<10 {
		body = body[:16<<10]
	}
	var hasType, hasSource bool
	for _, line := range strings.Split(string(body), "\n") {
		k, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch normKey(k) {
		case "report-type", "category":
			hasType = true
		case "source":
			hasSource = true
		}
	}
	return hasType && hasSource
}

func contentType2(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	return mimewalk.ContentType(v)
}

// v02Known are the report keys (normalised) mapped to harmonization fields.
var v02Known = map[string]bool{
	"category": true, "report-type": true, "source": true, "source-type": true,
	"port": true, "source-port": true, "destination-port": true, "destination": true,
	"destination-ip": true, "destination-ipv4": true, "destination-ipv6": true,
	"targeted-range": true, "destination-network": true, "targeted-url": true,
	"destination-url": true, "domain": true, "download-link": true, "url": true,
	"service": true, "date": true, "tlp": true, "reported-from": true,
	"schema-url": true, "version": true, "user-agent": true, "report-id": true,
}

// ParseV02Report turns the YAML report part of an X-ARF v0.1/v0.2 mail into
// an event. mailHeaders are the mail's top-level headers (any key case; may
// be nil): Date is the fallback for time.source, From for feed.provider, and
// Subject and Message-Id are kept under extra.
//
// The report is read as YAML when it is valid YAML and otherwise line by
// line, tolerating what real senders write: tabs, unquoted values with
// colons, quoted numbers, YAML tags such as "!!python/unicode", repeated
// keys (the first wins), keys in any case, and trailing garbage. A report
// without Report-Type/Category or without a usable Source is an error naming
// that key.
func ParseV02Report(yamlPart []byte, mailHeaders map[string][]string) ([]normalizer.Event, error) {
	r := parseYAMLReport(yamlPart)
	hdr := func(k string) string {
		for hk, vs := range mailHeaders {
			if strings.EqualFold(hk, k) && len(vs) > 0 {
				return strings.TrimSpace(vs[0])
			}
		}
		return ""
	}
	category, rtype := r.get("category"), r.get("report-type")
	if rtype == "" && category == "" {
		return nil, &SchemaError{Field: "Report-Type", Reason: "required field is missing (no Report-Type or Category)"}
	}
	b := newBuilder()
	b.set("classification.type", v02Classification(category, rtype))
	ident := rtype
	if ident == "" {
		ident = category
	}
	b.set("classification.identifier", strings.ToLower(ident))
	b.extra("xarf_category", category)

	src := r.get("source")
	if src == "" {
		return nil, &SchemaError{Field: "Source", Reason: "required field is missing"}
	}
	hint := hintFor(r.get("source-type"))
	if !b.setSource(src, hint) {
		return nil, &SchemaError{Field: "Source", Value: src, Reason: "not an IP address, network, URL or host name"}
	}
	b.extra("source_type", r.get("source-type"))

	// Port is the port of the reported thing: the source's for content
	// (a phishing or malware URL), the attacked service's for an attack
	// from the source IP.
	content := hint == urlSource || hint == hostSource || b.ev.Has("source.url") ||
		strings.EqualFold(category, "fraud") || v02Classification(category, rtype) == "malware-distribution"
	if p := r.get("port"); p != "" {
		if content {
			b.setOr("source.port", "port", p)
		} else {
			b.setOr("destination.port", "port", p)
		}
	}
	b.setOr("source.port", "source_port", r.get("source-port"))
	b.setOr("destination.port", "destination_port", r.get("destination-port"))
	for _, k := range []string{"destination-ip", "destination-ipv4", "destination-ipv6", "destination"} {
		if v := r.get(k); v != "" && !b.setDefault("destination.ip", v) {
			b.extra(snake(k), v)
		}
	}
	for _, k := range []string{"targeted-range", "destination-network"} {
		if v := r.get(k); v != "" && !b.setDefault("destination.network", v) {
			b.extra(snake(k), v)
		}
	}
	for _, k := range []string{"targeted-url", "destination-url"} {
		if v := r.get(k); v != "" {
			if !b.setDefault("destination.url", v) || strings.Contains(v, "*") {
				delete(b.ev.Fields, "destination.url")
				b.extra(snake(k), v)
			}
		}
	}
	if d := r.get("domain"); d != "" && !b.setDefault("source.fqdn", d) && b.ev.String("source.fqdn") != strings.ToLower(d) {
		b.extra("domain", d)
	}
	for _, k := range []string{"download-link", "url"} {
		if u := r.get(k); u != "" {
			if b.setDefault("source.url", u) {
				b.hostFromURL(u)
			}
			b.extra(snake(k), u)
		}
	}
	// blocklist.de repeats the report type as Service ("regbot"): keep
	// that under extra, not as a protocol.
	if s := r.get("service"); s != "" {
		if typeKey(s) == typeKey(rtype) {
			b.extra("service", s)
		} else {
			b.setOr("protocol.application", "service", strings.ToLower(s))
		}
	}
	if d := r.get("date"); !b.set("time.source", d) {
		if t, err := mail.ParseDate(d); err == nil {
			b.set("time.source", t)
		} else if t, err := mail.ParseDate(hdr("Date")); err == nil {
			b.extra("date", d)
			b.set("time.source", t)
		}
	}
	b.setOr("tlp", "tlp", r.get("tlp"))
	from := r.get("reported-from")
	b.extra("reported_from", from)
	provider := domainOf(from)
	if provider == "" {
		provider = domainOf(hdr("From"))
	}
	b.set("feed.provider", provider)
	b.extra("xarf_version", r.get("version"))
	b.extra("user_agent", r.get("user-agent"))
	b.extra("report_id", r.get("report-id"))
	b.extra("schema_url", r.get("schema-url"))
	for _, f := range r.fields {
		if !v02Known[normKey(f.key)] {
			b.extra(snake(f.key), f.value)
		}
	}
	b.extra("mail_subject", mimewalk.DecodeWords(hdr("Subject")))
	b.extra("mail_message_id", strings.Trim(hdr("Message-Id"), "<> "))
	ev, err := b.finish("Source")
	if err != nil {
		return nil, err
	}
	return []normalizer.Event{ev}, nil
}

// domainOf returns the domain of an e-mail address ("Abuse <a@b.example>").
func domainOf(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	_, d, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.Trim(d, "<> "))
}
