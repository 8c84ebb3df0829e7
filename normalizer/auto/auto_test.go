package auto

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/csvmap"
)

func drain(t testing.TB, r normalizer.Reader) ([]normalizer.Event, []error, error) {
	t.Helper()
	var evs []normalizer.Event
	var rows []error
	for i := 0; i < 1e6; i++ {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, rows, nil
		}
		var re *normalizer.RowError
		if errors.As(err, &re) {
			rows = append(rows, err)
			continue
		}
		if err != nil {
			return evs, rows, err
		}
		evs = append(evs, ev)
	}
	t.Fatal("reader does not end")
	return nil, nil, nil
}

// shadowserverGaps are fixtures the shadowserver package does not read yet
// (reported to its owner); detection reaches it correctly. phish_url.csv,
// the 2022 malware_url.csv and the 2015 sinkhole_http_drone mail read
// through the legacy overlay (mappings/shadowserver/legacy.json).
var shadowserverGaps = map[string]string{}

// acceptable is the acceptance check's rule for one event.
func acceptable(ev normalizer.Event) bool {
	return (ev.Has("classification.type") || ev.Has("classification.identifier")) &&
		(ev.Has("source.ip") || ev.Has("source.url") || ev.Has("source.fqdn") || ev.Has("source.network") || ev.Has("source.asn"))
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	groups := []struct {
		glob   string
		format string
	}{
		{"testdata/shadowserver/csv/*.csv", FormatShadowserver},
		{"testdata/xarf/abusix-xarf/samples/positive/3/*.json", FormatXARF},
		{"testdata/xarf/xarf-spec/samples/v4/*.json", FormatXARF},
		{"testdata/xarf/email-v0.2/*/*", FormatMail},
		{"testdata/arf/*/*/*", FormatMail},
		{"testdata/arf/*/*/*/*", FormatMail},
		{"testdata/email/*/*", FormatMail},
		{"testdata/intelmq/events/*", FormatIntelMQ},
	}
	for _, g := range groups {
		files, _ := filepath.Glob(g.glob)
		for _, p := range files {
			if st, err := os.Stat(p); err != nil || st.IsDir() {
				continue
			}
			t.Run(strings.TrimPrefix(p, "testdata/"), func(t *testing.T) {
				t.Parallel()
				if why, ok := shadowserverGaps[filepath.Base(p)]; ok {
					t.Skip("known gap of the shadowserver parser:", why)
				}
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				rd, info, err := Open(f, Options{Filename: filepath.Base(p)})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if info.Format != g.format {
					t.Errorf("format %q (%s), want %q", info.Format, info.Detail, g.format)
				}
				evs, rows, err := drain(t, rd)
				if err != nil {
					t.Fatalf("after %d events: %v", len(evs), err)
				}
				if len(evs) == 0 {
					t.Fatalf("no events; row errors %v", rows)
				}
				for _, ev := range evs {
					if !acceptable(ev) {
						t.Errorf("event lacks classification or source: %v", ev.Fields)
						break
					}
				}
			})
		}
	}
}

func TestNegativeXARF(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/xarf/abusix-xarf/samples/negative/3/*.json")
	for _, p := range files {
		f, _ := os.Open(p)
		rd, _, err := Open(f, Options{Filename: filepath.Base(p)})
		if err == nil {
			var evs []normalizer.Event
			var rows []error
			evs, rows, err = drain(t, rd)
			if err == nil && len(rows) == 0 && len(evs) > 0 {
				t.Errorf("%s accepted: %d events", p, len(evs))
			}
		}
		f.Close()
	}
}

func TestDetection(t *testing.T) {
	t.Parallel()
	ss, err := os.ReadFile("testdata/shadowserver/csv/scan_ntp.csv")
	if err != nil {
		t.Fatal(err)
	}
	mapping := csvmap.Mapping{Name: "mine", HasHeader: true, Columns: map[string]string{"addr": "source.ip"},
		Constant: map[string]string{"classification.type": "scanner"}}
	tests := []struct {
		name, file string
		data       []byte
		opts       Options
		format     string
		events     int
		unrec      bool
	}{
		{name: "shadowserver, type forced", data: ss, opts: Options{Type: "scan_ntp"}, format: FormatShadowserver, events: 1},
		{name: "gzip", file: "scan_ntp.csv.gz", data: gz(ss), format: FormatShadowserver, events: 1},
		{name: "zip of two", file: "r.zip", data: zipOf(t, map[string][]byte{"2024-01-01-scan_ntp-de.csv": ss, "b/data.json": []byte(`{"source.ip":"192.0.2.1","classification.type":"scanner"}`)}), format: FormatShadowserver, events: 2},
		{name: "configured csv", file: "x.csv", data: []byte("addr,note\n192.0.2.1,hi\n"), opts: Options{CSV: []csvmap.Mapping{mapping}}, format: FormatCSV, events: 1},
		{name: "unknown csv", file: "x.csv", data: []byte("a,b\n1,2\n"), unrec: true},
		{name: "binary", data: []byte{0, 1, 2, 3}, unrec: true},
		{name: "empty", data: nil, unrec: true},
		{name: "forced intelmq", data: []byte(`{"source.ip":"192.0.2.1","classification.type":"spam"}`), opts: Options{Format: FormatIntelMQ}, format: FormatIntelMQ, events: 1},
		{name: "json array", data: []byte(`[{"source.ip":"192.0.2.1","classification.type":"spam"}]`), format: FormatIntelMQ, events: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			opts.Filename = tt.file
			rd, info, err := Open(bytes.NewReader(tt.data), opts)
			if tt.unrec {
				if !errors.Is(err, normalizer.ErrUnrecognized) {
					t.Fatalf("err = %v, want unrecognised", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != tt.format {
				t.Errorf("format %q, want %q", info.Format, tt.format)
			}
			evs, rows, err := drain(t, rd)
			if err != nil || len(evs) < tt.events {
				t.Errorf("err %v, %d events (want >= %d), rows %v", err, len(evs), tt.events, rows)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	for _, g := range []string{"testdata/email/*/*", "testdata/intelmq/events/*", "testdata/xarf/email-v0.2/*/*", "testdata/arf/abuseio/feedback-loop/*"} {
		files, _ := filepath.Glob(g)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, filepath.Base(p))
			}
		}
	}
	for _, p := range []string{"testdata/shadowserver/csv/scan_ntp.csv", "testdata/xarf/xarf-spec/samples/v4/connection-ddos.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, filepath.Base(p))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		rd, _, err := Open(bytes.NewReader(b), Options{Filename: name, MaxZip: 1 << 20})
		if err != nil {
			return
		}
		for i := 0; i < 100000; i++ {
			_, err := rd.Next()
			if err == io.EOF {
				return
			}
			var re *normalizer.RowError
			if err != nil && !errors.As(err, &re) {
				return
			}
		}
		t.Fatal("reader does not end")
	})
}
