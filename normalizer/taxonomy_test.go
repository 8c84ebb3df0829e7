package normalizer

import "testing"

func TestClassificationType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, tax string
		ok            bool
	}{
		{"infected-system", "infected-system", "malicious-code", true},
		{"Botnet Drone", "infected-system", "malicious-code", true},
		{"c&c", "c2-server", "malicious-code", true},
		{"vulnerable service", "vulnerable-system", "vulnerable", true},
		{"unknown", "undetermined", "other", true},
		{"blacklist", "blacklist", "other", true},
		{"blocklist", "blacklist", "other", true},
		{"dga domain", "dga-domain", "other", true},
		{"defacement", "unauthorised-information-modification", "information-content-security", true},
		{"Unauthorised-information-access", "unauthorised-information-access", "information-content-security", true},
		{"misconfiguration", "misconfiguration", "availability", true},
		{"proxy", "proxy", "other", true},
		{"dropzone", "other", "other", true},
		{"no-such-type", "", "", false},
	}
	for _, tt := range tests {
		got, ok := ClassificationType(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ClassificationType(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if tax, _ := Taxonomy(got); tax != tt.tax {
			t.Errorf("Taxonomy(%q) = %q, want %q", got, tax, tt.tax)
		}
	}
}

func TestLegacyTypesMapToKnownTypes(t *testing.T) {
	t.Parallel()
	for old, nw := range legacyTypes {
		if _, ok := typeTaxonomy[nw]; !ok {
			t.Errorf("legacy %q maps to %q, which is not a type", old, nw)
		}
	}
}
