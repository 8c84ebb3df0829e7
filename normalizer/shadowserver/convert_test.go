package shadowserver

import (
	"testing"
	"time"
)

// TestParseHTTPDate holds the allocation-free HTTP date reader to what
// time.Parse(time.RFC1123, v) gives for the GMT and UTC zones.
func TestParseHTTPDate(t *testing.T) {
	t.Parallel()
	tests := []string{
		"Thu, 19 Apr 2018 00:02:28 GMT",
		"Mon, 01 Jan 2024 23:59:59 UTC",
		"Sun, 29 Feb 2024 12:00:00 GMT",
		"Sun, 29 Feb 2023 12:00:00 GMT", // no such day
		"Sun, 31 Apr 2023 12:00:00 GMT",
		"Sun, 00 Apr 2023 12:00:00 GMT",
		"Sun, 10 Foo 2023 12:00:00 GMT",
		"Sun, 10 pr  2023 12:00:00 GMT",
		"Xyz, 10 Apr 2023 12:00:00 GMT",
		"Sun, 10 Apr 2023 24:00:00 GMT",
		"Sun, 10 Apr 2023 23:60:00 GMT",
		"Sun, 10 Apr 2023 23:59:60 GMT",
		"Sun, 10 Apr 2023 1a:00:00 GMT",
		"Sun, 10 Apr 2023 12:00:00 CET",
		"Sun, 10 Apr 2023 12:00:00 GMT ",
		"Sun,  9 Apr 2023 12:00:00 GMT",
		"Sun, 10 Apr 0000 12:00:00 GMT",
		"",
	}
	for _, v := range tests {
		want, werr := time.Parse(time.RFC1123, v)
		got, ok := parseHTTPDate(v)
		if !ok {
			continue // parseUTC falls back to time.Parse and friends
		}
		if werr != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseHTTPDate(%q) = %v; time.Parse %v, %v", v, got, want, werr)
		}
		if got2, ok := parseUTC(v); !ok || !got2.Equal(got) {
			t.Errorf("parseUTC(%q) = %v, %v", v, got2, ok)
		}
	}
	// Every valid date the fast path should take.
	for _, v := range tests[:3] {
		if _, ok := parseHTTPDate(v); !ok {
			t.Errorf("parseHTTPDate(%q) declined", v)
		}
	}
}
