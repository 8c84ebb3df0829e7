package csvmap

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/abusegw/abusegw/normalizer"
)

func readAll(t testing.TB, r normalizer.Reader) ([]normalizer.Event, []*normalizer.RowError, error) {
	t.Helper()
	evs, rows, err := normalizer.ReadAll(r, 1e6)
	if errors.Is(err, normalizer.ErrTooMany) {
		t.Fatal("reader does not end")
	}
	return evs, rows, err
}

const configYAML = `
- name: example-scanners
  match:
    filename: "scanners-*.csv"
  columns:
    ip: source.ip
    seen: time.source
    port: source.port
    comment: "-"
  time_format: "%Y-%m-%d %H:%M:%S"
  constant:
    classification.type: scanner
    classification.identifier: example-scan
- name: headerless
  has_header: false
  delimiter: ";"
  columns:
    "1": source.ip
    "2": time.source
  time_format: unix
  constant:
    classification.type: brute-force
`

func loadConfig(t *testing.T) []Mapping {
	t.Helper()
	var ms []Mapping
	if err := yaml.Unmarshal([]byte(configYAML), &ms); err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestYAMLDefaults(t *testing.T) {
	t.Parallel()
	ms := loadConfig(t)
	if !ms[0].HasHeader || ms[1].HasHeader {
		t.Errorf("has_header: %v %v", ms[0].HasHeader, ms[1].HasHeader)
	}
	var bad []Mapping
	err := yaml.Unmarshal([]byte("- name: x\n  columns: {a: source.nope}\n  constant: {classification.type: nonsense}\n"), &bad)
	if err == nil || !strings.Contains(err.Error(), "source.nope") || !strings.Contains(err.Error(), "classification.type") {
		t.Errorf("want validation errors, got %v", err)
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	ms := loadConfig(t)
	f, err := os.Open("testdata/scanners-2024-01-01.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, ok := Select(ms, "/in/scanners-2024-01-01.csv", nil)
	if !ok || m.Name != "example-scanners" {
		t.Fatalf("Select = %v, %v", m.Name, ok)
	}
	evs, rows, err := readAll(t, NewReader(f, m, "scanners-2024-01-01.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"source.ip": "192.0.2.1", "time.source": "2024-01-01T10:00:00+00:00", "source.port": int64(22), "extra.country_code": "DE",
			"feed.name": "example-scanners", "classification.type": "scanner", "classification.identifier": "example-scan", "classification.taxonomy": "information-gathering"},
		{"source.ip": "2001:db8::3", "time.source": "2024-01-01T10:07:00+00:00", "extra.country_code": "US",
			"feed.name": "example-scanners", "classification.type": "scanner", "classification.identifier": "example-scan", "classification.taxonomy": "information-gathering"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	for i := range want {
		if !reflect.DeepEqual(evs[i].Fields, want[i]) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, evs[i].Fields, want[i])
		}
	}
	if evs[1].Raw.Line != 5 || evs[1].Raw.File != "scanners-2024-01-01.csv" {
		t.Errorf("raw %+v", evs[1].Raw)
	}
	wantRows := []struct {
		line, col int
		field     string
	}{{3, 3, "source.port"}, {4, 1, "source.ip"}, {6, 2, "time.source"}}
	if len(rows) != len(wantRows) {
		t.Fatalf("row errors %v", rows)
	}
	for i, w := range wantRows {
		if rows[i].Line != w.line || rows[i].Column != w.col || rows[i].Field != w.field {
			t.Errorf("row error %d = %v (line %d col %d field %s), want %+v", i, rows[i], rows[i].Line, rows[i].Column, rows[i].Field, w)
		}
	}
}

func TestHeaderless(t *testing.T) {
	t.Parallel()
	ms := loadConfig(t)
	in := "192.0.2.9;1700000000;extra\n\n192.0.2.10;1700000001\n"
	evs, rows, err := readAll(t, NewReader(strings.NewReader(in), ms[1], ""))
	if err != nil || len(rows) > 0 || len(evs) != 2 {
		t.Fatalf("err %v rows %v evs %v", err, rows, evs)
	}
	want := map[string]any{"source.ip": "192.0.2.9", "time.source": "2023-11-14T22:13:20+00:00", "extra.column_3": "extra",
		"feed.name": "headerless", "classification.type": "brute-force", "classification.taxonomy": "intrusion-attempts"}
	if !reflect.DeepEqual(evs[0].Fields, want) {
		t.Errorf("got %#v", evs[0].Fields)
	}
	if evs[1].Raw.Line != 3 {
		t.Errorf("line %d", evs[1].Raw.Line)
	}
}

func TestMissingColumn(t *testing.T) {
	t.Parallel()
	ms := loadConfig(t)
	_, _, err := readAll(t, NewReader(strings.NewReader("ip,when\n192.0.2.1,x\n"), ms[0], "f.csv"))
	if err == nil || !strings.Contains(err.Error(), "seen") {
		t.Fatalf("want missing column error, got %v", err)
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	byHeader := Mapping{Name: "h", HasHeader: true, Columns: map[string]string{"IP": "source.ip", "x": "-"}}
	explicit := Mapping{Name: "e", HasHeader: true, Match: Match{Header: []string{"addr", "kind"}}, Columns: map[string]string{"addr": "source.ip"}}
	both := Mapping{Name: "b", HasHeader: true, Match: Match{Filename: "*.txt", Header: []string{"addr"}}}
	tests := []struct {
		m      Mapping
		file   string
		header []string
		want   bool
	}{
		{byHeader, "", []string{"ip", "other"}, true},
		{byHeader, "", []string{"addr"}, false},
		{byHeader, "", nil, false},
		{explicit, "a.csv", []string{"Kind", "ADDR"}, true},
		{explicit, "a.csv", []string{"addr"}, false},
		{both, "dir/R.TXT", []string{"addr"}, true},
		{both, "r.csv", []string{"addr"}, false},
		{both, "r.txt", []string{"ip"}, false},
		{Mapping{Name: "nothing"}, "x.csv", []string{"a"}, false},
	}
	for i, tt := range tests {
		if got := tt.m.Matches(tt.file, tt.header); got != tt.want {
			t.Errorf("%d: %s.Matches(%q, %v) = %v", i, tt.m.Name, tt.file, tt.header, got)
		}
	}
}

func TestTimeFormats(t *testing.T) {
	t.Parallel()
	tests := []struct{ format, in, want string }{
		{"", "2024-02-03 04:05:06", "2024-02-03T04:05:06+00:00"},
		{"%d/%m/%Y %H:%M", "03/02/2024 04:05", "2024-02-03T04:05:00+00:00"},
		{"%Y-%m-%dT%H:%M:%S.%f%z", "2024-02-03T04:05:06.250000+0100", "2024-02-03T03:05:06.25+00:00"},
		{"02.01.2006 15:04 MST", "03.02.2024 04:05 UTC", "2024-02-03T04:05:00+00:00"},
		{"unix_ms", "1700000000123", "2023-11-14T22:13:20.123+00:00"},
	}
	for _, tt := range tests {
		tf, err := compileTimeFormat(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		tm, err := tf.parse(tt.in)
		if err != nil {
			t.Errorf("%q %q: %v", tt.format, tt.in, err)
			continue
		}
		if got := tm.Format(normalizer.TimeFormat); got != tt.want {
			t.Errorf("%q %q = %s, want %s", tt.format, tt.in, got, tt.want)
		}
	}
	if _, err := compileTimeFormat("%Q"); err == nil {
		t.Error("%Q accepted")
	}
}

func TestSplitHeader(t *testing.T) {
	t.Parallel()
	got := SplitHeader([]byte("\xef\xbb\xbf\"a\";b;c d\n1;2;3"), ";")
	if !reflect.DeepEqual(got, []string{"a", "b", "c d"}) {
		t.Errorf("got %q", got)
	}
}

func FuzzCSVMap(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, false)
		}
	}
	f.Add([]byte("1;2\n\"x;y\n"), true)
	mapping := Mapping{Name: "fuzz", HasHeader: true, TimeFormat: "%Y-%m-%d %H:%M:%S",
		Columns:  map[string]string{"ip": "source.ip", "seen": "time.source", "port": "source.port"},
		Constant: map[string]string{"classification.type": "scanner"}}
	headerless := Mapping{Name: "fuzz2", Delimiter: ";", Columns: map[string]string{"1": "source.url", "2": "time.source"}}
	f.Fuzz(func(t *testing.T, b []byte, noHeader bool) {
		m := mapping
		if noHeader {
			m = headerless
		}
		r := NewReader(bytes.NewReader(b), m, "fuzz.csv")
		for i := 0; i < 100000; i++ {
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *normalizer.RowError
			if err != nil && !errors.As(err, &re) {
				return
			}
			if err == nil && m.Name == "fuzz" && ev.String("classification.type") != "scanner" {
				t.Fatalf("constant lost: %v", ev.Fields)
			}
		}
		t.Fatal("reader does not end")
	})
}
