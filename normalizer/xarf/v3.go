package xarf

import (
	"maps"
	"slices"
	"strings"

	"github.com/abusegw/abusegw/normalizer"
)

// validateV3 checks a v3 report. Version "3" is checked against abusix/xarf's
// per-type schema chosen by ReportType and ReportClass (the authoritative v3
// schemas). Other 3.x versions (xarf-spec's "3.0.0" samples) have no usable
// published schema: they are only checked for a Report object and mapped
// best-effort; validated is false for them.
func validateV3(set *schemaSet, doc map[string]any) (validated bool, err error) {
	if str(doc["Version"]) == "3" {
		if err := validateAbusix(set, doc); err != nil {
			return false, err
		}
		return true, nil
	}
	if _, ok := doc["Report"].(map[string]any); !ok {
		return false, &SchemaError{Field: "/Report", Reason: "required object is missing"}
	}
	return false, nil
}

func validateAbusix(set *schemaSet, doc map[string]any) error {
	rep, ok := doc["Report"].(map[string]any)
	if !ok {
		if _, present := doc["Report"]; present {
			return &SchemaError{Field: "/Report", Value: doc["Report"], Reason: "must be an object"}
		}
		// The schemas do not require Report (abusix's oneOf only fails
		// because every type matches); say so plainly.
		if err := set.v3Any.Validate(doc); err != nil {
			if se, ok := describe(err, doc).(*SchemaError); ok && se.Field != "" && !strings.HasPrefix(se.Field, "/Report") {
				se.Others = append([]string{"/Report"}, se.Others...)
				return se
			}
		}
		return &SchemaError{Field: "/Report", Reason: "required field is missing"}
	}
	rt, isStr := rep["ReportType"].(string)
	if !isStr || rt == "" {
		reason := "required field is missing"
		if _, present := rep["ReportType"]; present {
			reason = "must be a non-empty string naming the report type"
		}
		return &SchemaError{Field: "/Report/ReportType", Value: rep["ReportType"], Reason: reason}
	}
	var cands []v3Schema
	var all []string
	for _, s := range set.v3 {
		all = append(all, s.types...)
		if slices.Contains(s.types, rt) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return &SchemaError{Field: "/Report/ReportType", Value: rt,
			Reason: "value must be one of " + quoteList(slices.Compact(slices.Sorted(slices.Values(all))))}
	}
	pick := cands[0]
	rc, _ := rep["ReportClass"].(string)
	for _, c := range cands {
		if slices.Contains(c.classes, rc) {
			pick = c
			break
		}
	}
	if err := pick.schema.Validate(doc); err != nil {
		return describe(err, doc)
	}
	return nil
}

// v3Known are the Report fields mapped to harmonization fields; every other
// field goes to extra.<snake_case name>. Keys are compared lower-cased.
var v3Known = map[string]bool{
	"reportclass": true, "reporttype": true, "date": true, "sourceip": true,
	"sourceport": true, "sourceurl": true, "source": true, "asn": true,
	"destinationip": true, "destinationport": true, "protocol": true,
	"transportprotocol": true, "servicename": true, "malwarename": true,
	"botnetname": true, "rpzdomain": true, "samples": true, "attachment": true,
	"additionalinfo": true, "url": true, "account": true, "filehash": true,
	"domain": true,
}

// mapV3 turns a v3 report (abusix/xarf shape or the xarf-spec legacy shape
// with a Source object and AdditionalInfo) into an event.
func mapV3(doc map[string]any) (normalizer.Event, error) {
	b := newBuilder()
	rep, _ := doc["Report"].(map[string]any)
	// Fold AdditionalInfo (legacy shape) into the report; report fields win.
	r := make(map[string]any, len(rep))
	if add, ok := rep["AdditionalInfo"].(map[string]any); ok {
		for k, v := range add {
			r[strings.ToLower(k)] = v
		}
	}
	for k, v := range rep {
		r[strings.ToLower(k)] = v
	}
	orig := map[string]string{} // lower-case → original key, for extra names
	for k := range rep {
		orig[strings.ToLower(k)] = k
	}
	if add, ok := rep["AdditionalInfo"].(map[string]any); ok {
		for k := range add {
			if _, ok := orig[strings.ToLower(k)]; !ok {
				orig[strings.ToLower(k)] = k
			}
		}
	}

	class, typ := str(r["reportclass"]), str(r["reporttype"])
	if typ == "" {
		return normalizer.Event{}, &SchemaError{Field: "/Report/ReportType", Reason: "required field is missing"}
	}
	b.set("classification.type", v3Classification(class, typ))
	b.set("classification.identifier", strings.ToLower(typ))
	b.extra("report_class", class)
	b.extra("xarf_version", str(doc["Version"]))

	if ri, ok := doc["ReporterInfo"].(map[string]any); ok {
		org := str(ri["ReporterOrg"])
		if org == "" {
			org = str(ri["ReporterOrgDomain"])
		}
		if org == "" {
			org = str(ri["ReporterContactName"])
		}
		b.set("feed.provider", org)
		for _, k := range sortedKeys(ri) {
			if k != "ReporterOrg" {
				b.extra(snake(k), str(ri[k]))
			}
		}
	}
	b.extra("on_behalf_of", doc["OnBehalfOf"])
	if d, ok := doc["Disclosure"].(bool); ok {
		b.extra("disclosure", d)
	}
	b.extra("internal_processing", doc["InternalProcessing"])

	b.setOr("time.source", "date", str(r["date"]))

	// Source: SourceIp / SourceUrl (abusix) or Source{IP,URL,Port} (legacy).
	b.setOr("source.ip", "source_ip", str(r["sourceip"]))
	if u := str(r["sourceurl"]); u != "" {
		if b.set("source.url", u) {
			b.hostFromURL(u)
		} else {
			b.extra("source_url", u)
		}
	}
	if s, ok := r["source"].(map[string]any); ok {
		for _, k := range sortedKeys(s) {
			switch strings.ToLower(k) {
			case "ip":
				b.setSource(str(s[k]), ipSource)
			case "url", "uri":
				b.setSource(str(s[k]), urlSource)
			case "domain", "fqdn", "hostname":
				b.setSource(str(s[k]), hostSource)
			case "port":
				b.setOr("source.port", "source_port", s[k])
			default:
				b.extra("source_"+snake(k), s[k])
			}
		}
	} else if s := str(r["source"]); s != "" {
		b.setSource(s, guessSource)
	}
	if u := str(r["url"]); u != "" {
		if b.setDefault("source.url", u) {
			b.hostFromURL(u)
		} else {
			b.extra("url", u)
		}
	}
	if d := str(r["domain"]); d != "" && !b.setDefault("source.fqdn", d) {
		b.extra("domain", d)
	}
	b.setOr("source.port", "source_port", r["sourceport"])
	b.setOr("source.asn", "asn", r["asn"])
	if acc, ok := r["account"].(map[string]any); ok {
		id := str(acc["AccountEmail"])
		if id == "" {
			id = str(acc["AccountIdentifier"])
		}
		b.set("source.account", id)
		b.extra("account", acc)
	}

	b.setOr("destination.ip", "destination_ip", str(r["destinationip"]))
	switch p := r["destinationport"].(type) {
	case []any:
		if len(p) == 1 {
			b.setOr("destination.port", "destination_port", p[0])
		} else {
			b.extra("destination_ports", p)
		}
	case nil:
	default:
		b.setOr("destination.port", "destination_port", p)
	}
	b.setProtocol(str(r["transportprotocol"]))
	b.setProtocol(str(r["protocol"]))
	if s := str(r["servicename"]); s != "" {
		b.setOr("protocol.application", "service_name", strings.ToLower(s))
	}
	b.setOr("malware.name", "malware_name", str(r["malwarename"]))
	b.setOr("malware.name", "botnet_name", str(r["botnetname"]))
	b.setOr("destination.fqdn", "rpz_domain", str(r["rpzdomain"]))
	if fh, ok := r["filehash"].(map[string]any); ok {
		if !b.setHash(str(fh["HashAlgorithm"]), str(fh["HashValue"])) {
			b.extra("file_hash", fh)
		}
	}
	for _, k := range []string{"samples", "attachment"} {
		if s, ok := r[k].([]any); ok {
			b.extra(k, evidenceSummary(s, "payload"))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if !v3Known[k] {
			b.extra(snake(orig[k]), r[k])
		}
	}
	return b.finish("/Report/SourceIp")
}
