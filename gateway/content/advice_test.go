package content

import (
	"slices"
	"sort"
	"testing"

	"github.com/abusegw/abusegw/normalizer/shadowserver"
)

// schemaClass is a classification a Shadowserver report type produces.
type schemaClass struct {
	identifier, typ string
	reports         []string
}

// schemaClasses lists the (identifier, type) pairs of the embedded
// Shadowserver schema. Report types whose identifier comes from a column
// (the sinkhole reports: the malware name) have identifier "".
func schemaClasses(t *testing.T) []schemaClass {
	t.Helper()
	s, err := shadowserver.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[[2]string]*schemaClass{}
	add := func(id, typ, report string) {
		k := [2]string{id, typ}
		if byKey[k] == nil {
			byKey[k] = &schemaClass{identifier: id, typ: typ}
		}
		byKey[k].reports = append(byKey[k].reports, report)
	}
	for _, name := range s.Types() {
		r, _ := s.Lookup(name)
		c := r.Constants()
		id, _ := c["classification.identifier"].(string)
		typ, _ := c["classification.type"].(string)
		if typ == "" && id == "" && (name == "scan_exchange" || name == "scan6_exchange") {
			// Chosen per row from the tag (normalizer/shadowserver convert.go).
			add("vulnerable-exchange-server", "vulnerable-system", name)
			add("exchange-server-webshell", "system-compromise", name)
			continue
		}
		add(id, typ, name)
	}
	var out []schemaClass
	for _, c := range byKey {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].identifier+out[i].typ < out[j].identifier+out[j].typ })
	return out
}

// TestAdviceCoversShadowserver checks that every classification of the
// embedded Shadowserver schema gets advice of its own or a deliberate
// type-level fallback, in every language, never the generic one.
func TestAdviceCoversShadowserver(t *testing.T) {
	r := newRenderer(t, Options{})
	classes := schemaClasses(t)
	for _, lang := range r.Languages() {
		set := r.sets[lang]
		specific, typeLevel, dynamic := 0, 0, 0
		for _, c := range classes {
			a := set.advice.lookup(Classification{Identifier: c.identifier, Type: c.typ})
			own, deliberate := set.advice.specific(c.identifier)
			switch {
			case c.identifier == "" && a.Match == MatchType:
				dynamic++ // the identifier is the malware name or a tag: type advice by design
			case own && a.Match == MatchIdentifier:
				specific++
			case deliberate && a.Match == MatchType:
				typeLevel++
			case deliberate:
				t.Errorf("%s: %q (type %s, reports %v) is listed in type_level but type %q has no advice", lang, c.identifier, c.typ, c.reports, c.typ)
			default:
				t.Errorf("%s: %q (type %s, reports %v) has no advice of its own and is not listed in type_level (got %s advice)", lang, c.identifier, c.typ, c.reports, a.Match)
			}
		}
		t.Logf("%s: %d Shadowserver classifications: %d with specific advice, %d deliberately type-level, %d with identifiers from the data (type-level)",
			lang, len(classes), specific, typeLevel, dynamic)
	}
}

// TestAdviceLanguagesAgree checks that every language's advice file has the
// same keys, so a customer's language never silently changes how specific
// the advice is.
func TestAdviceLanguagesAgree(t *testing.T) {
	r := newRenderer(t, Options{})
	en := r.sets[Fallback].advice
	for _, lang := range r.Languages() {
		a := r.sets[lang].advice
		if d := diffKeys(en.identifiers, a.identifiers); d != nil {
			t.Errorf("%s identifiers differ from en: %v", lang, d)
		}
		if d := diffKeys(en.types, a.types); d != nil {
			t.Errorf("%s types differ from en: %v", lang, d)
		}
		if d := diffKeys(en.typeLevel, a.typeLevel); d != nil {
			t.Errorf("%s type_level differs from en: %v", lang, d)
		}
		for k, adv := range a.identifiers {
			if e := en.identifiers[k]; len(e.References) != len(adv.References) {
				t.Errorf("%s %s: %d references, en has %d", lang, k, len(adv.References), len(e.References))
			}
		}
	}
}

func diffKeys[A, B any](a map[string]A, b map[string]B) []string {
	var d []string
	for k := range a {
		if _, ok := b[k]; !ok {
			d = append(d, "-"+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "+"+k)
		}
	}
	slices.Sort(d)
	return d
}

func TestAdviceLookup(t *testing.T) {
	r := newRenderer(t, Options{})
	for _, tc := range []struct {
		c           Classification
		match, key  string
		lang, title string
	}{
		{Classification{Identifier: "dns-open-resolver", Type: "vulnerable-system"}, MatchIdentifier, "dns-open-resolver", "en", "Open DNS resolver"},
		{Classification{Identifier: " Open-Redis "}, MatchIdentifier, "open-redis", "en", "Open Redis server"},
		{Classification{Identifier: "open-mqtt-anon"}, MatchIdentifier, "open-mqtt-anon", "en", "MQTT broker open to anonymous users"},
		{Classification{Identifier: "andromeda", Type: "infected-system"}, MatchType, "infected-system", "en", "Infected system"},
		{Classification{Identifier: "x", Type: "botnet drone"}, MatchType, "infected-system", "en", ""},
		{Classification{Identifier: "arf-abuse", Type: "spam"}, MatchType, "spam", "en", "Spam"},
		{Classification{Identifier: "copyright", Type: "copyright"}, MatchType, "copyright", "en", ""},
		{Classification{Identifier: "login_attack", Type: "brute-force"}, MatchType, "brute-force", "en", ""},
		{Classification{Type: "phishing"}, MatchType, "phishing", "de", ""},
		{Classification{Identifier: "nothing-known", Type: "nonsense"}, MatchGeneric, "", "en", "Abuse report"},
		{Classification{}, MatchGeneric, "", "de-DE", ""},
	} {
		a := r.Advice(tc.lang, tc.c)
		if a.Match != tc.match || a.Key != tc.key || (tc.title != "" && a.Title != tc.title) {
			t.Errorf("Advice(%s, %+v) = %s %q %q, want %s %q %q", tc.lang, tc.c, a.Match, a.Key, a.Title, tc.match, tc.key, tc.title)
		}
		if a.Title == "" || a.Meaning == "" || len(a.Fix) == 0 {
			t.Errorf("Advice(%+v) incomplete: %+v", tc.c, a)
		}
	}
}
