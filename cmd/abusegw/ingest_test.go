package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/gateway/ingest"
)

// ingestSetup writes a configuration (SQLite, a contacts file) and a drop
// directory holding the Shadowserver fixtures of gateway/ingest.
func ingestSetup(t *testing.T) (config, drop string) {
	t.Helper()
	dir := t.TempDir()
	testdata := filepath.Join("..", "..", "gateway", "ingest", "testdata")
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(filepath.Join(testdata, "customers.csv"), filepath.Join(dir, "customers.csv"))
	drop = filepath.Join(dir, "drop")
	if err := os.MkdirAll(filepath.Join(drop, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	copyFile(filepath.Join(testdata, "scan_dns.csv"), filepath.Join(drop, "2018-04-14-scan_dns.csv"))
	copyFile(filepath.Join(testdata, "scan_ntp.csv"), filepath.Join(drop, "scan_ntp.csv"))
	copyFile(filepath.Join(testdata, "scan_smb.csv"), filepath.Join(drop, "sub", "scan_smb.csv"))
	copyFile(filepath.Join(testdata, "scan_rdp.csv"), filepath.Join(drop, ".hidden-scan_rdp.csv")) // skipped
	config = filepath.Join(dir, "abusegw.yaml")
	yaml := "database:\n  url: sqlite://" + filepath.Join(dir, "gw.db") + "\n" +
		"data_dir: " + filepath.Join(dir, "data") + "\n" +
		"log:\n  level: warn\n" +
		"contacts:\n  - type: file\n    path: customers.csv\n"
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return config, drop
}

func ingestSummary(t *testing.T, out string) ingest.Summary {
	t.Helper()
	var s ingest.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	return s
}

func TestIngestDirectoryTwice(t *testing.T) {
	t.Parallel()
	config, drop := ingestSetup(t)
	code, out, errOut := runCmd(t, nil, "ingest", "--config", config, "--json", drop)
	if code != 0 {
		t.Fatalf("first ingest: exit %d\n%s\n%s", code, out, errOut)
	}
	first := ingestSummary(t, out)
	want := ingest.Summary{Reports: 3, Events: 106, NewCases: 4}
	if first.Reports != want.Reports || first.Events != want.Events || first.NewCases != want.NewCases || first.Duplicates != 0 || first.Operations != 0 {
		t.Errorf("first ingest: %+v, want %+v (no connector: no operations)", first, want)
	}

	code, out, errOut = runCmd(t, nil, "ingest", "--config", config, "--json", drop)
	if code != 0 {
		t.Fatalf("second ingest: exit %d\n%s\n%s", code, out, errOut)
	}
	if second := ingestSummary(t, out); second != (ingest.Summary{}) {
		t.Errorf("second ingest of the same directory: %+v, want nothing new", second)
	}

	// The same bytes under another name are recognised by their hash.
	again := filepath.Join(t.TempDir(), "2018-04-14-scan_dns-copy.csv")
	b, _ := os.ReadFile(filepath.Join(drop, "2018-04-14-scan_dns.csv"))
	if err := os.WriteFile(again, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd(t, nil, "ingest", "--config", config, again)
	if code != 0 || !strings.Contains(out, "reports: 1 (1 already known") || !strings.Contains(out, "events: 0") {
		t.Errorf("a copy of an ingested report: exit %d\n%s", code, out)
	}

	code, out, errOut = runCmd(t, nil, "cases", "--config", config, "--json")
	if code != 0 {
		t.Fatalf("cases --json: exit %d\n%s", code, errOut)
	}
	type listed struct {
		Key       string   `json:"key"`
		Customer  string   `json:"customer"`
		State     string   `json:"state"`
		IPs       int      `json:"ips"`
		Events    int      `json:"events"`
		Addresses []string `json:"addresses"`
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c listed
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("cases --json line %q: %v", line, err)
		}
		if c.State != "open" || c.Events == 0 || c.IPs == 0 || len(c.Addresses) == 0 || len(c.Addresses) > 5 {
			t.Errorf("case %+v", c)
		}
		keys = append(keys, c.Key)
	}
	slices.Sort(keys)
	if want := []string{"acme/dns-open-resolver", "globex/dns-open-resolver", "initech/ntp-version", "initech/open-smb"}; !slices.Equal(keys, want) {
		t.Errorf("cases %q, want %q", keys, want)
	}

	for _, tt := range []struct {
		args  []string
		lines int
	}{
		{[]string{"--json", "--customer", "initech"}, 2},
		{[]string{"--json", "--state", "closed"}, 0},
		{[]string{"--json", "--state", "all", "--customer", "globex"}, 1},
	} {
		code, out, errOut := runCmd(t, nil, append([]string{"cases", "--config", config}, tt.args...)...)
		n := 0
		if s := strings.TrimSpace(out); s != "" {
			n = len(strings.Split(s, "\n"))
		}
		if code != 0 || n != tt.lines {
			t.Errorf("cases %v: exit %d, %d lines, want %d\n%s%s", tt.args, code, n, tt.lines, out, errOut)
		}
	}
	code, out, _ = runCmd(t, nil, "cases", "--config", config)
	if code != 0 || !strings.HasPrefix(out, "REF") || !strings.Contains(out, "acme/dns-open-resolver") {
		t.Errorf("cases: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, nil, "cases", "--config", config, "--state", "sideways"); code != 2 || !strings.Contains(errOut, "sideways") {
		t.Errorf("cases --state sideways: exit %d, %s", code, errOut)
	}
}
