package shadowserver

import (
	"bytes"

	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusegw/abusegw/normalizer"
)

// synthValue invents a CSV value that the mapping's converter and field
// accept, from the schema alone.
func synthValue(m mapping) string {
	if m.conv != nil {
		switch m.conv.name {
		case "add_UTC_to_timestamp", "convert_date", "convert_date_utc":
			return "2024-01-02 03:04:05"
		case "validate_ip":
			return "192.0.2.7"
		case "convert_int", "invalidate_zero":
			return "64496"
		case "convert_float":
			return "1.5"
		case "convert_bool":
			return "yes"
		case "validate_fqdn":
			return "host.example.net"
		case "validate_network":
			return "192.0.2.0/24"
		case "extract_cve_from_tag":
			return "cve-2024-1234;tagged"
		case "scan_exchange_taxonomy", "scan_exchange_type", "scan_exchange_identifier":
			return "exchange;webshell"
		case "convert_http_host_and_url":
			// A full URL: some reports have no host column to join a path to.
			return "http://example.org/index.html"
		}
	}
	typ, _ := normalizer.FieldType(m.key)
	switch {
	case m.kind != targetField:
		return "v-" + m.column
	case m.key == "protocol.transport":
		return "tcp"
	case strings.HasSuffix(m.key, ".cc"):
		return "DE"
	case m.key == "classification.type":
		return "scanner"
	case m.key == "classification.taxonomy":
		return "vulnerable"
	}
	switch typ {
	case "IPAddress":
		return "192.0.2.8"
	case "IPNetwork":
		return "192.0.2.0/24"
	case "Integer", "ASN":
		return "64497"
	case "Float", "Accuracy":
		return "2.5"
	case "Boolean":
		return "true"
	case "DateTime":
		return "2024-01-02 03:04:05"
	case "FQDN":
		return "fqdn.example.org"
	case "URL":
		return "http://example.org/x"
	case "Registry":
		return "RIPE"
	}
	return "v-" + m.column
}

// synthReport builds a header and one row for a report from its schema:
// every column its mappings read, with a value its first mapping accepts.
func synthReport(r *Report) (header, row []string) {
	first := make(map[string]mapping)
	for _, m := range append(append([]mapping(nil), r.required...), r.optional...) {
		if _, ok := first[m.column]; !ok {
			first[m.column] = m
		}
	}
	for _, c := range r.columns {
		header = append(header, c)
		row = append(row, synthValue(first[c]))
	}
	return header, row
}

func csvLine(fields []string) string {
	q := make([]string, len(fields))
	for i, f := range fields {
		q[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
	}
	return strings.Join(q, ",") + "\n"
}

// TestEveryTypeFromSchema parses, for each of the 170 report types, a CSV
// generated from the schema's column list, and checks that every mapped
// column landed in its field.
func TestEveryTypeFromSchema(t *testing.T) {
	t.Parallel()
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range s.Types() {
		rep, _ := s.Lookup(name)
		header, row := synthReport(rep)
		data := csvLine(header) + csvLine(row)
		r, err := NewReader(strings.NewReader(data), Options{Filename: "2024-01-02-" + rep.FileName() + "-de-geo.csv"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r.Report() != rep {
			t.Errorf("%s: file name resolved to %s", name, r.Report().Name())
		}
		evs, rerrs := readAll(t, r)
		if len(rerrs) > 0 || len(evs) != 1 {
			t.Errorf("%s: events %d, errors %v", name, len(evs), rerrs)
			continue
		}
		ev := evs[0]
		if got := ev.String("time.source"); got != "2024-01-02T03:04:05+00:00" {
			t.Errorf("%s: time.source %q", name, got)
		}
		if ev.String("feed.name") != rep.FeedName() {
			t.Errorf("%s: feed.name %q", name, ev.String("feed.name"))
		}
		for k, v := range rep.Constants() {
			if got, _ := ev.Get(k); got != v {
				t.Errorf("%s: constant %s = %v, want %v", name, k, got, v)
			}
		}
		seen := make(map[string]bool)
		for _, m := range append(append([]mapping(nil), rep.required...), rep.optional...) {
			if seen[m.column] {
				continue // the value was made for the column's first mapping
			}
			seen[m.column] = true
			switch m.kind {
			case targetDrop:
				if ev.Has("extra." + m.column) {
					t.Errorf("%s: dropped column %s kept", name, m.column)
				}
			default:
				if _, isConst := rep.Constants()[m.key]; isConst {
					continue
				}
				if !ev.Has(m.key) {
					t.Errorf("%s: column %s (%s) did not set %s; event %v", name, m.column, convName(m), m.key, ev.Keys())
				}
			}
		}
	}
}

func convName(m mapping) string {
	if m.conv == nil {
		return "no converter"
	}
	return m.conv.name
}

// TestTypeWithoutFixture checks one report type none of the fixtures
// contains, field by field, from a CSV generated from the schema alone.
func TestTypeWithoutFixture(t *testing.T) {
	t.Parallel()
	const name = "scan_kubernetes"
	if _, err := os.Stat(filepath.Join("testdata", name+".csv")); err == nil {
		t.Fatalf("%s has a fixture; pick another type", name)
	}
	s, err := DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := s.Lookup(name)
	header, row := synthReport(rep)
	header = append(header, "brand_new_column")
	row = append(row, "surprise")
	r, err := NewReader(strings.NewReader(csvLine(header)+csvLine(row)), Options{Filename: "2026-03-01-scan_kubernetes-at-geo.csv"})
	if err != nil {
		t.Fatal(err)
	}
	evs, rerrs := readAll(t, r)
	if len(evs) != 1 || len(rerrs) != 0 {
		t.Fatalf("events %d, errors %v", len(evs), rerrs)
	}
	want := map[string]any{
		"time.source":               "2024-01-02T03:04:05+00:00",
		"source.ip":                 "192.0.2.7",
		"source.port":               int64(64496),
		"source.asn":                int64(64496),
		"source.geolocation.cc":     "DE",
		"protocol.transport":        "tcp",
		"protocol.application":      "kubernetes",
		"classification.identifier": "open-kubernetes",
		"classification.taxonomy":   "vulnerable",
		"classification.type":       "vulnerable-system",
		"feed.name":                 "Accessible-Kubernetes-API",
		"extra.source.naics":        int64(64496),
		"extra.http_code":           int64(64496),
		"extra.git_version":         "v-git_version",
		"extra.brand_new_column":    "surprise",
		"extra.severity":            "v-severity",
	}
	if _, ok := normalizer.FieldType("severity"); ok {
		delete(want, "extra.severity")
		want["severity"] = "v-severity"
	}
	for k, v := range want {
		if got, _ := evs[0].Get(k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
}

// rowGen streams a CSV report: the header, then rows taken in turn from a
// fixture, n rows in all, without ever holding more than one row.
type rowGen struct {
	header []byte
	rows   [][]byte
	n, i   int
	buf    []byte
}

func newRowGen(t testing.TB, fixture string, n int) *rowGen {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimRight(b, "\n"), []byte("\n"))
	g := &rowGen{header: lines[0], n: n}
	for _, l := range lines[1:] {
		if !bytes.HasSuffix(l, []byte("\n")) {
			l = append(l, '\n')
		}
		g.rows = append(g.rows, l)
	}
	g.buf = g.header
	return g
}

func (g *rowGen) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i >= g.n {
			return 0, io.EOF
		}
		g.buf = g.rows[g.i%len(g.rows)]
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// TestStreamsInConstantMemory reads a 50 MB report produced on the fly and
// checks that the live heap stays small and that allocation per row does not
// grow with the report: nothing accumulates.
func TestStreamsInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB stream")
	}
	// ~250 bytes a row: 210,000 rows are ~50 MB. SHADOWSERVER_STREAM_MB
	// scales it, to measure peak RSS on a 1 GB stream (see README).
	rows := 210_000
	if mb, err := strconv.Atoi(os.Getenv("SHADOWSERVER_STREAM_MB")); err == nil && mb > 0 {
		rows = mb * 210_000 / 50
	}
	g := newRowGen(t, "scan_ntp.csv", rows)
	r, err := NewReader(g, Options{Filename: "scan_ntp.csv"})
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	startAlloc := ms.TotalAlloc
	var maxHeap uint64
	var bytesIn int64
	n := 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n%20_000 == 0 {
			bytesIn = r.csv.InputOffset()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
		}
		_ = ev
	}
	runtime.ReadMemStats(&ms)
	perRow := (ms.TotalAlloc - startAlloc) / uint64(n)
	t.Logf("%d rows, %d MB read, max HeapInuse after GC %.1f MB, %d B allocated per row",
		n, bytesIn>>20, float64(maxHeap)/(1<<20), perRow)
	if n != rows {
		t.Fatalf("%d rows, want %d", n, rows)
	}
	if bytesIn < int64(rows)*225 {
		t.Fatalf("only %d bytes streamed", bytesIn)
	}
	// The input is 50 MB; a reader that kept rows or events would hold tens
	// of MB. The bound leaves room for the schema and the test binary.
	if maxHeap > 24<<20 {
		t.Errorf("HeapInuse reached %d MB", maxHeap>>20)
	}
	// One scan_ntp event is ~40 fields; 8 KB a row allows the map, the row
	// string and boxed values, not a copy of the report.
	if perRow > 8<<10 {
		t.Errorf("%d bytes allocated per row", perRow)
	}
}

// benchFixtures are the reports BenchmarkParse runs: a scan report and an
// event4 (sinkhole) report, as Shadowserver sends most.
var benchFixtures = []struct{ name, fixture string }{
	{"scan_ntp", "scan_ntp.csv"},
	{"scan_http", "scan_http.csv"},
	{"event4_sinkhole_http", "event4_sinkhole_http.csv"},
}

// BenchmarkParse parses and normalizes 200,000 generated rows per iteration
// and reports rows/s. Run it on one core:
//
//	GOMAXPROCS=1 go test -run=^$ -bench=. -benchmem ./normalizer/shadowserver/
func BenchmarkParse(b *testing.B) {
	const rows = 200_000
	s, err := DefaultSchema()
	if err != nil {
		b.Fatal(err)
	}
	for _, bf := range benchFixtures {
		b.Run(bf.name, func(b *testing.B) {
			var bytesIn int64
			cpu0 := cpuTime()
			for b.Loop() {
				g := newRowGen(b, bf.fixture, rows)
				r, err := NewReader(g, Options{Filename: bf.fixture, Schema: s})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != rows {
					b.Fatalf("%d rows", n)
				}
				bytesIn = r.csv.InputOffset()
			}
			b.SetBytes(bytesIn)
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// On a shared machine wall time depends on the neighbours; CPU
			// time (all threads, GC included) does not.
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
			}
		})
	}
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FuzzReader feeds arbitrary bytes, as any report type, to the Reader:
// it must never panic or loop, and every event it returns must be valid.
func FuzzReader(f *testing.F) {
	s, err := DefaultSchema()
	if err != nil {
		f.Fatal(err)
	}
	types := s.Types()
	files, _ := filepath.Glob("testdata/*.csv")
	legacy, _ := filepath.Glob("testdata/legacy/*.csv")
	for _, path := range append(files, legacy...) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, filepath.Base(path))
	}
	f.Add([]byte("timestamp,ip,port\n\"2024-01-01 00:00:00\",192.0.2.1,\"80\n"), "scan_http")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		opts := Options{Filename: name, Schema: s}
		if len(name) > 0 && name[0] < 128 && !strings.HasSuffix(name, ".csv") {
			// Exercise forced types too, chosen by the fuzzer.
			opts.ReportType = types[int(name[0])%len(types)]
		}
		r, err := NewReader(bytes.NewReader(data), opts)
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for i := 0; ; i++ {
			if i > lines+1 {
				t.Fatalf("more results (%d) than lines (%d)", i, lines)
			}
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if _, ok := err.(*normalizer.RowError); !ok {
					t.Fatalf("error %T %v, want *RowError", err, err)
				}
				_ = err.Error()
				continue
			}
			if ev.Raw.Line < 1 || ev.Raw.Line > lines {
				t.Fatalf("line %d of %d", ev.Raw.Line, lines)
			}
			if _, err := ev.MarshalJSON(); err != nil {
				t.Fatalf("event does not marshal: %v", err)
			}
			for k, v := range ev.Fields {
				if strings.HasPrefix(k, "extra.") {
					continue
				}
				if _, err := normalizer.Sanitize(k, v); err != nil {
					t.Fatalf("field %s=%v not valid: %v", k, v, err)
				}
			}
		}
	})
}
