package xarf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

func TestParseMessageFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		events int
		part   string
		want   map[string]any
	}{
		{"Blocklistde_Example_1.eml", 1, "2", map[string]any{
			"source.ip": "10.0.2.150", "destination.port": int64(80), "classification.type": "spam",
			"classification.identifier": "regbot", "feed.provider": "blocklist.de",
			"time.source": "2014-01-31T06:19:02+00:00", "extra.xarf_version": "0.2",
		}},
		{"xarf1.txt", 1, "2", map[string]any{
			"source.url": "http://domain.tld/images/login.html", "source.fqdn": "domain.tld",
			"source.port": int64(80), "classification.type": "phishing", "protocol.application": "http",
			"time.source": "2010-06-07T20:32:19+00:00", "extra.xarf_version": "0.1",
		}},
		// quoted-printable YAML part with a duplicate "name" parameter
		{"Netcraft_Example_1.eml", 1, "2", map[string]any{
			"source.ip": "10.0.2.2", "classification.type": "malware-distribution",
			"classification.identifier": "malware-attack", "source.url": "http://www.domain.tld/scripts/ufo.js",
			"feed.provider": "netcraft.com", "time.source": "2015-07-23T01:58:17+00:00",
		}},
		// binary YAML part; the IP comes from "URL [IP]" in the mail text
		{"Netcraft_Example_3.eml", 1, "2", map[string]any{
			"source.fqdn": "customer1.tld", "source.ip": "10.0.2.11", "classification.type": "phishing",
			"extra.source_ip_from": "mail text", "source.port": int64(80),
		}},
		// two base64 octet-stream reports with !!python/unicode tags
		{"Webiron_Example_1.eml", 2, "2", map[string]any{
			"source.ip": "172.16.31.20", "destination.network": "172.16.30.0/24", "tlp": "AMBER",
			"classification.type": "ids-alert", "extra.targeted_url": "http://*MUNGED*/robots.txt",
			"time.source": "2015-05-16T00:03:11+00:00", "destination.port": int64(80),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata/mail", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			evs, err := ParseMessage(f, tt.file)
			if err != nil || len(evs) != tt.events {
				t.Fatalf("ParseMessage = %d events, %v; want %d", len(evs), err, tt.events)
			}
			for _, ev := range evs {
				checkEvent(t, ev)
			}
			if evs[0].Raw.File != tt.file || evs[0].Raw.Part != tt.part {
				t.Errorf("RawRef = %+v", evs[0].Raw)
			}
			for k, v := range tt.want {
				if got := evs[0].Fields[k]; got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
		})
	}
}

func TestParseMessageNoReport(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/mail/Webiron_Example_2.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ParseMessage(f, "w2.eml"); !errors.Is(err, normalizer.ErrUnrecognized) {
		t.Fatalf("err = %v, want ErrUnrecognized", err)
	}
	if _, err := ParseMessage(strings.NewReader(""), "empty"); err == nil {
		t.Fatal("empty input accepted")
	}
}

// TestV02Tolerance documents, one case each, what the YAML reader forgives.
func TestV02Tolerance(t *testing.T) {
	t.Parallel()
	hdr := map[string][]string{"Date": {"Tue, 04 Aug 2015 10:50:41 +0200"}, "From": {"Abuse <abuse@reporter.example>"}}
	tests := []struct {
		name, yaml string
		want       map[string]any
	}{
		{"strict YAML", "---\nCategory: abuse\nReport-Type: login-attack\nSource: 192.0.2.1\nSource-Type: ipv4\nPort: 22\nDate: 2015-08-04 10:00:00\n",
			map[string]any{"source.ip": "192.0.2.1", "destination.port": int64(22), "classification.type": "brute-force"}},
		{"tabs for indentation and after the colon", "---\n\tCategory:\tabuse\n\tReport-Type:\tportscan\n\tSource:\t192.0.2.2\n",
			map[string]any{"source.ip": "192.0.2.2", "classification.type": "scanner"}},
		{"unquoted value with colons", "Category: abuse\nReport-Type: login-attack\nSource: 192.0.2.3\nUser-Agent: Fail2Ban: v0.9: ssh\n",
			map[string]any{"source.ip": "192.0.2.3", "extra.user_agent": "Fail2Ban: v0.9: ssh"}},
		{"trailing garbage after the report", "---\nCategory: abuse\nReport-Type: spam\nSource: 192.0.2.4\n\n--boundary--\nthis is not yaml [at all\n",
			map[string]any{"source.ip": "192.0.2.4", "classification.type": "spam"}},
		{"keys in any case, quoted numbers, CRLF", "category: abuse\r\nREPORT-TYPE: ddos\r\nsource: '192.0.2.5'\r\nsource_type: IP-Address\r\nport: '53'\r\n",
			map[string]any{"source.ip": "192.0.2.5", "destination.port": int64(53), "classification.type": "ddos"}},
		{"python tags and a repeated key (first wins)", "Category: fraud\nReport-Type: phishing\nSource: !!python/unicode 'http://a.example/x'\nSource: http://b.example/\nSource-Type: uri\n",
			map[string]any{"source.url": "http://a.example/x", "source.fqdn": "a.example"}},
		{"folded continuation line", "Category: abuse\nReport-Type: spam\nSource: 192.0.2.6\nComment: first line\n  second line\n",
			map[string]any{"extra.comment": "first line second line"}},
		{"report date unreadable: the mail's Date", "Category: abuse\nReport-Type: spam\nSource: 192.0.2.7\nDate: sometime\n",
			map[string]any{"time.source": "2015-08-04T08:50:41+00:00", "extra.date": "sometime", "feed.provider": "reporter.example"}},
		{"RFC 2822 date with a double space", "Category: abuse\nReport-Type: spam\nSource: 192.0.2.8\nDate: Mon,  7 Jun 2010 22:32:19 +0200\n",
			map[string]any{"time.source": "2010-06-07T20:32:19+00:00"}},
		{"no Source-Type: the value decides", "Category: abuse\nReport-Type: malware-attack\nSource: 2001:db8::1\n",
			map[string]any{"source.ip": "2001:db8::1"}},
		{"Source-Type wrong: the value decides", "Category: abuse\nReport-Type: spam\nSource: bad.example.com\nSource-Type: ipv4\n",
			map[string]any{"source.fqdn": "bad.example.com"}},
		{"BOM and Windows line ends", "\xef\xbb\xbfCategory: abuse\r\nReport-Type: scan\r\nSource: 198.51.100.0/24\r\n",
			map[string]any{"source.network": "198.51.100.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := ParseV02Report([]byte(tt.yaml), hdr)
			if err != nil || len(evs) != 1 {
				t.Fatalf("ParseV02Report = %d, %v", len(evs), err)
			}
			checkEvent(t, evs[0])
			for k, v := range tt.want {
				if got := evs[0].Fields[k]; got != v {
					t.Errorf("%s = %#v, want %#v (all: %v)", k, got, v, evs[0].Fields)
				}
			}
		})
	}
}

func TestV02Errors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, field string }{
		{"no type", "Source: 192.0.2.1\n", "Report-Type"},
		{"no source", "Category: abuse\nReport-Type: spam\n", "Source"},
		{"unusable source", "Category: abuse\nReport-Type: spam\nSource: <<>>\n", "Source"},
		{"not a report", "just some text\nwithout keys\n", "Report-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseV02Report([]byte(tt.yaml), nil)
			var se *SchemaError
			if !errors.As(err, &se) || se.Field != tt.field || !strings.Contains(err.Error(), "field "+tt.field) {
				t.Fatalf("err = %v, want field %s", err, tt.field)
			}
		})
	}
}

func TestDetectYAMLPart(t *testing.T) {
	t.Parallel()
	report := []byte("---\nCategory: abuse\nReport-Type: spam\nSource: 192.0.2.1\n")
	for _, tt := range []struct {
		ct   string
		body []byte
		want bool
	}{
		{`text/plain; charset=utf-8; name="report.txt"; name="report.txt"`, report, true},
		{"application/octet-stream", report, true},
		{"", report, true},
		{"text/html", report, false},
		{"text/plain", []byte("Hello abuse team,\nSource: our logs\n"), false},
	} {
		if got := DetectYAMLPart(tt.ct, tt.body); got != tt.want {
			t.Errorf("DetectYAMLPart(%q) = %v", tt.ct, got)
		}
	}
}
