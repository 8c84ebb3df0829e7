package normalizer

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		in   any
		want any // nil: an error is expected
	}{
		{"source.ip", " 192.0.2.1 ", "192.0.2.1"},
		{"source.ip", "::ffff:192.0.2.1", "192.0.2.1"},
		{"source.ip", "2001:DB8::1", "2001:db8::1"},
		{"source.ip", "[2001:db8::1]", "2001:db8::1"},
		{"source.ip", "192.0.2.1/32", "192.0.2.1"},
		{"source.ip", "192.0.2.300", nil},
		{"source.ip", "", nil},
		{"source.network", "192.0.2.7/24", "192.0.2.0/24"},
		{"source.network", "192.0.2.7", "192.0.2.7/32"},
		{"source.port", "443", int64(443)},
		{"source.port", 443.0, int64(443)},
		{"source.port", "44.5", nil},
		{"source.asn", "AS64496", int64(64496)},
		{"source.asn", int64(0), nil},
		{"source.fqdn", "Example.COM.", "example.com"},
		{"source.fqdn", "192.0.2.1", nil},
		{"source.fqdn", "a b", nil},
		{"source.url", "hxxp://evil.example/x", "http://evil.example/x"},
		{"source.url", "evil.example/path", "http://evil.example/path"},
		{"source.url", "http://", nil},
		{"time.source", "2024-01-02 03:04:05", "2024-01-02T03:04:05+00:00"},
		{"time.source", "2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05+00:00"},
		{"time.source", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05+00:00"},
		{"time.source", "Tue, 2 Jan 2024 03:04:05 +0100", "2024-01-02T02:04:05+00:00"},
		{"time.source", int64(1704164645), "2024-01-02T03:04:05+00:00"},
		{"time.source", "2024-01-02 03:04:05.25", "2024-01-02T03:04:05.25+00:00"},
		{"time.source", "yesterday", nil},
		{"classification.type", "Scanner", "scanner"},
		{"classification.type", "vulnerable service", "vulnerable-system"},
		{"classification.type", "no-such-type", nil},
		{"classification.taxonomy", "Vulnerable", "vulnerable"},
		{"source.geolocation.cc", "de", "DE"},
		{"protocol.transport", "TCP", "tcp"},
		{"source.tor_node", "true", true},
		{"source.tor_node", "maybe", nil},
		{"source.geolocation.latitude", "52.5", 52.5},
		{"feed.accuracy", 101.0, nil},
		{"source.registry", "ripe-ncc", "RIPE"},
		{"tlp", "tlp:amber", "AMBER"},
		{"no.such.field", "x", nil},
	}
	for _, tt := range tests {
		got, err := Sanitize(tt.key, tt.in)
		if tt.want == nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.key {
				t.Errorf("Sanitize(%s, %#v) = %#v, %v; want a FieldError for %s", tt.key, tt.in, got, err, tt.key)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Sanitize(%s, %#v) = %#v, %v; want %#v", tt.key, tt.in, got, err, tt.want)
		}
	}
}

func TestEventSetAndAccessors(t *testing.T) {
	t.Parallel()
	ev := NewEvent(4)
	for k, v := range map[string]any{
		"source.ip": "192.0.2.1", "source.port": "53", "time.source": "2024-01-02 03:04:05",
		"classification.type": "scanner", "extra.tag": "x",
	} {
		if err := ev.Set(k, v); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
	}
	if err := ev.Set("source.ip", "bogus"); err == nil {
		t.Fatal("Set accepted a bad IP")
	}
	if a, ok := ev.Addr("source.ip"); !ok || a.String() != "192.0.2.1" {
		t.Errorf("a bad Set changed the event: Addr = %v %v", a, ok)
	}
	if p, ok := ev.Int("source.port"); !ok || p != 53 {
		t.Errorf("Int = %v %v", p, ok)
	}
	if tm, ok := ev.Time("time.source"); !ok || !tm.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Time = %v %v", tm, ok)
	}
	ev.Complete()
	if ev.String("classification.taxonomy") != "information-gathering" {
		t.Errorf("Complete: taxonomy = %q", ev.String("classification.taxonomy"))
	}
	if x := ev.Extra(); x["tag"] != "x" {
		t.Errorf("Extra = %v", x)
	}
	if err := ev.Set("extra.", 1); err == nil {
		t.Error("Set(extra.) accepted an empty extra name")
	}

	var buf bytes.Buffer
	if err := WriteJSONLines(&buf, ev); err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := back.UnmarshalJSON(bytes.TrimSpace(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if p, ok := back.Int("source.port"); !ok || p != 53 {
		t.Errorf("round trip lost the port's type: %#v", back.Fields["source.port"])
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("not one JSON line: %q", buf.String())
	}
}

func TestRowError(t *testing.T) {
	t.Parallel()
	fe := &FieldError{Field: "source.ip", Value: "x", Err: ErrInvalidValue}
	tests := []struct {
		err  *RowError
		want string
	}{
		{&RowError{File: "scan.csv", Line: 7, Field: "source.ip", Err: fe}, `scan.csv:line 7: field source.ip: invalid value (value "x")`},
		{&RowError{File: "m.eml", Part: "2.1", Err: io.ErrUnexpectedEOF}, "m.eml part 2.1: unexpected EOF"},
		{&RowError{Line: 3, Column: 2, Field: "ip", Err: ErrInvalidValue}, "line 3, column 2, field ip: invalid value"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(tests[0].err, ErrInvalidValue) {
		t.Error("RowError does not unwrap to its cause")
	}
}

// sliceReader yields fixed results, for ReadAll.
type sliceReader struct{ items []error }

func (s *sliceReader) Next() (Event, error) {
	if len(s.items) == 0 {
		return Event{}, io.EOF
	}
	err := s.items[0]
	s.items = s.items[1:]
	return NewEvent(0), err
}

func TestReadAll(t *testing.T) {
	t.Parallel()
	row := &RowError{Line: 2, Err: ErrInvalidValue}
	boom := errors.New("boom")
	evs, rows, err := ReadAll(&sliceReader{items: []error{nil, row, nil}}, 0)
	if len(evs) != 2 || len(rows) != 1 || err != nil {
		t.Errorf("ReadAll = %d events, %d rows, %v; want 2, 1, nil", len(evs), len(rows), err)
	}
	if _, _, err := ReadAll(&sliceReader{items: []error{nil, boom}}, 0); !errors.Is(err, boom) {
		t.Errorf("ReadAll ended with %v, want boom", err)
	}
	if _, _, err := ReadAll(&sliceReader{items: []error{nil, nil, nil}}, 2); !errors.Is(err, ErrTooMany) {
		t.Errorf("ReadAll past its limit = %v, want ErrTooMany", err)
	}
}
