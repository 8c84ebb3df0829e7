package normalizer

import "strings"

// taxonomies maps each IntelMQ 3 classification.taxonomy to its
// classification.type values. The table is IntelMQ's (the TAXONOMY dict of
// intelmq/bots/experts/taxonomy/expert.py and ClassificationType.allowed_values
// in intelmq/lib/harmonization.py, 3.x), which loosely follows RSIT with
// IntelMQ's own extensions: "blacklist", "dga-domain", "malware", "proxy"
// and "tor" under "other", and "misconfiguration" under "availability".
// Shadowserver's current IntelMQ schema uses these values too (for example
// other/blacklist for its blocklist report).
var taxonomies = map[string][]string{
	"abusive-content":              {"spam", "harmful-speech", "violence"},
	"malicious-code":               {"infected-system", "c2-server", "malware-distribution", "malware-configuration"},
	"information-gathering":        {"scanner", "sniffing", "social-engineering"},
	"intrusion-attempts":           {"ids-alert", "brute-force", "exploit"},
	"intrusions":                   {"privileged-account-compromise", "unprivileged-account-compromise", "application-compromise", "system-compromise", "burglary"},
	"availability":                 {"ddos", "dos", "outage", "sabotage", "misconfiguration"},
	"information-content-security": {"unauthorised-information-access", "unauthorised-information-modification", "data-loss", "data-leak"},
	"fraud":                        {"unauthorized-use-of-resources", "copyright", "masquerade", "phishing"},
	"vulnerable":                   {"weak-crypto", "ddos-amplifier", "potentially-unwanted-accessible", "information-disclosure", "vulnerable-system"},
	"other":                        {"other", "undetermined", "blacklist", "dga-domain", "malware", "proxy", "tor"},
	"test":                         {"test"},
}

// typeTaxonomy is the inverse of taxonomies. It is built once and never
// changed.
var typeTaxonomy = func() map[string]string {
	m := make(map[string]string)
	for tax, types := range taxonomies {
		for _, t := range types {
			m[t] = tax
		}
	}
	return m
}()

// legacyTypes maps classification.type values of IntelMQ 1.x/2.x to the
// IntelMQ 3 value. The first group is what IntelMQ 3's
// ClassificationType.sanitize maps by itself; the second is what the 3.0.0
// upgrade rewrote in configurations and stored events (types that were
// dropped from the list). Keys are lower case; lookups lower-case the value
// first. "blocklist" is abusegw's own tolerance: IntelMQ spells the type
// "blacklist".
var legacyTypes = map[string]string{
	// ClassificationType.sanitize (IntelMQ 3).
	"botnet drone":                    "infected-system",
	"ids alert":                       "ids-alert",
	"c&c":                             "c2-server",
	"c2server":                        "c2-server",
	"infected system":                 "infected-system",
	"malware configuration":           "malware-configuration",
	"unauthorised-information-access": "unauthorised-information-access", // was capitalised
	"leak":                            "data-leak",
	"vulnerable client":               "vulnerable-system",
	"vulnerable service":              "vulnerable-system",
	"ransomware":                      "infected-system",
	"unknown":                         "undetermined",
	"dga domain":                      "dga-domain",
	// Removed types, as the 3.0.0 upgrade rewrote them.
	"backdoor":             "system-compromise",
	"compromised":          "system-compromise",
	"defacement":           "unauthorised-information-modification",
	"dropzone":             "other",
	"unauthorized-command": "system-compromise",
	"unauthorized-login":   "system-compromise",
	// Hyphenated spellings of the above, seen in the wild.
	"botnet-drone":       "infected-system",
	"vulnerable-client":  "vulnerable-system",
	"vulnerable-service": "vulnerable-system",
	// abusegw's tolerance, not IntelMQ's.
	"blocklist": "blacklist",
}

// ClassificationType returns the IntelMQ 3 classification.type for s,
// mapping legacy names; ok is false for values IntelMQ does not know.
func ClassificationType(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if _, ok := typeTaxonomy[s]; ok {
		return s, true
	}
	if t, ok := legacyTypes[s]; ok {
		return t, true
	}
	return "", false
}

// Taxonomy returns the classification.taxonomy a classification.type
// belongs to.
func Taxonomy(classificationType string) (string, bool) {
	t, ok := typeTaxonomy[classificationType]
	return t, ok
}

// Complete fills classification.taxonomy from classification.type when the
// parser did not set it, as IntelMQ's taxonomy expert does.
func (e *Event) Complete() {
	if e.Has("classification.taxonomy") {
		return
	}
	if t, ok := e.Fields["classification.type"].(string); ok {
		if tax, ok := Taxonomy(t); ok {
			e.Fields["classification.taxonomy"] = tax
		}
	}
}
