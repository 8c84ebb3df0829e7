package shadowserver

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

// TestLegacyOverlay checks every legacy definition from a CSV generated
// from it alone, found by its file name, as TestEveryTypeFromSchema does
// for the current schema.
func TestLegacyOverlay(t *testing.T) {
	t.Parallel()
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.LegacyTypes()) == 0 || s.LegacyVersion() == "" {
		t.Fatalf("legacy overlay: types %v, version %q", s.LegacyTypes(), s.LegacyVersion())
	}
	for _, name := range s.LegacyTypes() {
		var rep *Report
		for _, r := range s.legacy.reports {
			if r.name == name {
				rep = r
			}
		}
		if !rep.Legacy() {
			t.Errorf("%s: not marked legacy", name)
		}
		if cur, ok := s.reports[name]; ok {
			t.Errorf("%s: legacy key shadows current type %s", name, cur.name)
		}
		header, row := synthReport(rep)
		r, err := NewReader(strings.NewReader(csvLine(header)+csvLine(row)), Options{Filename: "2016-05-01-" + rep.FileName() + "-de-geo.csv"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.Report() != rep {
			t.Errorf("%s: file name resolved to %s", name, r.Report().Name())
		}
		evs, rerrs := readAll(t, r)
		if len(evs) != 1 || len(rerrs) != 0 {
			t.Errorf("%s: events %d, errors %v", name, len(evs), rerrs)
			continue
		}
		ev := evs[0]
		if !ev.Has("classification.type") || !ev.Has("classification.identifier") || ev.String("feed.name") != rep.FeedName() {
			t.Errorf("%s: event %v", name, ev.Fields)
		}
		if !ev.Has("source.ip") && !ev.Has("source.url") {
			t.Errorf("%s: no source in %v", name, ev.Keys())
		}
	}
}

// TestResolve: the current definition wins when the header has its
// required columns; a legacy one of the same file_name when it does not.
func TestResolve(t *testing.T) {
	t.Parallel()
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := s.Lookup("malware_url")
	tests := []struct {
		name   string
		header []string
		want   string
	}{
		{"current header", []string{"timestamp", "ip", "port", "url", "host"}, "malware_url"},
		{"2022 header without port", []string{"timestamp", "url", "host", "ip", "asn", "sha256"}, "malware_url_2022"},
		{"fits nothing", []string{"timestamp", "url"}, "malware_url"},
	}
	for _, tc := range tests {
		if got := s.Resolve(cur, tc.header).Name(); got != tc.want {
			t.Errorf("%s: Resolve = %s, want %s", tc.name, got, tc.want)
		}
	}
	scan, _ := s.Lookup("scan_ntp")
	if got := s.Resolve(scan, []string{"timestamp"}); got != scan {
		t.Errorf("a type without legacy definitions resolved to %s", got.Name())
	}
}

// TestLegacyReports spot-checks the old reports of the fixtures against
// their CSV.
func TestLegacyReports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		opts     Options
		wantType string
		rows     int
		line     int // the row to check
		want     map[string]any
	}{
		{
			file: "legacy/2015-01-01-sinkhole_http_drone-sample-asn.csv", wantType: "sinkhole_http_drone", rows: 8, line: 2,
			want: map[string]any{
				"time.source":                "2010-08-31T00:09:04+00:00",
				"source.ip":                  "202.86.21.11",
				"source.port":                int64(8726),
				"source.asn":                 int64(23456),
				"source.geolocation.cc":      "AF",
				"malware.name":               "downadup",
				"destination.port":           int64(80),
				"extra.url":                  "GET /search?q=0 HTTP/1.0",
				"extra.http_host":            "149.20.56.32", // an address is no FQDN
				"extra.user_agent":           "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
				"classification.taxonomy":    "malicious-code",
				"classification.type":        "infected-system",
				"classification.identifier":  "botnet",
				"protocol.application":       "http",
				"feed.name":                  "Sinkhole-HTTP-Drone",
				"destination.geolocation.cc": nil,
			},
		},
		{
			// Forced by the old feed name; the file name says nothing.
			file: "legacy/2015-01-01-sinkhole_http_drone-sample-asn.csv", opts: Options{ReportType: "Sinkhole-HTTP-Drone", Filename: "upload.csv"},
			wantType: "sinkhole_http_drone", rows: 8, line: 4,
			want: map[string]any{"malware.name": "sality", "destination.fqdn": "www.kjwre9fqwieluoi.info", "extra.p0f_genre": "Windows"},
		},
		{
			// Detected from the header alone.
			file: "legacy/2015-01-01-sinkhole_http_drone-sample-asn.csv", opts: Options{Filename: "upload.csv"},
			wantType: "sinkhole_http_drone", rows: 8, line: 2,
			want: map[string]any{"source.ip": "202.86.21.11"},
		},
		{
			file: "phish_url.csv", wantType: "phish_url", rows: 3, line: 2,
			want: map[string]any{
				"time.source":               "2022-02-01T08:00:07+00:00",
				"source.url":                "https://priceless-pare.example.net/Postal-/acec6/",
				"source.fqdn":               "priceless-pare.example.net",
				"source.ip":                 "172.245.0.0",
				"source.asn":                int64(64512),
				"extra.source.naics":        int64(518210),
				"extra.source":              "openphish.com",
				"classification.type":       "phishing",
				"classification.taxonomy":   "fraud",
				"classification.identifier": "phish-url",
			},
		},
		{
			file: "malware_url.csv", wantType: "malware_url_2022", rows: 3, line: 2,
			want: map[string]any{
				"source.ip":                 "41.86.0.0",
				"source.url":                "http://41.86.0.0:50008/Mozi.m",
				"malware.hash.sha256":       "12013662c71da69de977c04cd7021f13a70cf7bed4ca6c82acbc100464d4b0ef",
				"extra.tag":                 "CVE-2016-10372",
				"classification.type":       "malware-distribution",
				"classification.identifier": "malware-url",
				"source.port":               nil,
			},
		},
	}
	for _, tc := range tests {
		opts := tc.opts
		if opts.Filename == "" {
			opts.Filename = filepath.Base(tc.file)
		}
		r := openFixture(t, tc.file, opts)
		if got := r.Report().Name(); got != tc.wantType {
			t.Errorf("%s: type %s, want %s", tc.file, got, tc.wantType)
			continue
		}
		evs, rerrs := readAll(t, r)
		if len(evs) != tc.rows || len(rerrs) != 0 {
			t.Errorf("%s: %d events, errors %v; want %d events", tc.file, len(evs), rerrs, tc.rows)
			continue
		}
		var ev normalizer.Event
		for _, e := range evs {
			if e.Raw.Line == tc.line {
				ev = e
			}
		}
		for k, want := range tc.want {
			got, ok := ev.Get(k)
			if want == nil {
				if ok {
					t.Errorf("%s line %d: %s = %#v, want unset", tc.file, tc.line, k, got)
				}
				continue
			}
			if got != want {
				t.Errorf("%s line %d: %s = %#v, want %#v", tc.file, tc.line, k, got, want)
			}
		}
	}
}
