package xarf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func seed(f *testing.F, globs ...string) {
	for _, g := range globs {
		files, _ := filepath.Glob(g)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzXARF feeds arbitrary bytes to every entry point; none may panic, and
// every event that comes out must carry a classification and a source.
func FuzzXARF(f *testing.F) {
	seed(f, "testdata/v4/*.json", "testdata/v3/*/*.json", "testdata/v3-legacy/*.json", "testdata/mail/*")
	f.Add([]byte("Category: abuse\nReport-Type: spam\nSource: 192.0.2.1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, _ := Parse(bytes.NewReader(data), "fuzz.json")
		more, _ := ParseMessage(bytes.NewReader(data), "fuzz.eml")
		evs = append(evs, more...)
		v02, _ := ParseV02Report(data, nil)
		evs = append(evs, v02...)
		DetectJSON(data)
		DetectYAMLPart("text/plain", data)
		for _, ev := range evs {
			if !ev.Has("classification.type") && !ev.Has("classification.identifier") {
				t.Fatalf("event without classification: %v", ev.Fields)
			}
			if !ev.Has("source.ip") && !ev.Has("source.url") && !ev.Has("source.fqdn") &&
				!ev.Has("source.network") && !ev.Has("source.asn") && !ev.Has("source.account") {
				t.Fatalf("event without source: %v", ev.Fields)
			}
		}
	})
}
