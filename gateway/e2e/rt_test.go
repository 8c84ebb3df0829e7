// Package e2e holds end-to-end tests that run the whole gateway, from a
// report to tickets in a real helpdesk.
//
// TestRealRT needs the RT that deploy/testenv/rt/start-rt.sh runs:
//
//	RT_BCRYPT_COST=4 RT_WORKERS=2 RT_WEBHOOK_URL= bash deploy/testenv/rt/start-rt.sh
//	. /var/lib/rt-peer/env
//	export ABUSEGW_TEST_RT_URL=$RT_URL ABUSEGW_TEST_RT_TOKEN=$RT_TOKEN
//	go test ./gateway/e2e/
//
// Without those variables it skips (and fails when CI=true).
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors/conntest"
	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
)

// rest2 queries RT's REST2 API directly, as a desk member's tool would.
type rest2 struct {
	base, token string
}

func (r rest2) get(t *testing.T, path string, q url.Values, out any) {
	t.Helper()
	u := strings.TrimRight(r.base, "/") + "/REST/2.0" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, buf.String())
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, buf.String())
	}
}

// ticketsWithKey returns the ids of the tickets in queue whose key field is
// key.
func (r rest2) ticketsWithKey(t *testing.T, queue, field, key string) []string {
	t.Helper()
	var ans struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	r.get(t, "/tickets", url.Values{"query": {fmt.Sprintf("Queue = '%s' AND CF.{%s} = '%s'", queue, field, key)}, "per_page": {"100"}}, &ans)
	var ids []string
	for _, it := range ans.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

// rtTicket is the part of GET /ticket/N the test checks.
type rtTicket struct {
	Subject string `json:"Subject"`
	Queue   struct {
		ID string `json:"id"`
	} `json:"Queue"`
	Requestor []struct {
		ID string `json:"id"`
	} `json:"Requestor"`
	CustomFields []struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"CustomFields"`
}

// TestRealRT ingests a Shadowserver report with a contacts file, dispatches,
// and finds the tickets in the real RT: right queue, requestor, subject and
// case key. Running again makes no new ticket. Customer keys carry a random
// suffix, so runs against one long-lived RT do not meet each other's
// tickets.
func TestRealRT(t *testing.T) {
	peer := conntest.Peer(t, "ABUSEGW_TEST_RT_URL", "ABUSEGW_TEST_RT_TOKEN")
	rt := rest2{base: peer[0], token: peer[1]}
	queue, field := envOr("ABUSEGW_TEST_RT_QUEUE", "Abuse"), envOr("ABUSEGW_TEST_RT_CF", "AbuseKey")
	ctx := context.Background()

	suffix := randomHex(t)
	dir := t.TempDir()
	customers := map[string]string{ // customer key → e-mail
		"acme-" + suffix:   "abuse-" + suffix + "@acme.example",
		"globex-" + suffix: "noc-" + suffix + "@globex.example",
	}
	contactsCSV := "network,customer,name,email\n" +
		"198.51.100.0/25,acme-" + suffix + ",ACME GmbH," + customers["acme-"+suffix] + "\n" +
		"198.51.100.128/25,globex-" + suffix + ",Globex AG," + customers["globex-"+suffix] + "\n"
	if err := os.WriteFile(filepath.Join(dir, "customers.csv"), []byte(contactsCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgYAML := fmt.Sprintf(`
data_dir: %[1]s
database:
  url: sqlite://%[1]s/abusegw.db
contacts:
  - type: file
    path: %[1]s/customers.csv
connectors:
  - name: rt
    type: rt
    url: %[2]s
    token_env: ABUSEGW_TEST_RT_TOKEN
    queue: %[3]s
    key_field: %[4]s
routing:
  default_connector: rt
desk:
  name: Abuse Desk
  email: abuse@isp.example
`, dir, rt.base, queue, field)
	cfg, err := config.Parse([]byte(cfgYAML), "e2e.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join("testdata", "scan_dns.csv"))
	if err != nil {
		t.Fatal(err)
	}

	// run is one `abusegw ingest` followed by one `abusegw dispatch`.
	run := func() {
		t.Helper()
		db, err := app.OpenDB(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := app.Build(ctx, cfg, db, app.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, _, err := r.Pipeline.Ingest(ctx, ingest.Source{Channel: "file", Name: "scan_dns.csv"}, bytes.NewReader(report)); err != nil {
			t.Fatalf("ingest: %v", err)
		}
		if _, err := r.Aggregator.FlushUpdates(ctx, r.DB); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		st, err := r.Dispatcher.Drain(dctx)
		if err != nil {
			t.Fatalf("dispatch: %v", err)
		}
		if st.Dead > 0 || st.Retried > 0 {
			t.Fatalf("dispatch: %+v", st)
		}
		t.Logf("dispatch: %+v", st)
	}

	type caseRow struct {
		Key       string `db:"case_key"`
		Reference string `db:"reference"`
		Customer  string `db:"customer"`
		Ticket    string `db:"external_id"`
	}
	cases := func() []caseRow {
		t.Helper()
		db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "abusegw.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var rows []caseRow
		if err := db.SelectContext(ctx, &rows, `SELECT c.case_key, c.reference, u.key AS customer, COALESCE(t.external_id, '') AS external_id
			FROM cases c JOIN customers u ON u.id = c.customer_id LEFT JOIN tickets t ON t.case_id = c.id ORDER BY c.id`); err != nil {
			t.Fatal(err)
		}
		return rows
	}

	run()
	first := cases()
	if len(first) != len(customers) {
		t.Fatalf("%d cases, want one per customer (%d): %+v", len(first), len(customers), first)
	}
	var queueInfo struct {
		ID any `json:"id"`
	}
	rt.get(t, "/queue/"+url.PathEscape(queue), nil, &queueInfo)
	for _, c := range first {
		ids := rt.ticketsWithKey(t, queue, field, c.Key)
		if len(ids) != 1 || ids[0] != c.Ticket {
			t.Errorf("case %s: RT tickets with its key %v, want exactly the recorded %q", c.Key, ids, c.Ticket)
			continue
		}
		var tk rtTicket
		rt.get(t, "/ticket/"+ids[0], nil, &tk)
		if fmt.Sprint(tk.Queue.ID) != fmt.Sprint(queueInfo.ID) {
			t.Errorf("case %s: ticket in queue %v, want %s (%v)", c.Key, tk.Queue.ID, queue, queueInfo.ID)
		}
		if len(tk.Requestor) != 1 || tk.Requestor[0].ID != customers[c.Customer] {
			t.Errorf("case %s: requestors %+v, want %s", c.Key, tk.Requestor, customers[c.Customer])
		}
		if c.Reference == "" || !strings.Contains(tk.Subject, c.Reference) {
			t.Errorf("case %s: subject %q does not name the case reference %q", c.Key, tk.Subject, c.Reference)
		}
		var key string
		for _, cf := range tk.CustomFields {
			if cf.Name == field && len(cf.Values) > 0 {
				key = cf.Values[0]
			}
		}
		if key != c.Key {
			t.Errorf("case %s: %s = %q", c.Key, field, key)
		}
	}

	// Again: the same report, another dispatch. Nothing new in RT.
	run()
	again := cases()
	if len(again) != len(first) {
		t.Fatalf("second run: %d cases, want %d", len(again), len(first))
	}
	for i, c := range again {
		if c != first[i] {
			t.Errorf("second run changed case %+v to %+v", first[i], c)
		}
		if ids := rt.ticketsWithKey(t, queue, field, c.Key); len(ids) != 1 {
			t.Errorf("second run: case %s has %d tickets in RT: %v", c.Key, len(ids), ids)
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
