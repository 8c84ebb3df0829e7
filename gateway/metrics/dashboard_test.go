package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboard checks that deploy/grafana/abusegw.json is an
// importable dashboard (a ${DS_PROMETHEUS} input, ids unique, every panel
// on that data source) whose queries name only series abusegw serves.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/grafana/abusegw.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Inputs []struct{ Name, Type, PluginID string } `json:"__inputs"`
		Title  string
		UID    string
		Panels []struct {
			ID         int
			Type       string
			Datasource *struct{ UID string }
			Targets    []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" || d.Title == "" || d.UID == "" {
		t.Fatalf("inputs %+v, title %q, uid %q", d.Inputs, d.Title, d.UID)
	}
	served := map[string]bool{
		"abusegw_events": true, "abusegw_reports": true, "abusegw_cases": true, "abusegw_cases_opened": true,
		"abusegw_cases_resolved": true, "abusegw_cases_open_by_age": true, "abusegw_outbox_operations": true,
		"abusegw_outbox_oldest_pending_age_seconds": true, "abusegw_webhook_deliveries": true,
		"abusegw_sync_last_success_timestamp_seconds": true, "abusegw_metrics_db_up": true,
		"abusegw_case_time_to_resolve_seconds_bucket": true, "abusegw_case_time_to_resolve_seconds_count": true,
		"abusegw_case_time_to_resolve_seconds_sum": true,
		// The sync stage's counters.
		"abusegw_webhook_requests_total": true, "abusegw_sync_runs_total": true,
	}
	name := regexp.MustCompile(`abusegw_[a-z0-9_]+`)
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %d: data source %+v, want ${DS_PROMETHEUS}", p.ID, p.Datasource)
		}
		for _, tg := range p.Targets {
			queries++
			for _, m := range name.FindAllString(tg.Expr, -1) {
				if !served[m] {
					t.Errorf("panel %d queries %s, which abusegw does not serve", p.ID, m)
				}
			}
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
				t.Errorf("panel %d: unbalanced %q", p.ID, tg.Expr)
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries", queries)
	}
}
