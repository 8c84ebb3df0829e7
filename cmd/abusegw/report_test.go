package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

// TestReport ingests the test reports, then asks for the compliance figures
// in each format: JSON and CSV parse and count the cases, the table has its
// total line, and bad flags are usage errors.
func TestReport(t *testing.T) {
	t.Parallel()
	config, drop := ingestSetup(t)
	if code, _, errOut := runCmd(t, nil, "ingest", "--config", config, drop); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCmd(t, nil, "report", "--config", config, "--format", "json", "--group-by", "classification")
	if code != 0 {
		t.Fatalf("report --format json: exit %d: %s", code, errOut)
	}
	var rep struct {
		Totals struct {
			CasesOpened    int64 `json:"cases_opened"`
			EventsReceived int64 `json:"events_received"`
		} `json:"totals"`
		Groups []struct {
			Key string `json:"key"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, out)
	}
	if rep.Totals.CasesOpened == 0 || rep.Totals.EventsReceived == 0 || len(rep.Groups) == 0 {
		t.Errorf("report after ingest: %+v", rep)
	}

	code, out, errOut = runCmd(t, nil, "report", "--config", config, "--format", "csv", "--group-by", "customer", "--from", "2000-01-01")
	if code != 0 {
		t.Fatalf("report --format csv: exit %d: %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 3 || recs[len(recs)-1][0] != "total" {
		t.Fatalf("CSV: %v\n%s", err, out)
	}

	code, out, errOut = runCmd(t, nil, "report", "--config", config)
	if code != 0 || !strings.Contains(out, "TOTAL") || !strings.Contains(out, "Top repeat offenders") {
		t.Fatalf("report (table): exit %d: %s\n%s", code, errOut, out)
	}

	for _, args := range [][]string{
		{"--group-by", "ip"}, {"--format", "xml"}, {"--from", "last week"}, {"--from", "2026-02-01", "--to", "2026-01-01"},
	} {
		code, _, errOut := runCmd(t, nil, append([]string{"report", "--config", config}, args...)...)
		if code != 2 || errOut == "" {
			t.Errorf("report %v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}
