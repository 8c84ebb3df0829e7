package xarf

import "strings"

// v4Classes maps every X-ARF v4 "category/type" (xarf-spec v4.2.0,
// xarf-v4-master.json) to an IntelMQ classification.type. A test checks that
// every pair in the embedded master schema is listed and every value is a
// valid IntelMQ type.
var v4Classes = map[string]string{
	"messaging/spam":                    "spam",
	"messaging/bulk_messaging":          "spam",
	"connection/login_attack":           "brute-force",
	"connection/port_scan":              "scanner",
	"connection/ddos":                   "ddos",
	"connection/infected_host":          "infected-system",
	"connection/reconnaissance":         "scanner",
	"connection/scraping":               "scanner",
	"connection/sql_injection":          "exploit",
	"connection/vulnerability_scan":     "scanner",
	"vulnerability/cve":                 "vulnerable-system",
	"vulnerability/open_service":        "potentially-unwanted-accessible",
	"vulnerability/misconfiguration":    "vulnerable-system",
	"reputation/blocklist":              "blacklist",
	"reputation/threat_intelligence":    "undetermined",
	"infrastructure/botnet":             "infected-system",
	"infrastructure/compromised_server": "system-compromise",
	"content/phishing":                  "phishing",
	"content/malware":                   "malware-distribution",
	"content/csam":                      "violence",
	"content/csem":                      "violence",
	"content/exposed_data":              "data-leak",
	"content/brand_infringement":        "masquerade",
	"content/fraud":                     "masquerade",
	"content/remote_compromise":         "application-compromise",
	"content/suspicious_registration":   "other",
	"copyright/copyright":               "copyright",
	"copyright/p2p":                     "copyright",
	"copyright/cyberlocker":             "copyright",
	"copyright/ugc_platform":            "copyright",
	"copyright/link_site":               "copyright",
	"copyright/usenet":                  "copyright",
}

// v4CategoryClasses is the fallback for a v4 type this table does not know.
var v4CategoryClasses = map[string]string{
	"messaging":      "spam",
	"connection":     "undetermined",
	"vulnerability":  "vulnerable-system",
	"reputation":     "blacklist",
	"infrastructure": "infected-system",
	"content":        "undetermined",
	"copyright":      "copyright",
}

// v3Classes maps X-ARF v3 report types (abusix/xarf schemas/3 and the
// xarf-spec "v3 legacy" names), lower-cased without "-" and "_", to IntelMQ
// classification.type. "malware" depends on the report class, see
// v3Classification.
var v3Classes = map[string]string{
	"spam":                          "spam",
	"dos":                           "ddos",
	"ddos":                          "ddos",
	"loginattack":                   "brute-force",
	"portscan":                      "scanner",
	"malware":                       "malware-distribution",
	"phishing":                      "phishing",
	"copyright":                     "copyright",
	"trademark":                     "masquerade",
	"exploit":                       "exploit",
	"potentiallycompromisedaccount": "unprivileged-account-compromise",
	"childabuse":                    "violence",
	"botnet":                        "infected-system",
	"openservice":                   "potentially-unwanted-accessible",
	"webcrawler":                    "scanner",
	"harassment":                    "harmful-speech",
}

// v02Classes maps X-ARF v0.1/v0.2 Report-Type values (x-arf.org schemas and
// what senders such as blocklist.de, Netcraft and WebIron write), lower-cased
// without "-" and "_", to IntelMQ classification.type.
var v02Classes = map[string]string{
	"spam":            "spam",
	"regbot":          "spam",
	"forumspam":       "spam",
	"mail":            "spam",
	"loginattack":     "brute-force",
	"bruteforce":      "brute-force",
	"bruteforcelogin": "brute-force",
	"ssh":             "brute-force",
	"ftp":             "brute-force",
	"imap":            "brute-force",
	"pop3":            "brute-force",
	"sip":             "brute-force",
	"malwareattack":   "malware-distribution",
	"malware":         "malware-distribution",
	"phishing":        "phishing",
	"fraud":           "masquerade",
	"ddos":            "ddos",
	"dos":             "ddos",
	"portscan":        "scanner",
	"scan":            "scanner",
	"webattack":       "ids-alert",
	"apacheddos":      "ddos",
	"badbot":          "scanner",
	"bots":            "scanner",
	"botnet":          "infected-system",
	"infected":        "infected-system",
	"copyright":       "copyright",
	"openresolver":    "potentially-unwanted-accessible",
	"openproxy":       "potentially-unwanted-accessible",
	"info":            "other",
}

// v02CategoryClasses is the fallback by X-ARF v0.2 Category.
var v02CategoryClasses = map[string]string{
	"abuse": "undetermined",
	"fraud": "masquerade",
	"info":  "other",
}

// typeKey lower-cases s and drops "-", "_" and spaces, so "Login-Attack",
// "login_attack" and "LoginAttack" meet.
func typeKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("-", "", "_", "", " ", "").Replace(s)
}

// v4Classification returns the IntelMQ type for a v4 category and type.
func v4Classification(category, typ string) string {
	if t, ok := v4Classes[category+"/"+typ]; ok {
		return t
	}
	if t, ok := v4CategoryClasses[category]; ok {
		return t
	}
	return "undetermined"
}

// v3Classification returns the IntelMQ type for a v3 report type and class.
// An "Activity" Malware report is an RPZ hit of an infected client, a
// "Content" one a malware download.
func v3Classification(class, typ string) string {
	k := typeKey(typ)
	if k == "malware" && strings.EqualFold(class, "activity") {
		return "infected-system"
	}
	if t, ok := v3Classes[k]; ok {
		return t
	}
	return "undetermined"
}

// v02Classification returns the IntelMQ type for a v0.1/v0.2 Report-Type,
// falling back to the Category.
func v02Classification(category, typ string) string {
	if t, ok := v02Classes[typeKey(typ)]; ok {
		return t
	}
	if t, ok := v02CategoryClasses[strings.ToLower(strings.TrimSpace(category))]; ok {
		return t
	}
	return "undetermined"
}
