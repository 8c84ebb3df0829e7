package intelmq

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRead reads IntelMQ events as JSON lines (a file output or an
// HTTP batch), the fixtures' events over and over:
// go test -run '^$' -bench Read ./normalizer/intelmq/
func BenchmarkRead(b *testing.B) {
	var one bytes.Buffer
	fixture, err := os.ReadFile(filepath.Join("testdata", "events.txt"))
	if err != nil {
		b.Fatal(err)
	}
	one.Write(fixture)
	// The documentation's events are single pretty-printed objects.
	for _, f := range []string{"docs-user-intro.event.json", "docs-user-bots-udp-output.event.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Compact(&one, data); err != nil {
			b.Fatal(err)
		}
		one.WriteByte('\n')
	}
	var body bytes.Buffer
	for body.Len() < 1<<20 {
		body.Write(one.Bytes())
	}
	lines := body.Bytes()
	// The same events as one JSON array (what a script posts in one go).
	array := append([]byte("[\n"), bytes.ReplaceAll(bytes.TrimSpace(lines), []byte("\n"), []byte(",\n"))...)
	array = append(array, "\n]\n"...)
	for _, bc := range []struct {
		name string
		data []byte
	}{{"lines", lines}, {"array", array}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			n := 0
			for b.Loop() {
				r := NewReader(bytes.NewReader(bc.data), "bench.json")
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
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
