package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/gateway/channels/httpapi"
)

// TestReportsAndReprocess ingests a good report and a feed no parser knows,
// lists them, fixes the configuration (a CSV mapping for the feed), and
// reprocesses the failed one.
func TestReportsAndReprocess(t *testing.T) {
	t.Parallel()
	config, drop := ingestSetup(t)
	feed := filepath.Join(t.TempDir(), "2026-03-01-scanners.csv")
	if err := os.WriteFile(feed, []byte("ip,seen\n198.51.100.7,2026-03-01 10:00:00\n198.51.100.200,2026-03-01 11:00:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, nil, "ingest", "--config", config, filepath.Join(drop, "scan_ntp.csv"), feed); code != 0 {
		t.Fatalf("ingest: exit %d\n%s%s", code, out, errOut)
	}

	list := func(args ...string) []httpapi.Report {
		t.Helper()
		code, out, errOut := runCmd(t, nil, append([]string{"reports", "--config", config, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("reports %v: exit %d\n%s", args, code, errOut)
		}
		var rs []httpapi.Report
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var r httpapi.Report
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("reports --json line %q: %v", line, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	all := list()
	if len(all) != 2 || all[0].Name != "2026-03-01-scanners.csv" || all[0].Status != "unrecognized" ||
		all[1].Name != "scan_ntp.csv" || all[1].Status != "processed" || all[1].Events == 0 {
		t.Fatalf("reports: %+v", all)
	}
	failedID, goodID := all[0].ID, all[1].ID
	if failed := list("--failed"); len(failed) != 1 || failed[0].ID != failedID || !strings.Contains(failed[0].Error, "not a report format") {
		t.Errorf("reports --failed: %+v", failed)
	}
	code, out, _ := runCmd(t, nil, "reports", "--config", config, "--failed")
	if code != 0 || !strings.HasPrefix(out, "ID") || !strings.Contains(out, "unrecognized") || !strings.Contains(out, "not a report format") ||
		strings.Contains(out, "scan_ntp") {
		t.Errorf("reports --failed: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, nil, "reports", "--config", config, "--limit", "1")
	if code != 0 || !strings.Contains(out, "scanners") || strings.Contains(out, "scan_ntp") {
		t.Errorf("reports --limit 1: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"abc"}, 2, `"abc" is not a positive number`},
		{[]string{"999"}, 1, "report 999: no such report"},
		{[]string{idString(goodID)}, 1, "is processed: only failed or unrecognized reports"},
		{[]string{idString(failedID)}, 1, "still not processed"}, // nothing fixed yet
	} {
		code, out, errOut := runCmd(t, nil, append([]string{"reprocess", "--config", config}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("reprocess %v: exit %d, want %d with %q\n%s%s", tc.args, code, tc.code, tc.msg, out, errOut)
		}
	}

	// The fix: a mapping for the feed.
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(`normalizer:
  csv:
    - name: scanners
      match: {filename: "*-scanners.csv"}
      columns: {ip: source.ip, seen: time.source}
      constant: {classification.type: scanner, classification.identifier: open-port}
`)...)
	if err := os.WriteFile(config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, nil, "reprocess", "--config", config, idString(failedID))
	if code != 0 || !strings.Contains(out, "processed, 2 events, 0 rejected") {
		t.Fatalf("reprocess after the fix: exit %d\n%s%s", code, out, errOut)
	}
	if failed := list("--failed"); len(failed) != 0 {
		t.Errorf("reports --failed after the fix: %+v", failed)
	}
	if r := list()[0]; r.ID != failedID || r.Status != "processed" || r.Format != "csv" || r.Detail != "scanners" || r.Events != 2 {
		t.Errorf("the reprocessed report: %+v", r)
	}
	// Once processed it is refused: its events are in cases.
	if code, _, errOut := runCmd(t, nil, "reprocess", "--config", config, idString(failedID)); code != 1 || !strings.Contains(errOut, "is processed") {
		t.Errorf("reprocess twice: exit %d %s", code, errOut)
	}
}

func idString(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}
