package shadowserver

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

// TestDefaultSchemaCompilesEveryType loads the embedded schema: every report
// type compiles (LoadSchema fails on the first one that does not), and each
// has what a Reader relies on.
func TestDefaultSchemaCompilesEveryType(t *testing.T) {
	t.Parallel()
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	types := s.Types()
	if len(types) != 170 {
		t.Errorf("%d report types, want 170", len(types))
	}
	if !slices.IsSorted(types) {
		t.Error("Types not sorted")
	}
	if s.Version() == "" {
		t.Error("no _meta.date_created")
	}
	for _, name := range types {
		r, ok := s.Lookup(name)
		if !ok || r.Name() != name {
			t.Fatalf("Lookup(%s) = %v, %v", name, r, ok)
		}
		if r2, ok := s.Lookup(r.FileName()); !ok || r2 != r {
			t.Errorf("Lookup(file_name %s) does not find %s", r.FileName(), name)
		}
		if r2, ok := s.Lookup(strings.ToUpper(r.FeedName())); !ok || r2 != r {
			t.Errorf("Lookup(feed %s) does not find %s", r.FeedName(), name)
		}
		if !slices.Contains(r.RequiredColumns(), "timestamp") {
			t.Errorf("%s: timestamp not required", name)
		}
		// classification.type is a constant, or (scan_exchange) derived
		// from a column.
		_, isConst := r.Constants()["classification.type"]
		mapped := false
		for _, m := range r.optional {
			mapped = mapped || m.key == "classification.type"
		}
		if !isConst && !mapped {
			t.Errorf("%s: nothing sets classification.type", name)
		}
	}
	// The default schema is parsed once.
	s2, _ := DefaultSchema()
	if s2 != s {
		t.Error("DefaultSchema parsed twice")
	}
}

// TestEveryConverterUsed checks that the converter table is exactly what the
// schema uses, so a converter Shadowserver adds fails loudly (load error)
// and none of ours is dead code.
func TestEveryConverterUsed(t *testing.T) {
	t.Parallel()
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	used := make(map[string]bool)
	for _, name := range s.Types() {
		r, _ := s.Lookup(name)
		for _, m := range append(slices.Clone(r.required), r.optional...) {
			if m.conv != nil {
				used[m.conv.name] = true
			}
		}
	}
	for name := range converters {
		if !used[name] {
			t.Errorf("converter %s is not used by the schema", name)
		}
	}
	if len(converters) != 18 {
		t.Errorf("%d converters, IntelMQ has 18", len(converters))
	}
}

func TestLoadTestSchema(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/schema.json.test")
	if err != nil {
		t.Fatal(err)
	}
	// IntelMQ's test schema maps a required column to "not_in_idf" to test
	// its fall-back to extra; an unknown field is a load error here, so the
	// schema is rejected and names the culprit.
	if _, err := LoadSchema(b); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), `"not_in_idf"`) {
		t.Fatalf("LoadSchema(schema.json.test) = %v, want an error about not_in_idf", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "test_afs")
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSchema(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Types(); !slices.Equal(got, []string{"test_smb", "test_telnet"}) {
		t.Fatalf("types %v", got)
	}
	// IntelMQ's test_smb.csv is scan_smb.csv under another name.
	f, err := os.Open("testdata/scan_smb.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(f, Options{Schema: s, Filename: "2020-01-01-test_smb-geo.csv"})
	if err != nil {
		t.Fatal(err)
	}
	evs, rerrs := readAll(t, r)
	if len(evs) != 3 || len(rerrs) != 0 {
		t.Fatalf("%d events, errors %v", len(evs), rerrs)
	}
	if evs[0].String("feed.name") != "Test-Accessible-SMB" || evs[0].String("classification.identifier") != "test-smb" {
		t.Errorf("fields %v", evs[0].Fields)
	}
}

func TestLoadSchemaErrors(t *testing.T) {
	t.Parallel()
	const okEntry = `"file_name":"r","feed_name":"R","constant_fields":{"classification.type":"scanner"},"optional_fields":[]`
	tests := []struct {
		name, doc, want string
	}{
		{"not JSON", `{`, "decoding JSON"},
		{"not an object", `[]`, "decoding JSON"},
		{"null", `null`, "not a JSON object"},
		{"no reports", `{"_meta":{"date_created":"x","change_log":[]}}`, "no report types"},
		{"unknown converter", `{"r":{` + okEntry + `,"required_fields":[["time.source","timestamp","convert_magic"]]}}`, `unknown converter "convert_magic"`},
		{"unknown field", `{"r":{` + okEntry + `,"required_fields":[["source.colour","c"]]}}`, `unknown field: "source.colour"`},
		{"bad constant", `{"r":{"file_name":"r","feed_name":"R","constant_fields":{"classification.type":"nonsense"},"required_fields":[],"optional_fields":[]}}`, "classification.type"},
		{"unknown constant field", `{"r":{"file_name":"r","feed_name":"R","constant_fields":{"bogus":"x"},"required_fields":[],"optional_fields":[]}}`, `unknown field: "bogus"`},
		{"entry too short", `{"r":{` + okEntry + `,"required_fields":[["time.source"]]}}`, "want 2 to 4 elements"},
		{"column not a string", `{"r":{` + okEntry + `,"required_fields":[["time.source",3]]}}`, "column must be"},
		{"needs_row mismatch", `{"r":{` + okEntry + `,"required_fields":[["time.source","timestamp","convert_int",true]]}}`, "needs_row"},
		{"false target required", `{"r":{` + okEntry + `,"required_fields":[[false,"timestamp"]]}}`, "false only for an optional"},
		{"extra. target required", `{"r":{` + okEntry + `,"required_fields":[["extra.","timestamp"]]}}`, "must be a harmonization field"},
		{"no file_name", `{"r":{"feed_name":"R","required_fields":[],"optional_fields":[]}}`, "missing file_name"},
		{"duplicate file_name", `{"a":{"file_name":"x","feed_name":"A","required_fields":[],"optional_fields":[]},"b":{"file_name":"x","feed_name":"B","required_fields":[],"optional_fields":[]}}`, "already used"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSchema([]byte(tc.doc))
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrSchema containing %q", err, tc.want)
			}
		})
	}
	// A valid minimal schema with every target kind.
	s, err := LoadSchema([]byte(`{"r":{` + okEntry + `,"required_fields":[["time.source","timestamp","add_UTC_to_timestamp",null]],
		"optional_fields":[[false,"drop"],["extra.","keep"],["severity","severity"],["extra.x.y","xy","convert_int"]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(strings.NewReader("timestamp,drop,keep,severity,xy\n2024-01-01 00:00:00,d,k,high,7\n"), Options{Schema: s, ReportType: "r"})
	if err != nil {
		t.Fatal(err)
	}
	evs, rerrs := readAll(t, r)
	if len(evs) != 1 || len(rerrs) != 0 {
		t.Fatalf("%v %v", evs, rerrs)
	}
	want := map[string]any{
		"time.source": "2024-01-01T00:00:00+00:00", "extra.keep": "k", "extra.x.y": int64(7),
		"classification.type": "scanner", "feed.name": "R", "feed.provider": "Shadowserver",
		"classification.taxonomy": "information-gathering",
	}
	if _, ok := normalizer.FieldType("severity"); ok {
		want["severity"] = "high"
	} else {
		want["extra.severity"] = "high"
	}
	if len(evs[0].Fields) != len(want) {
		t.Errorf("fields %v, want %v", evs[0].Fields, want)
	}
	for k, v := range want {
		if got, _ := evs[0].Get(k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
}

func TestReportTypeFromFilename(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"2019-10-15-scan_http-sample-asn.csv", "scan_http", true},
		{"2015-01-01-scan_ntp-sample-asn.csv.zip", "scan_ntp", true},
		{"2015-01-01-sinkhole_http_drone-sample-asn.csv.gz", "sinkhole_http_drone", true},
		{"scan_ntp.csv", "scan_ntp", true},
		{"/var/spool/abusegw/2024-03-01-event4_sinkhole_http-de-geo.csv", "event4_sinkhole_http", true},
		{`C:\reports\2024-03-01-scan6_ssh-at.csv`, "scan6_ssh", true},
		{"2024-03-01-SCAN_NTP-AT.CSV", "scan_ntp", true},
		{"scan_ntp.json", "", false},
		{"scan ntp.csv", "", false},
		{"", "", false},
		{".csv", "", false},
	}
	for _, tc := range tests {
		got, ok := ReportTypeFromFilename(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ReportTypeFromFilename(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDetectType runs header detection on every fixture whose header the
// schema can tell apart from all others.
func TestDetectType(t *testing.T) {
	t.Parallel()
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want string   // unique answer, or ""
		cand []string // candidates when ambiguous
	}{
		{"blocklist.csv", "blocklist", nil},
		{"scan_ipmi.csv", "scan_ipmi", nil},
		{"scan_redis.csv", "scan_redis", nil},
		{"event4_honeypot_darknet.csv", "event_honeypot_darknet", nil},
		{"event4_sinkhole_dns.csv", "event_sinkhole_dns", nil},
		{"event4_honeypot_ddos_amp.csv", "event_honeypot_ddos_amp", nil},
		// IPv4 and IPv6 variants share their columns.
		{"scan_ntp.csv", "", []string{"scan6_ntp", "scan_ntp"}},
		// scan_http and scan_cwmp differ by one column the 2019 file lacks.
		{"scan_http.csv", "", []string{"scan6_cwmp", "scan_cwmp", "scan6_http", "scan_http"}},
		// Not in the current schema (blocklist fits at 0.6, too weak to
		// guess); the legacy overlay has it.
		{"phish_url.csv", "phish_url", nil},
		// The current malware_url wants a port column this 2022 file
		// lacks, so no current type fits; the legacy 2022 definition does.
		{"malware_url.csv", "malware_url_2022", nil},
	}
	for _, tc := range tests {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := csv.NewReader(bytes.NewReader(b)).Read()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := s.DetectType(hdr)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: DetectType = %q, %v; want %q", tc.file, got, ok, tc.want)
		}
		if tc.want == "" {
			c := s.Candidates(hdr)
			slices.Sort(c)
			want := slices.Clone(tc.cand)
			slices.Sort(want)
			if !slices.Equal(c, want) {
				t.Errorf("%s: Candidates = %v, want %v", tc.file, c, want)
			}
		}
		st, sok := s.Sniff(b)
		if st != tc.want || sok != (tc.want != "" || len(tc.cand) > 0) {
			t.Errorf("%s: Sniff = %q, %v", tc.file, st, sok)
		}
	}
	if _, ok := Sniff([]byte("From: someone\nSubject: hi\n")); ok {
		t.Error("Sniff accepted a mail header")
	}
	if _, ok := Sniff(nil); ok {
		t.Error("Sniff accepted nothing")
	}
}
