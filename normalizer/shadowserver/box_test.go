package shadowserver

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBoxer checks that values boxed into slabs behave as ordinary
// interface values, and keep their values after the boxer moves on to
// later rows.
func TestBoxer(t *testing.T) {
	t.Parallel()
	var b boxer
	var got, want []any
	for row := range 50 {
		b.reset()
		for i := range 20 {
			s := strings.Repeat("v", i) + fmt.Sprint(row)
			n := int64(row*1000 + i*7 - 30)
			f := float64(row) + float64(i)/8
			got = append(got, b.string(s), b.int64(n), b.float64(f))
			want = append(want, s, n, f)
		}
	}
	got = append(got, b.string(""), b.int64(math.MinInt64), b.float64(math.Inf(-1)))
	want = append(want, "", int64(math.MinInt64), math.Inf(-1))
	runtime.GC()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d = %#v, want %#v", i, got[i], want[i])
		}
		switch w := want[i].(type) {
		case string:
			if s, ok := got[i].(string); !ok || s != w {
				t.Fatalf("value %d: type switch gives %#v", i, got[i])
			}
		case int64:
			if n, ok := got[i].(int64); !ok || n != w {
				t.Fatalf("value %d: type switch gives %#v", i, got[i])
			}
		case float64:
			if f, ok := got[i].(float64); !ok || f != w {
				t.Fatalf("value %d: type switch gives %#v", i, got[i])
			}
		}
		if math.IsInf(toFloat(want[i]), 0) {
			continue
		}
		gj, err1 := json.Marshal(got[i])
		wj, err2 := json.Marshal(want[i])
		if err1 != nil || err2 != nil || string(gj) != string(wj) {
			t.Fatalf("value %d marshals to %s (%v), want %s", i, gj, err1, wj)
		}
	}
}

func toFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

// TestEventsOutliveReader proves that an Event stays valid after later
// calls to Next: its values must not be views of a buffer the reader
// reuses (the CSV record, the boxer's slabs). Each event is marshalled as
// soon as it is read, kept, and marshalled again once the whole report has
// been read and the garbage collector has run; the two must be equal.
func TestEventsOutliveReader(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	// A generated report whose rows all differ, long enough to refill the
	// reader's 64 KB buffer many times.
	var gen strings.Builder
	gen.WriteString(`"timestamp","ip","protocol","port","hostname","tag","asn","geo","region","city","version","clk_wander","frequency"` + "\n")
	for i := range 3000 {
		// Every tenth row takes the CSV reader's general path (a doubled
		// quote), the others its fast path.
		city := fmt.Sprint(`"C`, i, `"`)
		if i%10 == 0 {
			city = fmt.Sprint(`"C""`, i, `"`)
		}
		fmt.Fprintf(&gen, "\"2024-01-02 03:%02d:%02d\",192.0.%d.%d,udp,%d,\"h%d.example.net\",ntpversion,%d,DE,\"R%d\",%s,4,%d.5,%d\n",
			i/60%60, i%60, i/250, i%250, 100+i, i, 64496+i, i, city, i, i*3)
	}
	inputs := map[string]string{"2024-01-02-scan_ntp-de-geo.csv": gen.String()}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = string(b)
	}
	for name, data := range inputs {
		r, err := NewReader(strings.NewReader(data), Options{Filename: name})
		if err != nil {
			continue // phish_url.csv and friends are covered elsewhere
		}
		var kept []any
		var snaps []string
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				continue
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			kept = append(kept, ev)
			snaps = append(snaps, string(b))
		}
		runtime.GC()
		for i, ev := range kept {
			b, err := json.Marshal(ev)
			if err != nil || string(b) != snaps[i] {
				t.Fatalf("%s: event %d changed after later reads:\n now %s\n was %s", name, i, b, snaps[i])
			}
		}
		if name == "2024-01-02-scan_ntp-de-geo.csv" && len(kept) != 3000 {
			t.Fatalf("generated report: %d events", len(kept))
		}
	}
}
