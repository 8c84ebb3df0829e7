package normalizer

import "strings"

// taxonomies maps each IntelMQ 3 classification.taxonomy to its
// classification.type values (RSIT-based, intelmq/lib/harmonization.py and
// the taxonomy expert).
var taxonomies = map[string][]string{
	"abusive-content":              {"spam", "harmful-speech", "violence"},
	"malicious-code":               {"infected-system", "c2-server", "malware-distribution", "malware-configuration"},
	"information-gathering":        {"scanner", "sniffing", "social-engineering"},
	"intrusion-attempts":           {"ids-alert", "brute-force", "exploit"},
	"intrusions":                   {"privileged-account-compromise", "unprivileged-account-compromise", "application-compromise", "system-compromise", "burglary"},
	"availability":                 {"ddos", "dos", "outage", "sabotage"},
	"information-content-security": {"unauthorised-information-access", "unauthorised-information-modification", "data-loss", "data-leak"},
	"fraud":                        {"unauthorized-use-of-resources", "copyright", "masquerade", "phishing"},
	"vulnerable":                   {"weak-crypto", "ddos-amplifier", "potentially-unwanted-accessible", "information-disclosure", "vulnerable-system"},
	"other":                        {"other", "undetermined", "blocklist", "dga-domain", "malware", "tor"},
	"test":                         {"test"},
}

// typeTaxonomy is the inverse of taxonomies.
var typeTaxonomy = func() map[string]string {
	m := make(map[string]string)
	for tax, types := range taxonomies {
		for _, t := range types {
			m[t] = tax
		}
	}
	return m
}()

// legacyTypes maps classification.type values of IntelMQ 2 and of other
// tools to the IntelMQ 3 value, as IntelMQ's own upgrade maps them.
var legacyTypes = map[string]string{
	"backdoor":                 "system-compromise",
	"blacklist":                "blocklist",
	"compromised":              "system-compromise",
	"defacement":               "unauthorised-information-modification",
	"dropzone":                 "other",
	"exploit":                  "exploit",
	"ids alert":                "ids-alert",
	"infected system":          "infected-system",
	"leak":                     "data-leak",
	"malware configuration":    "malware-configuration",
	"malware distribution":     "malware-distribution",
	"ransomware":               "infected-system",
	"unauthorized-command":     "system-compromise",
	"unauthorized-login":       "system-compromise",
	"unknown":                  "undetermined",
	"vulnerable client":        "vulnerable-system",
	"vulnerable service":       "vulnerable-system",
	"vulnerable-client":        "vulnerable-system",
	"vulnerable-service":       "vulnerable-system",
	"botnet drone":             "infected-system",
	"botnet-drone":             "infected-system",
	"c&c":                      "c2-server",
	"c2server":                 "c2-server",
	"proxy":                    "other",
	"unauthorised-information": "unauthorised-information-access",
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
