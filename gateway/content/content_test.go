package content

import (
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/abusegw/abusegw/mappings/templates"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// now is the fixed clock of the tests.
var now = time.Date(2026, 3, 24, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func newRenderer(t *testing.T, opts Options) *Renderer {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clock
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func at(days, hours int) time.Time {
	return now.Add(-time.Duration(days)*24*time.Hour - time.Duration(hours)*time.Hour)
}

var desk = Desk{Name: "Example Net Abuse Team", Email: "abuse@example.net", URL: "https://www.example.net/abuse"}

// goldenCases are representative cases, rendered in every kind.
func goldenCases() map[string]Case {
	dnsIPs := []IP{
		{Addr: "192.0.2.10", Ports: []int{53}, FQDN: "ns1.example.de", FirstSeen: at(9, 8), LastSeen: at(0, 8), Events: 10},
		{Addr: "192.0.2.53", Ports: []int{53}, FirstSeen: at(1, 8), LastSeen: at(0, 8), Events: 2},
		{Addr: "2001:db8:10::53", Ports: []int{53}, FirstSeen: at(9, 7), LastSeen: at(3, 7), Events: 7},
	}
	dns := Case{
		Key: "c-100/dns-open-resolver", Reference: "ABUSE-42",
		Customer:       Customer{Key: "c-100", Name: "Example GmbH", Emails: []string{"noc@example.de"}},
		Classification: Classification{Taxonomy: "vulnerable", Type: "vulnerable-system", Identifier: "dns-open-resolver"},
		Feeds:          []string{"Open-DNS", "Open-DNS-IPv6"},
		FirstSeen:      at(9, 8), LastSeen: at(0, 8), Events: 19, IPs: dnsIPs,
		New: &Delta{Since: at(2, 0), Events: 4, IPs: dnsIPs[:2], NewIPs: 1},
		Samples: []map[string]any{{
			"time.source": at(0, 8), "feed.name": "Open-DNS", "source.ip": "192.0.2.10", "source.port": 53,
			"source.reverse_dns": "ns1.example.de", "protocol.transport": "udp",
			"classification.identifier": "dns-open-resolver", "extra.min_amplification": "2.5",
			"raw": "not shown",
		}},
		Notify: true, Desk: desk,
	}
	sinkIPs := []IP{{Addr: "198.51.100.23", Ports: []int{49731}, FirstSeen: at(4, 2), LastSeen: at(0, 3), Events: 31}}
	sinkhole := Case{
		Key: "c-200/andromeda", Reference: "ABUSE-57",
		Customer:       Customer{Key: "c-200", Name: "Muster Steuerberatung", Emails: []string{"it@muster.example"}},
		Classification: Classification{Taxonomy: "malicious-code", Type: "infected-system", Identifier: "andromeda"},
		Feeds:          []string{"Sinkhole-Events-IPv4"},
		FirstSeen:      at(4, 2), LastSeen: at(0, 3), Events: 31, IPs: sinkIPs,
		New: &Delta{Since: at(1, 0), Events: 6, IPs: sinkIPs},
		Samples: []map[string]any{{
			"time.source": at(0, 3), "feed.name": "Sinkhole-Events-IPv4", "source.ip": "198.51.100.23",
			"source.port": 49731, "destination.ip": "203.0.113.80", "destination.port": 80,
			"destination.fqdn": "sinkhole.example.org", "malware.name": "andromeda",
			"classification.identifier": "andromeda", "protocol.application": "http",
			"extra.http_agent": "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
		}},
		PreviousTicket: &TicketRef{Connector: "rt", ID: "8812", URL: "https://rt.example.net/Ticket/Display.html?id=8812", Closed: at(40, 0)},
		Notify:         true, Desk: desk,
	}
	spam := Case{
		Key: "c-300/arf-abuse", Reference: "ABUSE-61",
		Customer:       Customer{Key: "c-300", Name: "Beispiel Webhosting", Emails: []string{"abuse@beispiel.example"}},
		Classification: Classification{Taxonomy: "abusive-content", Type: "spam", Identifier: "arf-abuse"},
		Feeds:          []string{"arf"},
		FirstSeen:      at(0, 20), LastSeen: at(0, 2), Events: 3,
		IPs:     []IP{{Addr: "203.0.113.25", Ports: []int{25}, FQDN: "mail.beispiel.example", FirstSeen: at(0, 20), LastSeen: at(0, 2), Events: 3}},
		New:     &Delta{Since: at(0, 12), Events: 1, IPs: []IP{{Addr: "203.0.113.25", FirstSeen: at(0, 20), LastSeen: at(0, 2), Events: 3}}},
		Samples: []map[string]any{{"time.source": at(0, 2), "feed.name": "arf", "feed.provider": "Example Mail FBL", "source.ip": "203.0.113.25", "extra.feedback_type": "abuse", "extra.subject": "Cheap watches\r\nBcc: injected"}},
		Notify:  true, Desk: desk,
	}
	rdpIPs := make([]IP, 0, 7)
	for i := range 7 {
		rdpIPs = append(rdpIPs, IP{Addr: fmt.Sprintf("192.0.2.%d", 100+i), Ports: []int{3389}, FirstSeen: at(2, i), LastSeen: at(0, i), Events: 2})
	}
	internal := Case{
		Key: "c-400/open-rdp", Reference: "ABUSE-70",
		Customer:       Customer{Key: "c-400", Name: "Internal Lab", Language: "de_AT"},
		Classification: Classification{Taxonomy: "vulnerable", Type: "vulnerable-system", Identifier: "open-rdp"},
		Feeds:          []string{"Accessible-RDP"},
		FirstSeen:      at(2, 6), LastSeen: at(0, 0), Events: 14, IPs: rdpIPs,
		New:    &Delta{Since: at(1, 0), Events: 7, IPs: rdpIPs, NewIPs: 0},
		Notify: false, Desk: desk,
	}
	return map[string]Case{"dns": dns, "sinkhole": sinkhole, "spam": spam, "internal": internal}
}

// goldens says which case is rendered in which kinds and languages.
var goldens = []struct {
	name  string
	kinds []Kind
	langs []string
}{
	{"dns", Kinds(), []string{"en", "de"}},
	{"sinkhole", []Kind{KindCreate, KindReopen}, []string{"en", "de"}},
	{"spam", []Kind{KindCreate, KindUpdate}, []string{"en"}},
	{"internal", []Kind{KindCreate, KindUpdate}, []string{""}}, // its own language tag, de_AT
}

func format(m Message) string {
	return "Subject: " + m.Subject + "\n\n===== Body =====\n" + m.Body + "\n===== Internal =====\n" + m.Internal
}

func TestGolden(t *testing.T) {
	r := newRenderer(t, Options{MaxIPs: 5})
	cases := goldenCases()
	for _, g := range goldens {
		for _, lang := range g.langs {
			for _, k := range g.kinds {
				c := cases[g.name]
				name := g.name + "_" + string(k)
				if lang != "" {
					c.Customer.Language = lang
					name += "_" + lang
				}
				t.Run(name, func(t *testing.T) {
					m, err := r.Render(k, c)
					if err != nil {
						t.Fatal(err)
					}
					checkMessage(t, m, c)
					got := format(m)
					file := filepath.Join("testdata", name+".golden")
					if *update {
						if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
						return
					}
					want, err := os.ReadFile(file)
					if err != nil {
						t.Fatalf("%v (run go test -update to create it)", err)
					}
					if got != string(want) {
						t.Errorf("%s differs (go test -update rewrites it); got:\n%s", file, got)
					}
				})
			}
		}
	}
}

// checkMessage checks what every message must be.
func checkMessage(t *testing.T, m Message, c Case) {
	t.Helper()
	if strings.ContainsAny(m.Subject, "\r\n") || m.Subject != strings.TrimSpace(m.Subject) {
		t.Errorf("subject not one trimmed line: %q", m.Subject)
	}
	if c.Reference != "" && !strings.Contains(m.Subject, "["+c.Reference+"]") {
		t.Errorf("subject %q lacks the reference %s", m.Subject, c.Reference)
	}
	if c.Notify == (m.Body == "") {
		t.Errorf("notify %v but body %q", c.Notify, m.Body)
	}
	if m.Internal == "" {
		t.Error("empty internal text")
	}
	for what, s := range map[string]string{"subject": m.Subject, "body": m.Body, "internal": m.Internal} {
		for _, bad := range []string{"<no value>", "<nil>", "%!", "{{", "map["} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q:\n%s", what, bad, s)
			}
		}
		if !utf8.ValidString(s) {
			t.Errorf("%s is not UTF-8", what)
		}
	}
	for _, s := range []string{m.Body, m.Internal} {
		for i, line := range strings.Split(s, "\n") {
			if line != strings.TrimRight(line, " \t") {
				t.Errorf("line %d has trailing space: %q", i+1, line)
			}
			if utf8.RuneCountInString(line) > Width && strings.Contains(strings.TrimSpace(line), " ") &&
				!strings.Contains(line, "://") {
				t.Errorf("line %d longer than %d: %q", i+1, Width, line)
			}
		}
		if strings.Contains(s, "\n\n\n") {
			t.Error("runs of blank lines")
		}
	}
}

func TestEveryTemplateFullAndEmpty(t *testing.T) {
	r := newRenderer(t, Options{})
	for _, lang := range r.Languages() {
		for _, c := range []Case{SampleCase(now), {}, {Customer: Customer{Name: "X"}, New: &Delta{}, PreviousTicket: &TicketRef{}, IPs: []IP{{}}, Samples: []map[string]any{{}}}} {
			for _, notify := range []bool{true, false} {
				for _, k := range Kinds() {
					c.Customer.Language, c.Notify = lang, notify
					m, err := r.Render(k, c)
					if err != nil {
						t.Fatalf("%s %s: %v", lang, k, err)
					}
					checkMessage(t, m, c)
				}
			}
		}
	}
}

func TestRandomCases(t *testing.T) {
	r := newRenderer(t, Options{MaxIPs: 4})
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "x", "Ümlaut GmbH", "a\nb\r\nc", "{{.Key}}", "%s", strings.Repeat("long", 40), "\t", "de-CH", "fr", "EN_us"}
	pick := func() string { return words[rng.IntN(len(words))] }
	tm := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return now.Add(-time.Duration(rng.IntN(1e6)) * time.Second).In(time.FixedZone("X", 3600))
	}
	ips := func() []IP {
		var out []IP
		for range rng.IntN(9) {
			ip := IP{Addr: pick(), FQDN: pick(), FirstSeen: tm(), LastSeen: tm(), Events: rng.IntN(3)}
			for range rng.IntN(4) {
				ip.Ports = append(ip.Ports, rng.IntN(65536))
			}
			out = append(out, ip)
		}
		return out
	}
	ids := []string{"", "dns-open-resolver", "open-rdp", "andromeda", "unknown-thing", "OPEN-REDIS"}
	types := []string{"", "infected-system", "spam", "botnet drone", "nonsense", "vulnerable-system"}
	for i := range 300 {
		c := Case{
			Key: pick(), Reference: pick(),
			Customer:       Customer{Key: pick(), Name: pick(), Language: pick()},
			Classification: Classification{Taxonomy: pick(), Type: types[rng.IntN(len(types))], Identifier: ids[rng.IntN(len(ids))]},
			FirstSeen:      tm(), LastSeen: tm(), Events: rng.IntN(1000), IPs: ips(),
			Notify: rng.IntN(2) == 0,
			Desk:   Desk{Name: pick(), Email: pick(), URL: pick()},
		}
		for range rng.IntN(3) {
			c.Customer.Emails = append(c.Customer.Emails, pick())
			c.Feeds = append(c.Feeds, pick())
			c.Samples = append(c.Samples, map[string]any{pick(): pick(), "source.port": rng.IntN(9), "time.source": tm(), "x": nil, "y": []string{pick()}})
		}
		if rng.IntN(2) == 0 {
			c.New = &Delta{Since: tm(), Events: rng.IntN(10), IPs: ips(), NewIPs: rng.IntN(3)}
		}
		if rng.IntN(3) == 0 {
			c.PreviousTicket = &TicketRef{Connector: pick(), ID: pick(), URL: pick(), Closed: tm()}
		}
		k := Kinds()[rng.IntN(3)]
		m, err := r.Render(k, c)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("case %d: subject %q", i, m.Subject)
		}
		if strings.Contains(m.Subject+m.Body+m.Internal, "<no value>") {
			t.Fatalf("case %d: <no value> in output", i)
		}
		if c.Notify == (m.Body == "") {
			t.Fatalf("case %d: notify %v, body %q", i, c.Notify, m.Body)
		}
	}
}

func TestLanguage(t *testing.T) {
	r := newRenderer(t, Options{})
	for tag, want := range map[string]string{
		"": "en", "en": "en", "de": "de", "de-DE": "de", "de_AT": "de", "DE-ch": "de", "de_DE.UTF-8": "de",
		"fr": "en", "fr-FR": "en", "deu": "en", " de ": "de",
	} {
		c := SampleCase(now)
		c.Customer.Language = tag
		m, err := r.Render(KindCreate, c)
		if err != nil {
			t.Fatal(err)
		}
		gotDE := strings.HasPrefix(m.Body, "Guten Tag")
		if gotDE != (want == "de") {
			t.Errorf("language %q: body starts %q, want %s", tag, strings.SplitN(m.Body, "\n", 2)[0], want)
		}
	}
	if got := r.Languages(); strings.Join(got, ",") != "de,en" {
		t.Errorf("Languages() = %v", got)
	}
}

func TestMaxIPs(t *testing.T) {
	c := SampleCase(now)
	c.IPs = nil
	for i := range 30 {
		c.IPs = append(c.IPs, IP{Addr: fmt.Sprintf("192.0.2.%d", i+1), Ports: []int{53}})
	}
	c.New = &Delta{Since: now, IPs: c.IPs, NewIPs: 30}
	for _, tc := range []struct {
		max, shown int
		more       string
	}{
		{3, 3, "... and 27 more addresses."},
		{29, 29, "... and 1 more address."},
		{30, 30, ""},
		{-1, 30, ""},
		{0, 30, ""}, // DefaultMaxIPs is 50
	} {
		r := newRenderer(t, Options{MaxIPs: tc.max})
		for _, k := range Kinds() {
			m, err := r.Render(k, c)
			if err != nil {
				t.Fatal(err)
			}
			body := m.Body
			if n := strings.Count(body, "  - 192.0.2."); n != tc.shown {
				t.Errorf("MaxIPs %d, %s: %d addresses listed, want %d", tc.max, k, n, tc.shown)
			}
			if tc.more != "" && !strings.Contains(body, tc.more) {
				t.Errorf("MaxIPs %d, %s: no %q", tc.max, k, tc.more)
			}
			if tc.more == "" && strings.Contains(body, "more address") {
				t.Errorf("MaxIPs %d, %s: unexpected 'more'", tc.max, k)
			}
			if !strings.Contains(m.Subject, "on 30 addresses") {
				t.Errorf("subject %q does not count all 30 addresses", m.Subject)
			}
		}
	}
}

func TestUnknownKind(t *testing.T) {
	r := newRenderer(t, Options{})
	if _, err := r.Render("delete", SampleCase(now)); err == nil {
		t.Error("unknown kind accepted")
	}
}

// embedded returns an embedded template file with old replaced by new.
func embedded(t *testing.T, name, old, new string) string {
	t.Helper()
	b, err := fs.ReadFile(templates.FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	return strings.Replace(string(b), old, new, 1)
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideReplacesOneFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "en/subject.tmpl", `ABUSE {{.Reference}} for {{.Customer.Key}}`)
	r := newRenderer(t, Options{Dir: dir})
	c := SampleCase(now)
	m, err := r.Render(KindCreate, c)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "ABUSE ABUSE-42 for cust-1001" {
		t.Errorf("subject %q, want the override's", m.Subject)
	}
	if !strings.HasPrefix(m.Body, "Dear Example GmbH,") {
		t.Errorf("body not the embedded one: %q", m.Body)
	}
	c.Customer.Language = "de"
	if m, _ := r.Render(KindCreate, c); !strings.Contains(m.Subject, "auf 3 Adressen") {
		t.Errorf("German subject %q changed by an English override", m.Subject)
	}
}

func TestOverrideAdvice(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "advice/en.yaml", `
identifiers:
  - ids: [dns-open-resolver]
    title: Resolver open to the world
    meaning: Our own words.
    fix: [Close it.]
generic:
  title: Something
  meaning: Something happened.
  fix: [Look.]
`)
	r := newRenderer(t, Options{Dir: dir})
	m, err := r.Render(KindCreate, SampleCase(now))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Subject, "Resolver open to the world") || !strings.Contains(m.Body, "Our own words.") {
		t.Errorf("advice override not used:\n%s\n%s", m.Subject, m.Body)
	}
	if a := r.Advice("en", Classification{Type: "spam"}); a.Match != MatchGeneric {
		t.Errorf("the override file replaces the embedded one whole; got %+v", a)
	}
}

func TestOverrideAddsLanguage(t *testing.T) {
	dir := t.TempDir()
	for _, f := range requiredFiles {
		writeFile(t, dir, "fr/"+f, `{{.Reference}} fr`)
	}
	writeFile(t, dir, "advice/fr.yaml", "generic: {title: Abus, meaning: Un abus., fix: [Corriger.]}\n")
	r := newRenderer(t, Options{Dir: dir})
	c := SampleCase(now)
	c.Customer.Language = "fr-BE"
	m, err := r.Render(KindCreate, c)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "ABUSE-42 fr" {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestOverrideErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"parse error", map[string]string{"en/body.tmpl": "Hello {{.Customer.Name"}, []string{filepath.Join("en", "body.tmpl"), "unclosed action"}},
		{"missing field", map[string]string{"de/update.tmpl": "{{.Customer.Nmae}}"}, []string{filepath.Join("de", "update.tmpl"), "Nmae"}},
		{"missing field in a block", map[string]string{"en/common.tmpl": embedded(t, "en/common.tmpl", "{{with .Customer.Name}}Dear", "{{with .Customer.Nope}}Dear")}, []string{filepath.Join("en", "common.tmpl"), "Nope"}},
		{"missing block", map[string]string{"en/common.tmpl": `{{define "greeting"}}Hi{{end}}`}, []string{"problem", "not defined"}},
		{"missing map key", map[string]string{"en/internal.tmpl": `{{range .Samples}}{{.nokey}}{{end}}`}, []string{filepath.Join("en", "internal.tmpl"), "nokey"}},
		{"unknown function", map[string]string{"en/subject.tmpl": "{{shout .Reference}}"}, []string{filepath.Join("en", "subject.tmpl"), "shout"}},
		{"bad advice", map[string]string{"advice/de.yaml": "identifiers:\n  - ids: [x]\n    title: X\n"}, []string{filepath.Join("advice", "de.yaml"), "no meaning"}},
		{"unknown advice key", map[string]string{"advice/en.yaml": "generik: {}\n"}, []string{filepath.Join("advice", "en.yaml"), "generik"}},
		{"bad type", map[string]string{"advice/en.yaml": "types:\n  - {ids: [spamm], title: S, meaning: M, fix: [F]}\ngeneric: {title: G, meaning: M, fix: [F]}\n"}, []string{"spamm", "not an IntelMQ classification.type"}},
		{"incomplete language", map[string]string{"fr/subject.tmpl": "x", "advice/fr.yaml": "generic: {title: G, meaning: M, fix: [F]}\n"}, []string{`"fr" has no body.tmpl`}},
		{"language without advice", func() map[string]string {
			m := map[string]string{}
			for _, f := range requiredFiles {
				m["it/"+f] = "x"
			}
			return m
		}(), []string{"advice/it.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tc.files {
				writeFile(t, dir, n, c)
			}
			_, err := New(Options{Dir: dir, Now: clock})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(tc.name, "advice") || strings.Contains(tc.name, "language") || strings.Contains(tc.name, "type") || tc.name == "missing block" {
				return
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the override file under %s", err, dir)
			}
		})
	}
	if _, err := New(Options{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("missing directory accepted")
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"\n\n  \n", ""},
		{"a  \n\n\n\nb\r\n", "a\n\nb\n"},
		{"\ta", "    a\n"},
		{"https://" + strings.Repeat("x", 90), "https://" + strings.Repeat("x", 90) + "\n"},
		{"See: https://" + strings.Repeat("x", 90), "See: https://" + strings.Repeat("x", 90) + "\n"}, // a label stays with its one long word
	} {
		if got := layout(tc.in, Width); got != tc.want {
			t.Errorf("layout(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := "word " + strings.Repeat("lorem ipsum ", 12)
	for _, tc := range []struct{ in, hang string }{
		{"  - " + long, "    "},
		{"  12. " + long, "      "},
		{"First seen:   " + long, "              "},
		{"    source.ip: " + long, "               "},
		{"Since 2026-03-21T12:00:00Z we " + long, ""}, // a time is no label
		{"Please reply and keep [X] in the subject: " + long, ""},
	} {
		got := layout(tc.in, Width)
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		if len(lines) < 2 {
			t.Errorf("layout(%q) did not wrap: %q", tc.in, got)
			continue
		}
		for i, l := range lines {
			if utf8.RuneCountInString(l) > Width {
				t.Errorf("layout(%q) line %d too long: %q", tc.in, i+1, l)
			}
			if i > 0 && (!strings.HasPrefix(l, tc.hang) || l[len(tc.hang)] == ' ') {
				t.Errorf("layout(%q) line %d not hung at %d: %q", tc.in, i+1, len(tc.hang), l)
			}
		}
		if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(tc.in), " ") {
			t.Errorf("layout(%q) changed the words: %q", tc.in, got)
		}
	}
}

func TestFields(t *testing.T) {
	got := fields(map[string]any{
		"b": "x\ny", "a": 1, "raw": "hidden", "c": nil, "d": "", "t": time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
		"e": strings.Repeat("é", 300),
	})
	want := []Field{{"a", "1"}, {"b", "x y"}, {"e", strings.Repeat("é", maxValue-1) + "…"}, {"t", "2026-01-02T02:04:05Z"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fields = %v\nwant %v", got, want)
	}
}

func TestConcurrentRender(t *testing.T) {
	r := newRenderer(t, Options{})
	c := SampleCase(now)
	want, err := r.Render(KindUpdate, c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Message)
	for range 8 {
		go func() {
			m, _ := r.Render(KindUpdate, c)
			done <- m
		}()
	}
	for range 8 {
		if m := <-done; m != want {
			t.Error("concurrent render differs")
		}
	}
}
