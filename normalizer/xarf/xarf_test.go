package xarf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mapxarf "github.com/abusegw/abusegw/mappings/xarf"
	"github.com/abusegw/abusegw/normalizer"
)

// checkEvent asserts what every X-ARF event must carry.
func checkEvent(t *testing.T, ev normalizer.Event) {
	t.Helper()
	if !ev.Has("classification.type") && !ev.Has("classification.identifier") {
		t.Errorf("event has no classification: %v", ev.Fields)
	}
	if !slices.ContainsFunc([]string{"source.ip", "source.url", "source.fqdn", "source.network", "source.asn"}, ev.Has) {
		t.Errorf("event has no source: %v", ev.Fields)
	}
	if ev.String("feed.name") != FeedName {
		t.Errorf("feed.name = %q", ev.String("feed.name"))
	}
	for k, v := range ev.Fields {
		if strings.HasPrefix(k, "extra.") {
			continue
		}
		if _, err := normalizer.Sanitize(k, v); err != nil {
			t.Errorf("field %s not valid: %v", k, err)
		}
	}
}

func parseFile(t *testing.T, path string) ([]normalizer.Event, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(f, filepath.Base(path))
}

func TestPositiveSamples(t *testing.T) {
	t.Parallel()
	var files []string
	for _, g := range []string{"testdata/v4/*.json", "testdata/v3/positive/*.json", "testdata/v3-legacy/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 40 {
		t.Fatalf("only %d samples found", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			evs, err := parseFile(t, f)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(evs) == 0 {
				t.Fatal("no events")
			}
			for _, ev := range evs {
				checkEvent(t, ev)
				if ev.Raw.File != filepath.Base(f) || ev.Raw.Line != 1 {
					t.Errorf("RawRef = %+v", ev.Raw)
				}
			}
		})
	}
}

func TestNegativeSamples(t *testing.T) {
	t.Parallel()
	// The field each negative sample must be blamed for (first in sorted
	// order; "and N more" may list others).
	want := map[string]string{
		"invalid_additional_fields.json":                   "/Report/Custom/NumberOfIncidents",
		"invalid_b64_flag.json":                            "/Report/Samples/0/Base64Encoded",
		"invalid_byte_count.json":                          "/Report/ByteCount",
		"invalid_date.json":                                "/Report/Date",
		"invalid_destination.json":                         "/Report/DestinationIp",
		"invalid_emails.json":                              "/Report/SmtpMailFromAddress",
		"invalid_empty.json":                               "/Disclosure",
		"invalid_file_hash.json":                           "/Report/FileHash/HashAlgorithm",
		"invalid_file_info.json":                           "/Report/FileSize",
		"invalid_first_seen.json":                          "/Report/FirstSeen",
		"invalid_host_name.json":                           "/Report/RpzDomain",
		"invalid_infringed_props.json":                     "/Report/CourtOrder",
		"invalid_internal_processing_wrong_data_type.json": "/InternalProcessing/EventTags/1",
		"invalid_ip.json":                                  "/Report/ASN",
		"invalid_missing_report.json":                      "/Report",
		"invalid_missing_report_class_report_type.json":    "/Report/ReportType",
		"invalid_missing_reporter.json":                    "/Disclosure",
		"invalid_missing_reporter_props.json":              "/Disclosure",
		"invalid_missing_reporter_props2.json":             "/Disclosure",
		"invalid_missing_reporter_props3.json":             "/Disclosure",
		"invalid_on_behalf_of.json":                        "/OnBehalfOf/ComplainantContactEmail",
		"invalid_openservice.json":                         "/Report/ServiceName",
		"invalid_openservice2.json":                        "/Report/TransportProtocol",
		"invalid_openservice_missing_service.json":         "/Report/ServiceName",
		"invalid_ports.json":                               "/Report/DestinationPort",
		"invalid_report_class_report_type.json":            "/Report/ReportType",
		"invalid_report_class_report_type2.json":           "/Report/ReportType",
		"invalid_report_part.json":                         "/Report/Date",
		"invalid_reporter_info.json":                       "/ReporterInfo/ShouldNotBeHere",
		"invalid_reporter_metadata.json":                   "/Report/ReporterCaseID",
		"invalid_sample.json":                              "/Report/Samples",
		"invalid_sample_2.json":                            "/Report/Samples/0/ContentType",
		"invalid_type.json":                                "/Report/ReportType",
	}
	files, _ := filepath.Glob("testdata/v3/negative/*.json")
	if len(files) != len(want) {
		t.Fatalf("%d negative samples, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			evs, err := parseFile(t, f)
			if err == nil || len(evs) != 0 {
				t.Fatalf("Parse = %d events, %v; want an error", len(evs), err)
			}
			field := want[filepath.Base(f)]
			var re *normalizer.RowError
			var se *SchemaError
			if !errors.As(err, &re) || !errors.As(err, &se) || !errors.Is(err, ErrInvalidReport) {
				t.Fatalf("error %T %v is not a RowError around a SchemaError", err, err)
			}
			if se.Field != field || re.Field != field || re.Line != 1 {
				t.Errorf("field = %q (row %q line %d), want %q", se.Field, re.Field, re.Line, field)
			}
			if !strings.Contains(err.Error(), "field "+field+": ") {
				t.Errorf("message %q does not name field %s", err, field)
			}
			if strings.Count(err.Error(), "field "+field) != 1 {
				t.Errorf("message %q names the field more than once", err)
			}
		})
	}
}

func TestV4Errors(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile("testdata/v4/messaging-spam.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, field, msg string
	}{
		{"bad category", `"category": "messaging"`, `"category": "mail"`, "/category", "value must be one of"},
		{"bad type", `"type": "spam"`, `"type": "eggs"`, "/type", `"bulk_messaging", "spam"`},
		{"bad source port", `"source_port": 25`, `"source_port": 99999`, "/source_port", "maximum"},
		{"bad timestamp", `"timestamp": "2025-01-11T10:59:45Z"`, `"timestamp": "yesterday"`, "/timestamp", "date-time"},
		{"missing source", `"source_identifier": "192.168.1.100",`, ``, "/source_identifier", "missing"},
		{"bad protocol", `"protocol": "smtp"`, `"protocol": "carrier-pigeon"`, "/protocol", "value must be one of"},
		{"unusable source", `"source_identifier": "192.168.1.100"`, `"source_identifier": "not a host!"`, "/source_identifier", "not an IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(string(base), tt.from, tt.to, 1)
			if doc == string(base) {
				t.Fatal("replacement did not apply")
			}
			_, err := Parse(strings.NewReader(doc), "x.json")
			var se *SchemaError
			if !errors.As(err, &se) || se.Field != tt.field || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v; want field %s and %q", err, tt.field, tt.msg)
			}
		})
	}
}

func TestMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want map[string]any
	}{
		{"testdata/v4/connection-login-attack.json", map[string]any{
			"source.ip": "198.51.100.77", "source.port": int64(45621), "destination.ip": "203.0.113.22",
			"destination.port": int64(22), "protocol.transport": "tcp", "protocol.application": "ssh",
			"classification.type": "brute-force", "classification.identifier": "login_attack",
			"classification.taxonomy": "intrusion-attempts", "time.source": "2025-01-11T12:17:20+00:00",
			"feed.provider": "SSH Honeypot Network", "extra.attempt_count": int64(2847),
		}},
		{"testdata/v4/content-phishing.json", map[string]any{
			"source.ip": "203.0.113.45", "source.url": "http://secure-banking-login.example.com/auth",
			"source.fqdn": "secure-banking-login.example.com", "classification.type": "phishing",
			"malware.hash.sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}},
		{"testdata/v4/content-fraud.json", map[string]any{
			"source.fqdn": "crypto-scam-invest.example.com", "classification.type": "masquerade",
			"source.url": "https://crypto-scam-invest.example.com/guaranteed-returns",
		}},
		{"testdata/v4/messaging-bulk-messaging.json", map[string]any{
			"source.fqdn": "mail.bulk-sender.example", "protocol.application": "smtp", "source.port": int64(25),
		}},
		{"testdata/v4/infrastructure-botnet.json", map[string]any{
			"malware.name": "conficker", "classification.type": "infected-system",
		}},
		{"testdata/v3/positive/rpz_sample.json", map[string]any{
			"classification.type": "infected-system", "classification.identifier": "malware",
			"destination.fqdn": "malicious.example.org", "feed.provider": "ExampleOrg",
		}},
		{"testdata/v3/positive/copyright_sample.json", map[string]any{
			"source.ip": "192.0.2.55", "source.url": "http://www.badexample.com/badexapmplesong.mp3",
			"classification.type": "copyright", "malware.hash.sha1": "0049f43fcf5f023593395735a0fef31ff35ae7f7",
		}},
		{"testdata/v3/positive/openservice_sample.json", map[string]any{
			"protocol.application": "redis", "protocol.transport": "tcp",
			"classification.type": "potentially-unwanted-accessible",
		}},
		{"testdata/v3-legacy/phishing_v3_sample.json", map[string]any{
			"source.url": "https://malicious-example.net/banking-login/", "source.fqdn": "malicious-example.net",
			"classification.type": "phishing", "extra.schema_validated": false,
		}},
		{"testdata/v3-legacy/ddos_v3_sample.json", map[string]any{
			"source.ip": "172.16.254.10", "source.port": int64(53), "destination.ip": "203.0.113.100",
			"protocol.transport": "udp", "classification.type": "ddos",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, err := parseFile(t, tt.file)
			if err != nil || len(evs) != 1 {
				t.Fatalf("Parse = %d, %v", len(evs), err)
			}
			for k, v := range tt.want {
				if got := evs[0].Fields[k]; got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
		})
	}
}

func TestParseSeveral(t *testing.T) {
	t.Parallel()
	good, _ := os.ReadFile("testdata/v3/positive/spam_sample.json")
	bad, _ := os.ReadFile("testdata/v3/negative/invalid_ip.json")
	in := string(good) + "\n" + string(bad) + "\n[" + string(good) + "," + string(good) + "]\n{not json"
	evs, err := Parse(strings.NewReader(in), "many.json")
	if len(evs) != 3 {
		t.Errorf("got %d events, want 3", len(evs))
	}
	var re *normalizer.RowError
	if !errors.As(err, &re) || re.Line != strings.Count(string(good), "\n")+2 {
		t.Errorf("err = %v, want a RowError at the second document's line", err)
	}
	if !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("err = %v, want the trailing garbage reported", err)
	}
}

func TestDetectJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{`{"xarf_version": "4.2.0"`, true},
		{"\xef\xbb\xbf\n {\"Version\": \"3\", \"ReporterInfo\": {", true},
		{`[{"Version":"3","Report":{}}]`, true},
		{`{"Version": "1.0", "name": "x"}`, false},
		{`Feedback-Type: abuse`, false},
		{``, false},
	} {
		if got := DetectJSON([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectJSON(%q) = %v", tt.in, got)
		}
	}
}

// TestClassificationTables checks the tables against the embedded schemas
// and IntelMQ's type list.
func TestClassificationTables(t *testing.T) {
	t.Parallel()
	set, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	for pair := range set.v4 {
		if _, ok := v4Classes[pair]; !ok {
			t.Errorf("v4 type %s has no classification", pair)
		}
	}
	if len(set.v4) != len(v4Classes) {
		t.Errorf("schema has %d v4 types, table %d", len(set.v4), len(v4Classes))
	}
	for _, s := range set.v3 {
		for _, typ := range s.types {
			if _, ok := v3Classes[typeKey(typ)]; !ok {
				t.Errorf("v3 type %s has no classification", typ)
			}
		}
	}
	for _, m := range []map[string]string{v4Classes, v4CategoryClasses, v3Classes, v02Classes, v02CategoryClasses} {
		for k, v := range m {
			if got, ok := normalizer.ClassificationType(v); !ok || got != v {
				t.Errorf("%s → %q is not an IntelMQ classification.type", k, v)
			}
		}
	}
	if _, err := mapxarf.Schemas.ReadFile("schemas/v4/xarf-core.json"); err != nil {
		t.Error(err)
	}
}

func TestSchemasCompileOnce(t *testing.T) {
	t.Parallel()
	a, err1 := schemas()
	b, err2 := schemas()
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("schemas() = %p, %v; %p, %v", a, err1, b, err2)
	}
}
