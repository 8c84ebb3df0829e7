package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/auto"
)

// TestAppendEventJSONIsJSONMarshal checks the hand-written encoder against
// encoding/json of the fields without columns, byte for byte, on every
// event of the Shadowserver fixtures and on awkward values.
func TestAppendEventJSONIsJSONMarshal(t *testing.T) {
	t.Parallel()
	var events []normalizer.Event
	files, _ := filepath.Glob("../../normalizer/shadowserver/testdata/*.csv")
	if len(files) < 50 {
		t.Fatalf("found only %d Shadowserver fixtures in normalizer/shadowserver/testdata", len(files))
	}
	local, _ := filepath.Glob("testdata/*.csv")
	for _, f := range append(files, local...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := auto.Open(bytes.NewReader(b), auto.Options{Filename: filepath.Base(f)})
		if err != nil {
			continue // not a report (customers.csv)
		}
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				events = append(events, ev)
			}
		}
	}
	if len(events) < 100 {
		t.Fatalf("only %d fixture events", len(events))
	}
	odd := normalizer.Event{Fields: map[string]any{
		"extra.s":      "quote \" backslash \\ <b>&amp; \n\r\t\b\f \x00\x1f \x7f ü 日本 \u2028\u2029 bad:\xff\xfe end",
		"extra.f":      []any{1.5, "x", map[string]any{"k": true}},
		"extra.nil":    nil,
		"extra.floats": 0.0,
		"extra.tiny":   1e-7,
		"extra.huge":   1e21,
		"extra.neg":    -2.5e-10,
		"extra.int":    int64(-42),
		"extra.bool":   false,
		"extra.empty":  "",
		"extra.uint":   uint8(7),
		// Fields with columns stay in the JSON unless the column holds
		// them exactly.
		"feed.name":   "",
		"source.port": "eighty",
		"source.asn":  int64(64496),
		"source.ip":   "192.0.2.1",
	}}
	events = append(events, odd, normalizer.Event{})
	var keys []string
	var buf []byte
	for i := range events {
		rest := map[string]any{}
		for k, v := range events[i].Fields {
			if !store.InEventColumn(k, v) {
				rest[k] = v
			}
		}
		want, err := json.Marshal(rest)
		if err != nil {
			t.Fatal(err)
		}
		buf, keys, err = appendEventJSON(buf[:0], &events[i], keys)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, buf, want)
		}
	}
	nan := normalizer.Event{Fields: map[string]any{"extra.x": math.NaN()}}
	if _, _, err := appendEventJSON(nil, &nan, nil); err == nil {
		t.Error("NaN encoded")
	}
}
