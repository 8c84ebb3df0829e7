package arf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzARF feeds arbitrary mails and report parts to the parser; nothing may
// panic, and every event must have a source IP and a classification.
func FuzzARF(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Feedback-Type: abuse\nSource-IP: [192.0.2.1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, _ := ParseMessage(bytes.NewReader(data), "fuzz.eml")
		if ev, err := ParseFeedbackPart(bytes.NewReader(data), bytes.NewReader(data)); err == nil {
			evs = append(evs, ev)
		}
		IsFeedbackReport(string(data))
		for _, ev := range evs {
			if !ev.Has("source.ip") || !ev.Has("classification.type") {
				t.Fatalf("incomplete event: %v", ev.Fields)
			}
		}
	})
}
