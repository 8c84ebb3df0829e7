package intelmq

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

// readAll drains r, returning events and row errors; another error fails.
func readAll(t testing.TB, r normalizer.Reader) ([]normalizer.Event, []*normalizer.RowError, error) {
	t.Helper()
	evs, rows, err := normalizer.ReadAll(r, 1e6)
	if errors.Is(err, normalizer.ErrTooMany) {
		t.Fatal("reader does not end")
	}
	return evs, rows, err
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		events int
		first  map[string]any
	}{
		{"data.json", 2, map[string]any{"source.ip": "127.0.0.1", "classification.type": "c2-server", "classification.taxonomy": "malicious-code"}},
		{"events.txt", 25, map[string]any{"source.ip": "192.88.99.28", "destination.ip": "192.0.43.8", "classification.type": "ddos", "classification.identifier": "ddos", "time.observation": "2015-01-01T00:00:01+00:00"}},
		{"docs-user-bots-udp-output.event.json", 1, map[string]any{"source.asn": int64(8972), "source.url": "http://schizzino.omarathon.com/gkCCJuTHM/DPeCZEk/WtVNHDKl-mXYeFNHj/", "feed.accuracy": 100.0, "time.source": "2016-04-25T11:39:00+00:00"}},
		{"docs-user-intro.event.json", 1, map[string]any{"source.port": int64(443), "extra.status": "offline", "source.network": "82.212.115.0/24", "source.geolocation.latitude": 31.9522}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			evs, rows, err := readAll(t, NewReader(f, tt.file))
			if err != nil || len(rows) > 0 {
				t.Fatalf("err %v, row errors %v", err, rows)
			}
			if len(evs) != tt.events {
				t.Fatalf("got %d events, want %d", len(evs), tt.events)
			}
			for k, want := range tt.first {
				if got := evs[0].Fields[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			if evs[0].Has("__type") {
				t.Error("__type kept")
			}
			if evs[0].Raw.File != tt.file || evs[0].Raw.Line != 1 {
				t.Errorf("raw ref %+v", evs[0].Raw)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("A", MaxRaw+4)
	tests := []struct {
		name   string
		in     string
		want   []map[string]any
		lines  []int // line of each event
		rowErr []int // lines of row errors
		fatal  bool
	}{
		{
			name:  "legacy type and extra flattening",
			in:    `{"source.ip":"192.0.2.1","classification.type":"botnet drone","extra":{"a":1,"b":{"c":"d"}},"foo":"bar","__type":"Event"}` + "\n",
			want:  []map[string]any{{"source.ip": "192.0.2.1", "classification.type": "infected-system", "classification.taxonomy": "malicious-code", "extra.a": int64(1), "extra.b": map[string]any{"c": "d"}, "extra.foo": "bar"}},
			lines: []int{1},
		},
		{
			name:  "extra as JSON string, nulls and empty values ignored",
			in:    `{"source.ip":"192.0.2.1","extra":"{\"x\": 2}","source.fqdn":"","source.port":null}`,
			want:  []map[string]any{{"source.ip": "192.0.2.1", "extra.x": int64(2)}},
			lines: []int{1},
		},
		{
			name:   "bad line in JSON lines goes on",
			in:     "\n" + `{"source.ip":"192.0.2.1"}` + "\n{not json\n" + `{"source.ip":"300.1.1.1"}` + "\n[1]\n\n" + `{"source.ip":"192.0.2.2"}`,
			want:   []map[string]any{{"source.ip": "192.0.2.1"}, {"source.ip": "192.0.2.2"}},
			lines:  []int{2, 7},
			rowErr: []int{3, 4, 5},
		},
		{
			name: "array streamed, bad element is a row error",
			in: "[\n" + `{"source.ip":"192.0.2.1","classification.type":"c&c"},` + "\n" + `"x",` + "\n" +
				`{"source":{"ip":"2001:db8::1","port":25},"classification":{"type":"spam"}}` + "\n]\n",
			want: []map[string]any{
				{"source.ip": "192.0.2.1", "classification.type": "c2-server", "classification.taxonomy": "malicious-code"},
				{"source.ip": "2001:db8::1", "source.port": int64(25), "classification.type": "spam", "classification.taxonomy": "abusive-content"},
			},
			lines:  []int{2, 4},
			rowErr: []int{3},
		},
		{
			name:  "pretty printed objects",
			in:    "{\n \"source.ip\": \"192.0.2.1\"\n}\n{\n \"source.ip\": \"192.0.2.2\"\n}\n",
			want:  []map[string]any{{"source.ip": "192.0.2.1"}, {"source.ip": "192.0.2.2"}},
			lines: []int{1, 4},
		},
		{
			name:  "raw kept when small, dropped when large",
			in:    `{"source.ip":"192.0.2.1","raw":"aGVsbG8="}` + "\n" + `{"source.ip":"192.0.2.2","raw":"` + big + `"}` + "\n",
			want:  []map[string]any{{"source.ip": "192.0.2.1", "raw": "aGVsbG8="}, {"source.ip": "192.0.2.2"}},
			lines: []int{1, 2},
		},
		{
			name:   "report is not an event",
			in:     `{"__type":"Report","raw":"aGVsbG8="}`,
			rowErr: []int{1},
		},
		{
			name:  "syntax error in a stream ends the report",
			in:    "{\n\"source.ip\": \"192.0.2.1\"\n}\n{ oops",
			want:  []map[string]any{{"source.ip": "192.0.2.1"}},
			lines: []int{1},
			fatal: true,
		},
		{
			name:  "not JSON",
			in:    "hello",
			fatal: true,
		},
		{name: "empty", in: "  \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, rows, err := readAll(t, NewReader(strings.NewReader(tt.in), "x.json"))
			if (err != nil) != tt.fatal {
				t.Fatalf("err = %v, want fatal %v", err, tt.fatal)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("got %d events %v, want %d", len(evs), evs, len(tt.want))
			}
			for i, ev := range evs {
				if !reflect.DeepEqual(ev.Fields, tt.want[i]) {
					t.Errorf("event %d = %#v, want %#v", i, ev.Fields, tt.want[i])
				}
				if ev.Raw.Line != tt.lines[i] {
					t.Errorf("event %d line %d, want %d", i, ev.Raw.Line, tt.lines[i])
				}
			}
			var got []int
			for _, re := range rows {
				got = append(got, re.Line)
				if re.File != "x.json" {
					t.Errorf("row error without file: %v", re)
				}
			}
			if !reflect.DeepEqual(got, tt.rowErr) {
				t.Errorf("row errors at %v (%v), want %v", got, rows, tt.rowErr)
			}
		})
	}
}

func TestBadFieldNamesField(t *testing.T) {
	t.Parallel()
	_, rows, err := readAll(t, NewReader(strings.NewReader(`{"source.ip":"nope"}`), ""))
	if err != nil || len(rows) != 1 {
		t.Fatalf("err %v rows %v", err, rows)
	}
	if rows[0].Field != "source.ip" || !errors.Is(rows[0], normalizer.ErrInvalidValue) {
		t.Errorf("row error %+v", rows[0])
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	var all []normalizer.Event
	for _, name := range []string{"events.txt", "docs-user-intro.event.json", "docs-user-bots-udp-output.event.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		evs, _, err := readAll(t, NewReader(bytes.NewReader(b), name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	var buf bytes.Buffer
	if err := normalizer.WriteJSONLines(&buf, all...); err != nil {
		t.Fatal(err)
	}
	again, rows, err := readAll(t, NewReader(&buf, "round"))
	if err != nil || len(rows) > 0 {
		t.Fatalf("err %v rows %v", err, rows)
	}
	if len(again) != len(all) {
		t.Fatalf("%d events after round trip, want %d", len(again), len(all))
	}
	for i := range all {
		if !reflect.DeepEqual(all[i].Fields, again[i].Fields) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, again[i].Fields, all[i].Fields)
		}
		if again[i].Raw.Line != i+1 {
			t.Errorf("event %d at line %d", i, again[i].Raw.Line)
		}
	}
}

func TestLongLine(t *testing.T) {
	t.Parallel()
	in := `{"source.ip":"192.0.2.1"}` + "\n" + `{"extra.x":"` + strings.Repeat("x", MaxLine) + `"}` + "\n" + `{"source.ip":"192.0.2.3"}` + "\n"
	evs, rows, err := readAll(t, NewReader(strings.NewReader(in), ""))
	if err != nil || len(evs) != 2 || len(rows) != 1 || rows[0].Line != 2 {
		t.Fatalf("err %v, %d events, rows %v", err, len(evs), rows)
	}
}

func FuzzIntelMQ(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`[{"source":{"ip":"192.0.2.1"}},1,{"extra":"{}"}]`))
	f.Add([]byte("{\"a\":\n1}\n{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b), "fuzz")
		for i := 0; i < 10000; i++ {
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *normalizer.RowError
			if err != nil && !errors.As(err, &re) {
				// A fatal error must stick.
				if _, err2 := r.Next(); err2 == nil {
					t.Fatal("reader went on after a fatal error")
				}
				return
			}
			if err == nil {
				if _, err := ev.MarshalJSON(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestNotAnEvent(t *testing.T) {
	t.Parallel()
	_, rows, err := readAll(t, NewReader(strings.NewReader("{\n  \"Version\": \"3\"\n}\n"), ""))
	if err != nil || len(rows) != 1 {
		t.Fatalf("err %v rows %v", err, rows)
	}
}

// TestFieldGivenTwice: a field given flat and inside an object ends the
// same every time (the object's value), whatever the map's order.
func TestFieldGivenTwice(t *testing.T) {
	t.Parallel()
	in := `{"source.ip":"192.0.2.1","source":{"ip":"192.0.2.2"},"extra.x":"flat","extra":{"x":"object"}}`
	for range 20 { // a map's order would pick either about half the time
		evs, rows, err := readAll(t, NewReader(strings.NewReader(in), ""))
		if err != nil || len(rows) > 0 || len(evs) != 1 {
			t.Fatalf("err %v rows %v events %d", err, rows, len(evs))
		}
		if ip, x := evs[0].Fields["source.ip"], evs[0].Fields["extra.x"]; ip != "192.0.2.2" || x != "object" {
			t.Fatalf("source.ip %v, extra.x %v; want the objects' values", ip, x)
		}
	}
}
