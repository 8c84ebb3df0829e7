package ingest_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// TestDebugLogSaysWhereTheTimeWent: at debug level a processed report is
// logged with its stages, which account for its processing time.
func TestDebugLogSaysWhereTheTimeWent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := defaultSetup()
	s.logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, storetest.Open(t, "sqlite"), s)
	_, sum := h.ingestFile("scan_dns.csv")
	var stages, processed map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch m["msg"] {
		case "report stages":
			stages = m
		case "report processed":
			processed = m
		}
	}
	if stages == nil || processed == nil {
		t.Fatalf("no stage or processed lines in the debug log:\n%s", buf.String())
	}
	if stages["events"] != float64(sum.Events) || processed["events"] != float64(sum.Events) || sum.Events == 0 {
		t.Errorf("logged events %v / %v, processed %d", stages["events"], processed["events"], sum.Events)
	}
	// slog writes durations in nanoseconds.
	var parts float64
	for _, k := range []string{"waiting_for_events", "cases", "storing_events", "finishing_cases"} {
		v, ok := stages[k].(float64)
		if !ok || v < 0 {
			t.Fatalf("stage %s: %v", k, stages[k])
		}
		parts += v
	}
	total, _ := stages["total"].(float64)
	took, _ := processed["took"].(float64)
	if parts <= 0 || parts > total || total > took {
		t.Errorf("stages add up to %v ns of %v ns processing (%v ns with the commit)", parts, total, took)
	}
}
