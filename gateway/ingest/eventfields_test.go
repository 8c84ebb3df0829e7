package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/auto"
)

// TestStoredEventsComeBackWhole checks that an event's fields, split
// between the events columns and the fields JSON, read back as the
// normalizer made them (as JSON would carry them: numbers other than the
// integer columns become float64).
func TestStoredEventsComeBackWhole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, defaultSetup())
		var want []map[string]any
		for _, f := range fixtures {
			h.ingestFile(f)
			b, err := os.ReadFile(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := auto.Open(bytes.NewReader(b), auto.Options{Filename: f})
			if err != nil {
				t.Fatal(err)
			}
			evs, _, err := normalizer.ReadAll(r, 0) // rejected rows are not stored
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				enc, _ := json.Marshal(ev)
				var m map[string]any
				if err := json.Unmarshal(enc, &m); err != nil {
					t.Fatal(err)
				}
				for _, c := range store.EventColumns {
					if v, ok := ev.Fields[c.Field]; ok && store.InEventColumn(c.Field, v) && c.Int {
						m[c.Field] = v
					}
				}
				want = append(want, m)
			}
		}
		rows, err := db.QueryContext(context.Background(), `SELECT `+store.EventFieldsSelect("e.")+` FROM events e ORDER BY e.id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []map[string]any
		for rows.Next() {
			m, err := store.ScanEventFields(rows.Scan)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%d events stored, want %d", len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("event %d:\n got %v\nwant %v", i, got[i], want[i])
			}
		}
		// The JSON carries none of what the columns hold.
		if n := h.count("events", "fields LIKE ?", `%"source.ip"%`); n != 0 {
			t.Errorf("%d events repeat source.ip in their fields", n)
		}
	})
}
