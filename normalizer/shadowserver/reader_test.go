package shadowserver

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

// readAll drains a Reader, collecting events and row errors; any other error
// fails the test.
func readAll(t testing.TB, r *Reader) ([]normalizer.Event, []*normalizer.RowError) {
	t.Helper()
	var evs []normalizer.Event
	var rerrs []*normalizer.RowError
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, rerrs
		}
		var re *normalizer.RowError
		if errors.As(err, &re) {
			rerrs = append(rerrs, re)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		evs = append(evs, ev)
	}
}

func openFixture(t testing.TB, name string, opts Options) *Reader {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if opts.Filename == "" {
		opts.Filename = name
	}
	r, err := NewReader(f, opts)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", name, err)
	}
	return r
}

// countDataRows counts the CSV records after the header, independently of
// the Reader.
func countDataRows(t testing.TB, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return len(recs) - 1
}

// TestFixtures reads every Shadowserver CSV fixture: each data row yields one
// event, except the rows listed in rejected, whose reason is given.
func TestFixtures(t *testing.T) {
	t.Parallel()
	type rejection struct {
		line  int
		field string
		cause error
	}
	// wantType is the schema key the file name resolves to; rejected lists
	// the rows that must fail, and why.
	tests := map[string]struct {
		wantType string
		rejected []rejection
	}{
		"blocklist.csv":                   {wantType: "blocklist"},
		"event4_ddos_participant.csv":     {wantType: "event_ddos_participant"},
		"event4_honeypot_brute_force.csv": {wantType: "event_honeypot_brute_force"},
		"event4_honeypot_darknet.csv":     {wantType: "event_honeypot_darknet"},
		// Header 60 columns, rows 59: the last (http_agent) is padded.
		"event4_honeypot_ddos.csv":      {wantType: "event_honeypot_ddos"},
		"event4_honeypot_ddos_amp.csv":  {wantType: "event_honeypot_ddos_amp"},
		"event4_microsoft_sinkhole.csv": {wantType: "event4_microsoft_sinkhole"},
		"event4_sinkhole.csv":           {wantType: "event_sinkhole"},
		"event4_sinkhole_dns.csv":       {wantType: "event_sinkhole_dns"},
		"event4_sinkhole_http.csv":      {wantType: "event_sinkhole_http"},
		// The 2022 fixture predates the "port" column that the 2026 schema
		// requires for malware_url (IntelMQ with the current schema rejects
		// every row); the legacy 2022 definition reads it.
		"malware_url.csv": {wantType: "malware_url_2022"},
		// Retired in the 2026 schema; the legacy overlay has it.
		"phish_url.csv":                {wantType: "phish_url"},
		"scan_ard.csv":                 {wantType: "scan_ard"},
		"scan_chargen.csv":             {wantType: "scan_chargen"},
		"scan_cisco_smart_install.csv": {wantType: "scan_cisco_smart_install"},
		"scan_db2.csv":                 {wantType: "scan_db2"},
		"scan_ddos_middlebox.csv":      {wantType: "scan_ddos_middlebox"},
		"scan_dns.csv":                 {wantType: "scan_dns"},
		"scan_docker.csv":              {wantType: "scan_docker"},
		"scan_elasticsearch.csv":       {wantType: "scan_elasticsearch"},
		"scan_exchange.csv":            {wantType: "scan_exchange"},
		"scan_ftp.csv":                 {wantType: "scan_ftp"},
		"scan_http.csv":                {wantType: "scan_http"},
		"scan_http_proxy.csv":          {wantType: "scan_http_proxy"},
		"scan_http_vulnerable.csv":     {wantType: "scan_http_vulnerable"},
		"scan_ics.csv":                 {wantType: "scan_ics"},
		"scan_ipmi.csv":                {wantType: "scan_ipmi"},
		"scan_isakmp.csv":              {wantType: "scan_isakmp"},
		"scan_ldap_tcp.csv":            {wantType: "scan_ldap_tcp"},
		"scan_ldap_udp.csv":            {wantType: "scan_ldap_udp"},
		"scan_mdns.csv":                {wantType: "scan_mdns"},
		"scan_memcached.csv":           {wantType: "scan_memcached"},
		"scan_mongodb.csv":             {wantType: "scan_mongodb"},
		"scan_mqtt.csv":                {wantType: "scan_mqtt"},
		"scan_mssql.csv":               {wantType: "scan_mssql"},
		"scan_mysql.csv":               {wantType: "scan_mysql"},
		"scan_nat_pmp.csv":             {wantType: "scan_nat_pmp"},
		"scan_netbios.csv":             {wantType: "scan_netbios"},
		"scan_netis_router.csv":        {wantType: "scan_netis_router"},
		"scan_ntp.csv":                 {wantType: "scan_ntp"},
		"scan_ntpmonitor.csv":          {wantType: "scan_ntpmonitor"},
		"scan_portmapper.csv":          {wantType: "scan_portmapper"},
		"scan_postgres.csv":            {wantType: "scan_postgres"},
		"scan_qotd.csv":                {wantType: "scan_qotd"},
		// Header 32 columns, rows 31.
		"scan_rdp.csv":             {wantType: "scan_rdp"},
		"scan_redis.csv":           {wantType: "scan_redis"},
		"scan_rsync.csv":           {wantType: "scan_rsync"},
		"scan_sip.csv":             {wantType: "scan_sip"},
		"scan_smb.csv":             {wantType: "scan_smb"},
		"scan_smtp_vulnerable.csv": {wantType: "scan_smtp_vulnerable"},
		"scan_snmp.csv":            {wantType: "scan_snmp"},
		"scan_socks.csv":           {wantType: "scan_socks"},
		"scan_ssdp.csv":            {wantType: "scan_ssdp"},
		"scan_ssh.csv":             {wantType: "scan_ssh"},
		"scan_ssl.csv":             {wantType: "scan_ssl"},
		"scan_ssl_freak.csv":       {wantType: "scan_ssl_freak"},
		// Line 4 is one column short.
		"scan_synfulknock.csv": {wantType: "scan_synfulknock"},
		"scan_telnet.csv":      {wantType: "scan_telnet"},
		"scan_tftp.csv":        {wantType: "scan_tftp"},
		"scan_vnc.csv":         {wantType: "scan_vnc"},
		"scan_xdmcp.csv":       {wantType: "scan_xdmcp"},
	}
	files, err := filepath.Glob("testdata/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		tc, ok := tests[name]
		if !ok {
			t.Errorf("fixture %s has no expectation in TestFixtures", name)
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := openFixture(t, name, Options{})
			if got := r.Report().Name(); got != tc.wantType {
				t.Fatalf("report type = %s, want %s", got, tc.wantType)
			}
			evs, rerrs := readAll(t, r)
			rows := countDataRows(t, name)
			if len(evs)+len(rerrs) != rows {
				t.Errorf("%d events + %d row errors, want %d rows", len(evs), len(rerrs), rows)
			}
			if len(rerrs) != len(tc.rejected) {
				t.Fatalf("row errors: got %v, want %d", rerrs, len(tc.rejected))
			}
			for i, want := range tc.rejected {
				got := rerrs[i]
				if got.Line != want.line || got.Field != want.field || !errors.Is(got, want.cause) || got.File != name {
					t.Errorf("row error %d = %+v (%v), want line %d field %s cause %v", i, got, got, want.line, want.field, want.cause)
				}
			}
			lines := make(map[int]bool)
			for _, ev := range evs {
				if ev.Raw.File != name || ev.Raw.Line < 2 || lines[ev.Raw.Line] {
					t.Errorf("bad RawRef %+v", ev.Raw)
				}
				lines[ev.Raw.Line] = true
				for _, k := range []string{"time.source", "feed.name", "feed.provider", "classification.taxonomy", "classification.type"} {
					if !ev.Has(k) {
						t.Errorf("line %d: no %s in %v", ev.Raw.Line, k, ev.Keys())
					}
				}
				if _, err := json.Marshal(ev); err != nil {
					t.Errorf("line %d: %v", ev.Raw.Line, err)
				}
			}
		})
	}
	if seen != len(tests) {
		t.Errorf("%d fixtures found, %d expected", seen, len(tests))
	}
}

// TestUnknownReport: a header no report type, current or legacy, fits is
// unrecognised, and so is a forced type nobody knows.
func TestUnknownReport(t *testing.T) {
	t.Parallel()
	data := "\"when\",\"addr\",\"what\"\n\"2024-01-01 00:00:00\",192.0.2.1,x\n"
	if _, err := NewReader(strings.NewReader(data), Options{Filename: "upload.csv"}); !errors.Is(err, normalizer.ErrUnrecognized) {
		t.Fatalf("NewReader = %v, want ErrUnrecognized", err)
	}
	if _, err := NewReader(strings.NewReader("a,b\n"), Options{ReportType: "no_such_report"}); !errors.Is(err, ErrUnknownReport) {
		t.Fatalf("forced unknown type: %v, want ErrUnknownReport", err)
	}
}

// TestSpotChecks compares mapped fields with the CSV, for several report
// families.
func TestSpotChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		line int
		want map[string]any // value, or nil for "must be absent"
	}{
		{"scan_ntp.csv", 2, map[string]any{
			"time.source":               "2010-02-10T00:00:00+00:00",
			"source.ip":                 "192.168.0.1",
			"source.port":               int64(123),
			"source.asn":                int64(64512),
			"source.reverse_dns":        "node01.example.com",
			"source.geolocation.cc":     "ZZ",
			"protocol.transport":        "udp",
			"protocol.application":      "ntp",
			"classification.taxonomy":   "vulnerable",
			"classification.type":       "vulnerable-system",
			"classification.identifier": "ntp-version",
			"feed.name":                 "NTP-Version",
			"extra.response_size":       int64(324),     // convert_int
			"extra.amplification":       float64(27),    // convert_float
			"extra.frequency":           float64(2.018), // convert_float
			"extra.sic":                 "0",            // not in the schema: raw to extra
			"extra.tag":                 "ntpversion",
			"extra.processor":           nil, // validate_to_none("unknown")
			"extra.source.naics":        nil, // invalidate_zero("0")
		}},
		{"scan_http.csv", 2, map[string]any{
			"source.ip":                 "75.74.78.113",
			"source.port":               int64(8080),
			"time.source":               "2018-04-19T00:02:26+00:00",
			"classification.identifier": "accessible-http",
			"classification.taxonomy":   "other",
			"extra.http_code":           int64(200),
			"extra.http_date":           "2018-04-19T00:02:28+00:00", // convert_date
			"extra.source.naics":        int64(518111),
		}},
		{"scan_exchange.csv", 2, map[string]any{
			"classification.taxonomy":   "vulnerable",
			"classification.type":       "vulnerable-system",
			"classification.identifier": "vulnerable-exchange-server",
			// product.* is newer than the embedded harmonization: extra.
			"product.vulnerabilities": "cve-2021-26855",
			"source.port":             int64(443),
		}},
		{"scan_exchange.csv", 3, map[string]any{
			"classification.taxonomy":   "intrusions", // scan_exchange_taxonomy on "exchange;webshell"
			"classification.type":       "system-compromise",
			"classification.identifier": "exchange-server-webshell",
			"source.ip":                 "98.153.3.4",
		}},
		{"blocklist.csv", 3, map[string]any{
			"source.ip":                 "198.123.245.171",
			"time.source":               "2019-09-04T07:00:19+00:00",
			"classification.type":       "blacklist",
			"classification.identifier": "blacklisted-ip",
			"source.reverse_dns":        nil, // empty hostname
			"extra.sic":                 "0",
			"extra.reason":              "Malicious Host AA",
		}},
		{"event4_sinkhole_http.csv", 2, map[string]any{
			"source.ip":               "103.196.1.2",
			"source.port":             int64(60902),
			"destination.ip":          "184.105.1.2",
			"destination.port":        int64(80),
			"destination.fqdn":        "differentia.ru",
			"protocol.transport":      "tcp",
			"classification.type":     "infected-system",
			"extra.tag":               "avalanche-andromeda",
			"extra.family":            "andromeda",
			"extra.destination.naics": int64(518210),
			"feed.name":               "Sinkhole-Events-HTTP IPv4",
		}},
		{"event4_honeypot_ddos_amp.csv", 2, map[string]any{
			"source.ip":        "107.141.1.2",
			"source.port":      nil, // empty src_port: not set, row kept
			"destination.port": int64(389),
			"time.source":      "2021-03-28T00:00:02+00:00",
		}},
		{"event4_microsoft_sinkhole.csv", 2, map[string]any{
			"source.ip":                 "190.229.1.2",
			"malware.name":              "b68-zeroaccess-2-32bit",
			"classification.identifier": "b68-zeroaccess-2-32bit",
			"destination.port":          int64(16464),
		}},
		{"scan_synfulknock.csv", 4, map[string]any{ // the short row
			"source.ip": "213.178.0.0",
		}},
	}
	for _, tc := range tests {
		r := openFixture(t, tc.file, Options{})
		evs, _ := readAll(t, r)
		var ev *normalizer.Event
		for i := range evs {
			if evs[i].Raw.Line == tc.line {
				ev = &evs[i]
			}
		}
		if ev == nil {
			t.Errorf("%s:%d: no event", tc.file, tc.line)
			continue
		}
		for k, want := range tc.want {
			got, ok := ev.Get(k)
			if want == nil {
				if ok {
					t.Errorf("%s:%d: %s = %#v, want unset", tc.file, tc.line, k, got)
				}
				continue
			}
			if got != want {
				t.Errorf("%s:%d: %s = %#v, want %#v", tc.file, tc.line, k, got, want)
			}
		}
	}
}

// TestRows covers row-level behaviour on small inline reports.
func TestRows(t *testing.T) {
	t.Parallel()
	const hdr = `"timestamp","ip","protocol","port","hostname","tag","asn","geo","region","city","naics","sic","http_code","http_date","mystery"` + "\n"
	tests := []struct {
		name     string
		csv      string
		events   int
		errLines []int
		errField string
		check    func(t *testing.T, evs []normalizer.Event)
	}{
		{
			name:   "good row",
			csv:    hdr + `"2024-01-02 03:04:05","192.0.2.1","tcp",80,"h.example.net",,64496,"DE",,,0,,200,,"x"` + "\n",
			events: 1,
			check: func(t *testing.T, evs []normalizer.Event) {
				ev := evs[0]
				if ev.String("extra.mystery") != "x" || ev.String("source.geolocation.cc") != "DE" || ev.Has("source.geolocation.region") {
					t.Errorf("fields: %v", ev.Fields)
				}
			},
		},
		{
			name:     "convert_int on garbage rejects the row, the next row goes on",
			csv:      hdr + `"2024-01-02 03:04:05","192.0.2.1","tcp",80,,,,,,,,,abc,,` + "\n" + `"2024-01-02 03:04:06","192.0.2.2","tcp",81` + "\n",
			events:   1,
			errLines: []int{2},
			errField: "extra.http_code",
		},
		{
			name:     "bad timestamp rejects the row",
			csv:      hdr + `"yesterday","192.0.2.1","tcp",80` + "\n",
			errLines: []int{2},
			errField: "time.source",
		},
		{
			name:     "row cut before a required column",
			csv:      hdr + `"2024-01-02 03:04:05","192.0.2.1"` + "\n",
			errLines: []int{2},
			errField: "source.port",
		},
		{
			name:   "value its field rejects goes to extra",
			csv:    hdr + `"2024-01-02 03:04:05","192.0.2.1","tcp",80,"bad host/name"` + "\n",
			events: 1,
			check: func(t *testing.T, evs []normalizer.Event) {
				if evs[0].Has("source.reverse_dns") || evs[0].String("extra.hostname") != "bad host/name" {
					t.Errorf("fields: %v", evs[0].Fields)
				}
			},
		},
		{
			name:   "validate_ip 0.0.0.0 is not set, kept in extra",
			csv:    hdr + `"2024-01-02 03:04:05","0.0.0.0","tcp",80` + "\n",
			events: 1,
			check: func(t *testing.T, evs []normalizer.Event) {
				if evs[0].Has("source.ip") || evs[0].String("extra.ip") != "0.0.0.0" {
					t.Errorf("fields: %v", evs[0].Fields)
				}
			},
		},
		{
			name:   "unparsable optional date stays raw in extra",
			csv:    hdr + `"2024-01-02 03:04:05","192.0.2.1","tcp",80,,,,,,,,,,"sometime"` + "\n",
			events: 1,
			check: func(t *testing.T, evs []normalizer.Event) {
				if evs[0].String("extra.http_date") != "sometime" {
					t.Errorf("fields: %v", evs[0].Fields)
				}
			},
		},
		{
			name:   "dash and N/A are empty for harmonization fields",
			csv:    hdr + `"2024-01-02 03:04:05","192.0.2.1","-",80,"N/A"` + "\n",
			events: 1,
			check: func(t *testing.T, evs []normalizer.Event) {
				for _, k := range []string{"protocol.transport", "source.reverse_dns", "extra.protocol", "extra.hostname"} {
					if evs[0].Has(k) {
						t.Errorf("%s set: %v", k, evs[0].Fields)
					}
				}
			},
		},
		{
			name:   "long row: surplus values ignored",
			csv:    hdr + `"2024-01-02 03:04:05","192.0.2.1","tcp",80,,,,,,,,,,,,"surplus","more"` + "\n",
			events: 1,
		},
		{
			name:   "repeated header, CRLF and BOM",
			csv:    "\ufeff" + strings.ReplaceAll(hdr+`"2024-01-02 03:04:05","192.0.2.1","tcp",80`+"\n"+hdr+`"2024-01-02 03:04:05","192.0.2.2","tcp",80`+"\n", "\n", "\r\n"),
			events: 2,
			check: func(t *testing.T, evs []normalizer.Event) {
				if evs[1].Raw.Line != 4 {
					t.Errorf("second event line %d, want 4", evs[1].Raw.Line)
				}
			},
		},
		{
			name:   "multi-line quoted field: RawRef is the row's first line",
			csv:    hdr + `"2024-01-02 03:04:05","192.0.2.1","tcp",80,,"a` + "\n" + `b"` + "\n" + `"2024-01-02 03:04:05","192.0.2.2","tcp",80` + "\n",
			events: 2,
			check: func(t *testing.T, evs []normalizer.Event) {
				if evs[0].Raw.Line != 2 || evs[1].Raw.Line != 4 || evs[0].String("extra.tag") != "a\nb" {
					t.Errorf("lines %d %d, tag %q", evs[0].Raw.Line, evs[1].Raw.Line, evs[0].String("extra.tag"))
				}
			},
		},
		{
			name:   "invalid UTF-8 is replaced",
			csv:    hdr + "\"2024-01-02 03:04:05\",\"192.0.2.1\",\"tcp\",80,,,,,,,,,,,\"a\xffb\"\n",
			events: 1,
			check: func(t *testing.T, evs []normalizer.Event) {
				if evs[0].String("extra.mystery") != "a\uFFFDb" {
					t.Errorf("mystery %q", evs[0].String("extra.mystery"))
				}
			},
		},
		{
			name: "header only",
			csv:  hdr,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.csv), Options{ReportType: "scan_http", Filename: "x.csv"})
			if err != nil {
				t.Fatal(err)
			}
			evs, rerrs := readAll(t, r)
			if len(evs) != tc.events {
				t.Errorf("%d events, want %d (errors %v)", len(evs), tc.events, rerrs)
			}
			if len(rerrs) != len(tc.errLines) {
				t.Fatalf("row errors %v, want lines %v", rerrs, tc.errLines)
			}
			for i, l := range tc.errLines {
				if rerrs[i].Line != l || rerrs[i].File != "x.csv" || (tc.errField != "" && rerrs[i].Field != tc.errField) {
					t.Errorf("row error %+v, want line %d field %s", rerrs[i], l, tc.errField)
				}
			}
			if tc.check != nil && len(evs) == tc.events {
				tc.check(t, evs)
			}
		})
	}
}

func TestNewReaderTypeSelection(t *testing.T) {
	t.Parallel()
	ntp, err := os.ReadFile("testdata/scan_ntp.csv")
	if err != nil {
		t.Fatal(err)
	}
	ipmi, err := os.ReadFile("testdata/scan_ipmi.csv")
	if err != nil {
		t.Fatal(err)
	}
	httpScan, err := os.ReadFile("testdata/scan_http.csv")
	if err != nil {
		t.Fatal(err)
	}
	ntp6 := bytes.ReplaceAll(ntp, []byte("192.168.0."), []byte("2001:db8::"))
	ntpNoIP := bytes.ReplaceAll(ntp, []byte("192.168.0."), []byte("host"))
	tests := []struct {
		name     string
		data     []byte
		opts     Options
		want     string
		wantErr  error
		wantRows int
	}{
		{name: "forced type wins over file name", data: ntp, opts: Options{ReportType: "scan6_ntp", Filename: "2024-01-01-scan_ntp-de-geo.csv"}, want: "scan6_ntp", wantRows: 3},
		{name: "forced by feed name", data: ntp, opts: Options{ReportType: "ntp-version"}, want: "scan_ntp", wantRows: 3},
		{name: "file name with date and suffixes", data: ntp, opts: Options{Filename: "2019-10-15-scan_ntp-sample-asn.csv"}, want: "scan_ntp", wantRows: 3},
		{name: "file_name differs from schema key", data: ntp, opts: Options{Filename: "2024-01-01-event4_sinkhole-de.csv"}, want: "event_sinkhole"},
		{name: "unknown name, header detection", data: ipmi, opts: Options{Filename: "upload.csv"}, want: "scan_ipmi", wantRows: 95},
		// scan_ntp and scan6_ntp share their header: the first row's
		// address decides.
		{name: "same header, IPv4 row", data: ntp, opts: Options{}, want: "scan_ntp", wantRows: 3},
		{name: "same header, IPv6 row", data: ntp6, opts: Options{Filename: "upload.csv"}, want: "scan6_ntp", wantRows: 3},
		{name: "same header, no rows", data: ntp[:bytes.IndexByte(ntp, '\n')+1], opts: Options{}, wantErr: normalizer.ErrUnrecognized},
		{name: "same header, no address", data: ntpNoIP, opts: Options{}, wantErr: normalizer.ErrUnrecognized},
		// scan_http and scan_cwmp differ by a column the file lacks: the
		// address family narrows it to two, still ambiguous.
		{name: "ambiguous header", data: httpScan, opts: Options{}, wantErr: normalizer.ErrUnrecognized},
		{name: "not shadowserver", data: []byte("a,b,c\n1,2,3\n"), opts: Options{}, wantErr: normalizer.ErrUnrecognized},
		{name: "empty input, no type", data: nil, opts: Options{}, wantErr: normalizer.ErrUnrecognized},
		{name: "empty input, typed by name", data: nil, opts: Options{Filename: "scan_ntp.csv"}, wantRows: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data), tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && r.Report().Name() != tc.want {
				t.Errorf("type %s, want %s", r.Report().Name(), tc.want)
			}
			evs, rerrs := readAll(t, r)
			if tc.wantRows > 0 && len(evs)+len(rerrs) != tc.wantRows {
				t.Errorf("%d rows, want %d", len(evs)+len(rerrs), tc.wantRows)
			}
		})
	}
}
