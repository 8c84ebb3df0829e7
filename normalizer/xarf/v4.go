package xarf

import (
	"fmt"
	"slices"
	"strings"

	"github.com/abusegw/abusegw/normalizer"
)

// validateV4 checks a v4 report against the schema of its category and type.
func validateV4(set *schemaSet, doc map[string]any) error {
	cat, _ := doc["category"].(string)
	typ, _ := doc["type"].(string)
	if s, ok := set.v4[cat+"/"+typ]; ok {
		if err := s.Validate(doc); err != nil {
			return describe(err, doc)
		}
		return nil
	}
	// Unknown pair: the core schema names missing or mistyped fields
	// (including an unknown category); otherwise the type is the problem.
	if err := set.v4Core.Validate(doc); err != nil {
		return describe(err, doc)
	}
	types := set.v4Types[cat]
	return &SchemaError{Field: "/type", Value: typ,
		Reason: fmt.Sprintf("value must be one of %s for category %q", quoteList(types), cat)}
}

func quoteList(ss []string) string {
	ss = slices.Sorted(slices.Values(ss))
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// v4Known are the v4 fields mapped to harmonization fields or handled
// specially; every other field goes to extra.<name>.
var v4Known = map[string]bool{
	"timestamp": true, "reporter": true, "sender": true, "source_identifier": true,
	"source_port": true, "category": true, "type": true, "evidence": true,
	"confidence": true, "description": true, "destination_ip": true,
	"destination_port": true, "protocol": true, "service": true, "url": true,
	"domain": true, "malware_family": true, "file_hash": true, "_internal": true,
}

// mapV4 turns a validated v4 report into an event.
func mapV4(doc map[string]any) (normalizer.Event, error) {
	b := newBuilder()
	cat, typ := str(doc["category"]), str(doc["type"])
	b.set("classification.type", v4Classification(cat, typ))
	b.set("classification.identifier", strings.ToLower(typ))
	b.extra("xarf_category", cat)
	b.setOr("time.source", "timestamp", str(doc["timestamp"]))
	if r, ok := doc["reporter"].(map[string]any); ok {
		b.set("feed.provider", str(r["org"]))
		b.extra("reporter_contact", str(r["contact"]))
		b.extra("reporter_domain", str(r["domain"]))
	}
	if s, ok := doc["sender"].(map[string]any); ok {
		b.extra("sender_org", str(s["org"]))
		b.extra("sender_contact", str(s["contact"]))
		b.extra("sender_domain", str(s["domain"]))
	}
	src := str(doc["source_identifier"])
	if !b.setSource(src, guessSource) {
		return normalizer.Event{}, &SchemaError{Field: "/source_identifier", Value: src,
			Reason: "not an IP address, network, URL or host name"}
	}
	b.setOr("source.port", "source_port", doc["source_port"])
	if u := str(doc["url"]); u != "" {
		if b.setDefault("source.url", u) {
			b.hostFromURL(u)
		} else if b.ev.String("source.url") != u {
			b.extra("url", u)
		}
	}
	if d := str(doc["domain"]); d != "" && !b.setDefault("source.fqdn", d) && b.ev.String("source.fqdn") != strings.ToLower(d) {
		b.extra("domain", d)
	}
	b.setOr("destination.ip", "destination_ip", str(doc["destination_ip"]))
	b.setOr("destination.port", "destination_port", doc["destination_port"])
	b.setProtocol(str(doc["protocol"]))
	if s := str(doc["service"]); s != "" {
		b.setOr("protocol.application", "service", strings.ToLower(s))
	}
	b.setOr("malware.name", "malware_family", str(doc["malware_family"]))
	if h := str(doc["file_hash"]); h != "" && !b.setHash("", h) {
		b.extra("file_hash", h)
	}
	if c, ok := doc["confidence"]; ok {
		if f, err := toFloat(c); err == nil {
			b.set("feed.accuracy", f*100)
		}
	}
	b.setOr("event_description.text", "description", str(doc["description"]))
	if ev, ok := doc["evidence"].([]any); ok {
		b.extra("evidence", evidenceSummary(ev, "payload"))
	}
	b.extra("internal", doc["_internal"])
	for _, k := range sortedKeys(doc) {
		if !v4Known[k] {
			b.extra(snake(k), doc[k])
		}
	}
	return b.finish("/source_identifier")
}

// evidenceSummary copies evidence items without their (large) payload.
func evidenceSummary(items []any, payloadKey string) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		c := make(map[string]any, len(m))
		for k, v := range m {
			if !strings.EqualFold(k, payloadKey) && !strings.EqualFold(k, "data") {
				c[snake(k)] = v
			}
		}
		out = append(out, c)
	}
	return out
}

func toFloat(v any) (float64, error) {
	var f float64
	_, err := fmt.Sscan(str(v), &f)
	return f, err
}
