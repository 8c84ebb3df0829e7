package normalizer

import (
	"errors"
	"testing"
	"time"
)

// TestFieldSanitizerMatchesSanitize runs every typed method of a compiled
// FieldSanitizer against Sanitize on the same values: results and errors
// must agree.
func TestFieldSanitizerMatchesSanitize(t *testing.T) {
	t.Parallel()
	strs := []string{"", " ", "192.0.2.1", " 192.0.2.1 ", "::ffff:192.0.2.1", "2001:DB8::1", "[2001:db8::1]",
		"192.0.2.1/32", "192.0.2.7/24", "node01.Example.com.", "192.0.2.300", "hxxp://evil.example/x",
		"evil.example/p", "2024-01-02 03:04:05", "2024-01-02T03:04:05.5+02:00", "Thu, 19 Apr 2018 00:02:28 GMT",
		"AS64496", "64496", "0", "4.5", "ripe-ncc", "tlp:amber", "Vulnerable", "botnet drone", "yes", "MiXeD", "a b"}
	ints := []int64{-1, 0, 1, 80, 64496, 1 << 32, 1<<32 - 1}
	times := []time.Time{
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.FixedZone("x", 3600)),
		{},
	}
	for key := range fieldTypes {
		f, err := SanitizerFor(key)
		if err != nil {
			t.Fatalf("SanitizerFor(%s): %v", key, err)
		}
		if f.Key() != key || f.Type() != fieldTypes[key] {
			t.Errorf("%s: Key %q Type %q", key, f.Key(), f.Type())
		}
		for _, s := range strs {
			want, werr := Sanitize(key, s)
			got, gerr := f.Sanitize(s)
			if (werr == nil) != (gerr == nil) || got != want {
				t.Errorf("%s.Sanitize(%q) = %#v, %v; Sanitize %#v, %v", key, s, got, gerr, want, werr)
			}
			if f.Kind() != KindString {
				if _, err := f.SanitizeString(s); !errors.Is(err, ErrInvalidValue) {
					t.Errorf("%s.SanitizeString on a %s field: %v", key, f.Type(), err)
				}
				continue
			}
			gs, gerr := f.SanitizeString(s)
			if (werr == nil) != (gerr == nil) || (werr == nil && gs != want) {
				t.Errorf("%s.SanitizeString(%q) = %q, %v; Sanitize %#v, %v", key, s, gs, gerr, want, werr)
			}
			var fe *FieldError
			if gerr != nil && (!errors.As(gerr, &fe) || fe.Field != key) {
				t.Errorf("%s.SanitizeString(%q): error %v is not a FieldError for the field", key, s, gerr)
			}
		}
		for _, n := range ints {
			want, werr := Sanitize(key, n)
			got, gerr := f.SanitizeInt(n)
			if f.Kind() != KindInt {
				if gerr == nil {
					t.Errorf("%s.SanitizeInt on a %s field succeeded", key, f.Type())
				}
				continue
			}
			if (werr == nil) != (gerr == nil) || (werr == nil && got != want) {
				t.Errorf("%s.SanitizeInt(%d) = %d, %v; Sanitize %#v, %v", key, n, got, gerr, want, werr)
			}
		}
		for _, tm := range times {
			want, werr := Sanitize(key, tm)
			got, gerr := f.SanitizeTime(tm)
			if f.Type() != "DateTime" {
				if gerr == nil {
					t.Errorf("%s.SanitizeTime on a %s field succeeded", key, f.Type())
				}
				continue
			}
			if (werr == nil) != (gerr == nil) || (werr == nil && got != want) {
				t.Errorf("%s.SanitizeTime(%v) = %q, %v; Sanitize %#v, %v", key, tm, got, gerr, want, werr)
			}
		}
	}
	extra, err := SanitizerFor("extra.anything")
	if err != nil || extra.Kind() != KindAny {
		t.Fatalf("extra.*: %v, kind %v", err, extra.Kind())
	}
	if v, err := extra.Sanitize([]int{1}); err != nil || v.([]int)[0] != 1 {
		t.Errorf("extra.* Sanitize = %v, %v", v, err)
	}
	for _, bad := range []string{"no.such.field", "extra.", ""} {
		if _, err := SanitizerFor(bad); !errors.Is(err, ErrUnknownField) {
			t.Errorf("SanitizerFor(%q) = %v, want ErrUnknownField", bad, err)
		}
	}
}

// TestAppendTime compares the direct formatter with time.Time.Format.
func TestAppendTime(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.FixedZone("plus", 5*3600+1800), time.FixedZone("minus", -7*3600)}
	tests := []time.Time{
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 123_456_789, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 1000, time.UTC),
		time.Unix(0, 0),
	}
	for _, tm := range tests {
		for _, z := range zones {
			in := tm.In(z)
			want := in.UTC().Format(TimeFormat)
			if got := string(AppendTime([]byte("x"), in)); got != "x"+want {
				t.Errorf("AppendTime(%v) = %q, want %q", in, got, "x"+want)
			}
		}
	}
}

// TestCanonicalAddr checks results, and that a canonical address comes back
// as the same string without allocating.
func TestCanonicalAddr(t *testing.T) {
	// Not parallel: AllocsPerRun needs the process to itself.
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{" 192.0.2.1", "192.0.2.1"},
		{"2001:DB8::1", "2001:db8::1"},
		{"2001:db8:0:0::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"fe80::1%eth0", "fe80::1"},
		{"192.0.2.1/32", "192.0.2.1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"192.0.2", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := CanonicalAddr(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("CanonicalAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrInvalidValue) {
			t.Errorf("CanonicalAddr(%q): %v does not wrap ErrInvalidValue", tc.in, err)
		}
	}
	if raceEnabled {
		return // the race detector allocates on its own
	}
	for _, s := range []string{"198.51.100.7", "2001:db8::7"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalAddr(s) }); n != 0 {
			t.Errorf("CanonicalAddr(%q) allocates %v times", s, n)
		}
	}
}

func TestSetSanitized(t *testing.T) {
	t.Parallel()
	var ev Event
	ev.SetSanitized("source.port", int64(80))
	ev.SetSanitized("extra.note", "x")
	if n, ok := ev.Int("source.port"); !ok || n != 80 || ev.String("extra.note") != "x" {
		t.Errorf("fields %v", ev.Fields)
	}
}
