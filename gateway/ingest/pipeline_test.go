package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// fixtures are the reports the end-to-end tests ingest, in order.
var fixtures = []string{"scan_dns.csv", "scan_ntp.csv", "scan_smb.csv", "scan_rdp.csv"}

func ingestFixtures(h *harness) {
	for _, f := range fixtures {
		h.ingestFile(f)
	}
}

// wantFixtureCases computes the cases the fixtures must give from the
// fixture rows and customers.csv: acme owns 198.51.100.0/25 and
// 198.123.245.178, globex 198.51.100.128/25, initech 192.168.0.0/24.
func wantFixtureCases(t testing.TB) map[string]expectation {
	t.Helper()
	dns := readFixture(t, "scan_dns.csv")
	all := func(string) bool { return true }
	return map[string]expectation{
		"acme/dns-open-resolver":   expect(dns, func(ip string) bool { return lastOctet(ip) < 128 }),
		"globex/dns-open-resolver": expect(dns, func(ip string) bool { return lastOctet(ip) >= 128 }),
		"initech/ntp-version":      expect(readFixture(t, "scan_ntp.csv"), all),
		"initech/open-smb":         expect(readFixture(t, "scan_smb.csv"), all),
		"acme/open-rdp":            expect(readFixture(t, "scan_rdp.csv"), func(ip string) bool { return ip == "198.123.245.178" }),
	}
}

func TestFixturesGiveCasesPerCustomer(t *testing.T) {
	t.Parallel()
	no := false
	internalInitech := defaultSetup().routing
	tests := []struct {
		name    string
		routing routing.Config
		wantOps []string // "case_key kind", sorted
	}{
		{
			name:    "notify: create and reply, internal customer create only",
			routing: internalInitech,
			wantOps: []string{
				"acme/dns-open-resolver create", "acme/dns-open-resolver reply",
				"acme/open-rdp create", "acme/open-rdp reply",
				"globex/dns-open-resolver create", "globex/dns-open-resolver reply",
				"initech/ntp-version create", "initech/open-smb create",
			},
		},
		{
			name:    "notify false: create only",
			routing: routing.Config{DefaultConnector: "rt", Notify: &no},
			wantOps: []string{
				"acme/dns-open-resolver create", "acme/open-rdp create", "globex/dns-open-resolver create",
				"initech/ntp-version create", "initech/open-smb create",
			},
		},
		{
			name:    "no connector: cases but no operations",
			routing: routing.Config{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				s := defaultSetup()
				s.routing = tt.routing
				h := newHarness(t, db, s)
				var total int
				var sum struct{ events, unowned, newCases, ops int }
				for _, f := range fixtures {
					_, s := h.ingestFile(f)
					if s.Reports != 1 || s.Duplicates != 0 || s.Failed != 0 || s.Rejected != 0 {
						t.Errorf("%s: summary %+v, want one processed report", f, s)
					}
					sum.events += s.Events
					sum.unowned += s.Unowned
					sum.newCases += s.NewCases
					sum.ops += s.Operations
					total += len(readFixture(t, f))
				}
				if sum.events != total || sum.unowned != 1 || sum.newCases != 5 || sum.ops != len(tt.wantOps) {
					t.Errorf("summaries: %+v, want %d events, 1 unowned, 5 new cases, %d operations", sum, total, len(tt.wantOps))
				}

				want := wantFixtureCases(t)
				got := h.cases()
				if len(got) != len(want) {
					t.Errorf("got %d cases %v, want %d", len(got), keys(got), len(want))
				}
				for key, w := range want {
					c, ok := got[key]
					if !ok {
						t.Errorf("no case %s (have %v)", key, keys(got))
						continue
					}
					customer, ident, _ := strings.Cut(key, "/")
					if c.Customer != customer || c.Identifier != ident || c.BaseKey != key || c.Generation != 1 || c.State != "open" {
						t.Errorf("%s: customer %q identifier %q base %q generation %d state %q", key, c.Customer, c.Identifier, c.BaseKey, c.Generation, c.State)
					}
					if c.IPs != len(w.ips) || c.Events != w.events || c.Reports != 1 || c.Pending != 0 {
						t.Errorf("%s: %d IPs %d events %d reports %d pending, want %d IPs %d events 1 report 0 pending",
							key, c.IPs, c.Events, c.Reports, c.Pending, len(w.ips), w.events)
					}
					if !c.FirstSeen.Equal(w.first) || !c.LastSeen.Equal(w.last) {
						t.Errorf("%s: seen %v..%v, want %v..%v", key, c.FirstSeen, c.LastSeen, w.first, w.last)
					}
					if n := h.count("events", "case_id = ? AND disposition = 'case'", c.ID); n != w.events {
						t.Errorf("%s: %d events rows, want %d", key, n, w.events)
					}
					for ip, n := range w.ips {
						var got int
						if err := db.GetContext(context.Background(), &got, db.Rebind(`SELECT events FROM case_ips WHERE case_id = ? AND ip = ?`), c.ID, ip); err != nil || got != n {
							t.Errorf("%s: address %s has %d events (%v), want %d", key, ip, got, err, n)
						}
					}
				}
				if n := h.count("events", "disposition = 'unowned' AND case_id IS NULL AND source_ip = '198.123.245.233'"); n != 1 {
					t.Errorf("%d unowned event rows for 198.123.245.233, want 1", n)
				}
				if n := h.count("events", ""); n != total {
					t.Errorf("%d event rows, want %d", n, total)
				}
				if n := h.count("status_history", "source = 'gateway' AND to_status = 'new'"); n != 5 {
					t.Errorf("%d status history rows, want one per case", n)
				}

				ops := h.ops()
				if got := opKinds(ops); !slices.Equal(got, tt.wantOps) {
					t.Errorf("operations:\n got %q\nwant %q", got, tt.wantOps)
				}
				// A new case's operations wait for their text until they are
				// sent; composing them writes it.
				for _, o := range ops {
					var p outbox.Payload
					if err := json.Unmarshal([]byte(o.Payload), &p); err != nil || !p.Compose || p.Body != "" || p.CaseKey != o.CaseKey {
						t.Errorf("op %s enqueued with payload %s (%v), want one to compose", o.Key, o.Payload, err)
					}
				}
				ops = h.composed()
				for _, o := range ops {
					var p outbox.Payload
					if err := json.Unmarshal([]byte(o.Payload), &p); err != nil {
						t.Fatalf("payload of %s: %v", o.Key, err)
					}
					if p.CaseKey != o.CaseKey || p.Subject == "" || p.Body == "" || p.Compose || o.Conn != "rt" {
						t.Errorf("op %s: case key %q subject %q connector %q, body %d bytes", o.Key, p.CaseKey, p.Subject, o.Conn, len(p.Body))
					}
					if o.Kind == string(outbox.KindCreate) {
						internal := o.CaseKey == "initech/ntp-version" || o.CaseKey == "initech/open-smb" || tt.routing.Notify != nil
						if internal != (len(p.Requestors) == 0) {
							t.Errorf("create %s: requestors %v (internal %v)", o.CaseKey, p.Requestors, internal)
						}
					}
				}
				if len(ops) > 0 {
					var p outbox.Payload
					_ = json.Unmarshal([]byte(ops[0].Payload), &p)
					if !strings.Contains(p.Body, "198.51.100.") {
						t.Errorf("first ticket body does not name the addresses:\n%s", p.Body)
					}
				}
			})
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// tableCounts counts the rows of every table the pipeline writes.
func tableCounts(h *harness) map[string]int {
	out := map[string]int{}
	for _, tb := range []string{"reports", "events", "customers", "cases", "case_ips", "outbox", "status_history", "ingest_files"} {
		out[tb] = h.count(tb, "")
	}
	return out
}

func TestReingestChangesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, defaultSetup())
		ingestFixtures(h)
		before := tableCounts(h)
		casesBefore := h.cases()
		h.clock.Advance(time.Hour)
		for _, f := range fixtures {
			st, sum := h.ingestFile(f)
			if !st.Duplicate || sum.Duplicates != 1 || sum.Reports != 0 || sum.Events != 0 || sum.Operations != 0 {
				t.Errorf("%s again: stored %+v summary %+v, want a duplicate and nothing else", f, st, sum)
			}
		}
		if after := tableCounts(h); !mapsEqual(before, after) {
			t.Errorf("row counts changed:\nbefore %v\n after %v", before, after)
		}
		if after := h.cases(); !reflect.DeepEqual(casesBefore, after) {
			t.Errorf("cases changed:\nbefore %+v\n after %+v", casesBefore, after)
		}
		if sum, err := h.pipe.ProcessPending(context.Background()); err != nil || sum.Reports != 0 {
			t.Errorf("ProcessPending after everything was processed: %+v, %v", sum, err)
		}
	})
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// day2 is the second day's DNS report: for acme two repeats (one address
// seen twice) and two new addresses, for globex one repeat and one new
// address. seen lists the addresses of each case that the report names.
func day2(t testing.TB) (rows []fixtureRow, newIPs, seen map[string][]string) {
	t.Helper()
	at := time.Date(2018, 4, 15, 1, 0, 0, 0, time.UTC)
	rows = []fixtureRow{
		{at, "198.51.100.8"},                        // acme, repeat
		{at.Add(time.Minute), "198.51.100.8"},       // acme, repeat again
		{at.Add(2 * time.Minute), "198.51.100.7"},   // acme, repeat
		{at.Add(3 * time.Minute), "198.51.100.3"},   // acme, new
		{at.Add(4 * time.Minute), "198.51.100.4"},   // acme, new
		{at.Add(5 * time.Minute), "198.51.100.179"}, // globex, repeat
		{at.Add(6 * time.Minute), "198.51.100.250"}, // globex, new
	}
	return rows, map[string][]string{
			"acme/dns-open-resolver":   {"198.51.100.3", "198.51.100.4"},
			"globex/dns-open-resolver": {"198.51.100.250"},
		}, map[string][]string{
			"acme/dns-open-resolver":   {"198.51.100.3", "198.51.100.4", "198.51.100.7", "198.51.100.8"},
			"globex/dns-open-resolver": {"198.51.100.179", "198.51.100.250"},
		}
}

func TestSecondDayGivesOneUpdatePerCase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		spy := &spyRenderer{}
		s := defaultSetup()
		s.wrapRenderer = func(r cases.Renderer) cases.Renderer { spy.next = r; return spy }
		h := newHarness(t, db, s)
		h.ingestFile("scan_dns.csv")
		first := h.cases()
		opsBefore := len(h.ops())

		// The next report arrives a day later, a little before
		// update_interval (24h) has passed since the tickets were created.
		h.clock.Set(day0.Add(23 * time.Hour))
		rows, newIPs, seen := day2(t)
		_, sum := h.ingestBytes("2018-04-15-scan_dns.csv", dnsReport(t, rows))
		if sum.Events != len(rows) || sum.NewCases != 0 || sum.UpdatedCases != 2 || sum.Operations != 0 {
			t.Errorf("day 2 summary %+v, want %d events, 2 updated cases, no operations", sum, len(rows))
		}
		if n, err := h.agg.FlushUpdates(ctx, db); err != nil || n != 0 {
			t.Fatalf("FlushUpdates before update_interval: %d, %v; want 0", n, err)
		}
		if n := len(h.ops()); n != opsBefore {
			t.Fatalf("%d operations after an early flush, want %d", n, opsBefore)
		}

		got := h.cases()
		for key, ips := range newIPs {
			c, w := got[key], first[key]
			var events int
			for _, r := range rows {
				if (lastOctet(r.ip) < 128) == strings.HasPrefix(key, "acme") {
					events++
				}
			}
			if c.Events != w.Events+events || c.IPs != w.IPs+len(ips) || c.Pending != events || c.Reports != 2 {
				t.Errorf("%s: events %d IPs %d pending %d reports %d; want %d, %d, %d, 2", key, c.Events, c.IPs, c.Pending, c.Reports,
					w.Events+events, w.IPs+len(ips), events)
			}
			if !c.FirstSeen.Equal(w.FirstSeen) || !c.LastSeen.After(w.LastSeen) {
				t.Errorf("%s: seen %v..%v, was %v..%v; want last_seen raised", key, c.FirstSeen, c.LastSeen, w.FirstSeen, w.LastSeen)
			}
		}
		var repeat struct {
			Events   int       `db:"events"`
			LastSeen time.Time `db:"last_seen"`
		}
		if err := db.GetContext(ctx, &repeat, db.Rebind(`SELECT events, last_seen FROM case_ips WHERE case_id = ? AND ip = ?`),
			got["acme/dns-open-resolver"].ID, "198.51.100.8"); err != nil {
			t.Fatal(err)
		}
		// Twice in the fixture, twice on day 2.
		if want := rows[1].at; repeat.Events != 4 || !repeat.LastSeen.UTC().Equal(want) {
			t.Errorf("198.51.100.8: %d events, last seen %v; want 4 and %v", repeat.Events, repeat.LastSeen.UTC(), want)
		}

		// Once update_interval has passed: exactly one update per case.
		h.clock.Set(day0.Add(24 * time.Hour))
		if n, err := h.agg.FlushUpdates(ctx, db); err != nil || n != 2 {
			t.Fatalf("FlushUpdates after update_interval: %d, %v; want 2", n, err)
		}
		ops := h.ops()[opsBefore:]
		if got := opKinds(ops); !slices.Equal(got, []string{"acme/dns-open-resolver reply", "globex/dns-open-resolver reply"}) {
			t.Fatalf("update operations %q, want one reply per case", got)
		}
		for _, o := range ops {
			var p outbox.Payload
			if err := json.Unmarshal([]byte(o.Payload), &p); err != nil {
				t.Fatal(err)
			}
			for _, ip := range newIPs[o.CaseKey] {
				if !strings.Contains(p.Body, ip) {
					t.Errorf("update of %s does not list new address %s:\n%s", o.CaseKey, ip, p.Body)
				}
			}
			// Addresses of day 1 that were not seen again are not news.
			if strings.Contains(p.Body, "198.51.100.10,") {
				t.Errorf("update of %s lists 198.51.100.10, not seen on day 2:\n%s", o.CaseKey, p.Body)
			}
		}
		// What the updates were rendered from: only the addresses of day 2,
		// the new ones counted as new, since the tickets were created.
		updates := spy.of(content.KindUpdate)
		if len(updates) != 2 {
			t.Fatalf("%d updates rendered, want 2", len(updates))
		}
		for _, u := range updates {
			d := u.c.New
			if d == nil {
				t.Fatalf("update of %s rendered without a delta", u.c.Key)
			}
			if got := addrs(d.IPs); !slices.Equal(got, seen[u.c.Key]) || d.NewIPs != len(newIPs[u.c.Key]) || !d.Since.Equal(day0) {
				t.Errorf("update of %s: addresses %v (%d new) since %v; want %v (%d new) since %v",
					u.c.Key, got, d.NewIPs, d.Since, seen[u.c.Key], len(newIPs[u.c.Key]), day0)
			}
		}
		for key := range newIPs {
			if c := h.cases()[key]; c.Pending != 0 {
				t.Errorf("%s: %d pending events after the update", key, c.Pending)
			}
		}
		// Nothing new: no second update, however much later.
		h.clock.Set(day0.Add(72 * time.Hour))
		if n, err := h.agg.FlushUpdates(ctx, db); err != nil || n != 0 {
			t.Errorf("FlushUpdates with nothing new: %d, %v; want 0", n, err)
		}
	})
}

// resolve closes a case as the sync stage does.
func resolve(t testing.TB, db *store.DB, caseID int64, at time.Time) {
	t.Helper()
	ctx := context.Background()
	at = store.Time(at)
	if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE cases SET state = 'resolved', status = 'resolved', resolved_at = ?, updated_at = ?, version = version + 1 WHERE id = ?`),
		at, at, caseID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO status_history (case_id, from_status, to_status, at, source, reason, created_at)
		VALUES (?, 'open', 'resolved', ?, 'webhook', 'fixed', ?)`), caseID, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestClosureThenRecurrence(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db, defaultSetup())
		h.ingestFile("scan_dns.csv")
		acme := h.cases()["acme/dns-open-resolver"]
		if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO tickets (case_id, connector, external_id, url, status, created_at, updated_at)
			VALUES (?, 'rt', '4711', 'https://rt.example/Ticket/4711', 'resolved', ?, ?)`), acme.ID, day0, day0); err != nil {
			t.Fatal(err)
		}

		// Resolved on day 2, seen again on day 5: within the reopen window.
		resolve(t, db, acme.ID, day0.Add(48*time.Hour))
		h.clock.Set(day0.Add(5 * 24 * time.Hour))
		at := time.Date(2018, 4, 18, 1, 0, 0, 0, time.UTC)
		_, sum := h.ingestBytes("2018-04-18-scan_dns.csv", dnsReport(t, []fixtureRow{{at, "198.51.100.8"}, {at, "198.51.100.5"}}))
		if sum.Reopened != 1 || sum.NewCases != 0 || sum.Operations != 1 {
			t.Errorf("summary %+v, want 1 reopened case and 1 operation", sum)
		}
		c := h.cases()["acme/dns-open-resolver"]
		if c.State != "open" || c.ReopenCount != 1 || c.ResolvedAtPtr != nil || c.Pending != 0 {
			t.Errorf("after recurrence: state %s reopen_count %d resolved_at %v pending %d", c.State, c.ReopenCount, c.ResolvedAtPtr, c.Pending)
		}
		ops := h.ops()
		last := ops[len(ops)-1]
		if last.Kind != string(outbox.KindReopen) || last.CaseKey != "acme/dns-open-resolver" || last.Key != "acme/dns-open-resolver:reopen:1" {
			t.Errorf("last operation %s %s %s, want the reopen of acme's case", last.CaseKey, last.Kind, last.Key)
		}
		var p outbox.Payload
		_ = json.Unmarshal([]byte(last.Payload), &p)
		if !p.Notify || !strings.Contains(p.Body, "198.51.100.5") {
			t.Errorf("reopen payload notify %v, body lacks the new address:\n%s", p.Notify, p.Body)
		}
		var hist []struct {
			From   string    `db:"from_status"`
			To     string    `db:"to_status"`
			Source string    `db:"source"`
			At     time.Time `db:"at"`
		}
		if err := db.SelectContext(ctx, &hist, db.Rebind(`SELECT from_status, to_status, source, at FROM status_history WHERE case_id = ? ORDER BY id`), acme.ID); err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 || hist[2].From != "resolved" || hist[2].To != "open" || hist[2].Source != "gateway" || !hist[2].At.Equal(day0.Add(5*24*time.Hour)) {
			t.Errorf("status history %+v, want new → resolved (webhook) → open (gateway, day 5)", hist)
		}
		// Nothing of the reopening waits for an update.
		h.clock.Set(day0.Add(7 * 24 * time.Hour))
		if n, err := h.agg.FlushUpdates(ctx, db); err != nil || n != 0 {
			t.Errorf("FlushUpdates after a reopen: %d, %v; want 0", n, err)
		}

		// Resolved again on day 7, seen on day 20: after the window, a new
		// case that links the old one and its ticket.
		resolve(t, db, acme.ID, day0.Add(7*24*time.Hour))
		h.clock.Set(day0.Add(20 * 24 * time.Hour))
		at = time.Date(2018, 5, 1, 1, 0, 0, 0, time.UTC)
		_, sum = h.ingestBytes("2018-05-01-scan_dns.csv", dnsReport(t, []fixtureRow{{at, "198.51.100.8"}}))
		if sum.NewCases != 1 || sum.Reopened != 0 || sum.Operations != 2 {
			t.Errorf("summary %+v, want 1 new case and 2 operations", sum)
		}
		all := h.cases()
		old, next := all["acme/dns-open-resolver"], all["acme/dns-open-resolver#2"]
		if old.State != "resolved" || old.ReopenCount != 1 {
			t.Errorf("old case: state %s reopen_count %d, want it left resolved", old.State, old.ReopenCount)
		}
		if next.ID == 0 || next.State != "open" || next.Generation != 2 || next.BaseKey != "acme/dns-open-resolver" ||
			next.PreviousCase == nil || *next.PreviousCase != acme.ID || next.Events != 1 || next.IPs != 1 || !next.FirstSeen.Equal(at) {
			t.Fatalf("follow-up case %+v", next)
		}
		ops = h.composed()
		var create *opRow
		for i := range ops {
			if ops[i].CaseKey == next.Key && ops[i].Kind == string(outbox.KindCreate) {
				create = &ops[i]
			}
		}
		if create == nil {
			t.Fatalf("no create operation for %s: %q", next.Key, opKinds(ops))
		}
		p = outbox.Payload{}
		_ = json.Unmarshal([]byte(create.Payload), &p)
		if !slices.Equal(p.RefersTo, []string{"4711"}) || p.CaseKey != next.Key {
			t.Errorf("follow-up create payload refers_to %v case_key %q, want [4711] and %s", p.RefersTo, p.CaseKey, next.Key)
		}
		if !strings.Contains(p.Body+p.Subject, "4711") {
			t.Errorf("follow-up ticket text does not mention the old ticket 4711:\n%s\n%s", p.Subject, p.Body)
		}
		// A recurrence of the other customer's problem is unaffected.
		if g := all["globex/dns-open-resolver"]; g.State != "open" || g.Generation != 1 {
			t.Errorf("globex: %+v", g)
		}
	})
}

func TestUnownedAndIgnoredAreCounted(t *testing.T) {
	t.Parallel()
	catchAll := contacts.UnownedConfig{Action: contacts.ActionCatchAll, Customer: contacts.CustomerConfig{
		Customer: "desk", Name: "Our abuse desk", Email: contacts.List{"abuse@isp.example"}}}
	ignoreNTP := routing.Config{DefaultConnector: "rt", Rules: []routing.Rule{
		{Name: "research scanners", Match: routing.Match{Classifications: []string{"ntp-*"}, Networks: []string{"192.168.0.0/24"}}, Ignore: true},
	}}
	tests := []struct {
		name                       string
		unowned                    contacts.UnownedConfig
		routing                    routing.Config
		wantUnowned, wantIgnored   int
		wantCases                  []string
		wantUnownedInCase          bool
		wantCaseEvents, wantEvents int
	}{
		{
			name: "drop", unowned: contacts.UnownedConfig{Action: contacts.ActionDrop}, routing: defaultSetup().routing,
			wantUnowned: 1, wantCases: []string{"acme/open-rdp", "initech/ntp-version"},
		},
		{
			name: "catch all", unowned: catchAll, routing: defaultSetup().routing,
			wantUnowned: 1, wantCases: []string{"acme/open-rdp", "desk/open-rdp", "initech/ntp-version"}, wantUnownedInCase: true,
		},
		{
			name: "ignore rule", routing: ignoreNTP,
			wantUnowned: 1, wantIgnored: 3, wantCases: []string{"acme/open-rdp"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				s := defaultSetup()
				s.unowned, s.routing = tt.unowned, tt.routing
				h := newHarness(t, db, s)
				var unowned, ignored, events int
				for _, f := range []string{"scan_rdp.csv", "scan_ntp.csv"} {
					_, sum := h.ingestFile(f)
					unowned += sum.Unowned
					ignored += sum.Ignored
					events += sum.Events
				}
				if unowned != tt.wantUnowned || ignored != tt.wantIgnored || events != 5 {
					t.Errorf("summaries: %d unowned %d ignored %d events, want %d, %d, 5", unowned, ignored, events, tt.wantUnowned, tt.wantIgnored)
				}
				if got := keys(h.cases()); !slices.Equal(got, tt.wantCases) {
					t.Errorf("cases %q, want %q", got, tt.wantCases)
				}
				if n := h.count("events", "disposition = 'unowned'"); n != tt.wantUnowned {
					t.Errorf("%d events with disposition unowned, want %d", n, tt.wantUnowned)
				}
				if n := h.count("events", "disposition = 'unowned' AND case_id IS NOT NULL"); (n == 1) != tt.wantUnownedInCase {
					t.Errorf("%d unowned events in a case, want in a case: %v", n, tt.wantUnownedInCase)
				}
				if n := h.count("events", "disposition = 'ignored' AND case_id IS NULL"); n != tt.wantIgnored {
					t.Errorf("%d events with disposition ignored, want %d", n, tt.wantIgnored)
				}
				if n := h.count("events", ""); n != 5 {
					t.Errorf("%d events stored, want all 5", n)
				}
				// The reports keep the same counts (the /metrics collector
				// sums them).
				var counts struct {
					Unowned int `db:"u"`
					Ignored int `db:"i"`
				}
				if err := h.db.GetContext(context.Background(), &counts, `SELECT sum(unowned_count) AS u, sum(ignored_count) AS i FROM reports`); err != nil ||
					counts.Unowned != tt.wantUnowned || counts.Ignored != tt.wantIgnored {
					t.Errorf("reports count %+v (%v), want %d unowned, %d ignored", counts, err, tt.wantUnowned, tt.wantIgnored)
				}
			})
		})
	}
}

// TestTextWrittenWhenSent: a new case's first messages are written when
// dispatched, so a second report that arrives before that is in them, and
// no later update repeats it.
func TestTextWrittenWhenSent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db, defaultSetup())
		h.ingestFile("scan_dns.csv")
		h.clock.Set(day0.Add(2 * time.Hour))
		rows, newIPs, _ := day2(t)
		h.ingestBytes("2018-04-15-scan_dns.csv", dnsReport(t, rows))
		for key, c := range h.cases() {
			if c.Pending == 0 {
				t.Fatalf("%s: no pending events before the tickets are sent", key)
			}
		}
		h.clock.Set(day0.Add(3 * time.Hour))
		for _, o := range h.composed() {
			var p outbox.Payload
			if err := json.Unmarshal([]byte(o.Payload), &p); err != nil {
				t.Fatal(err)
			}
			for _, ip := range newIPs[o.CaseKey] {
				if !strings.Contains(p.Body, ip) {
					t.Errorf("%s %s does not name %s of the second report:\n%s", o.CaseKey, o.Kind, ip, p.Body)
				}
			}
		}
		for key, c := range h.cases() {
			if c.Pending != 0 {
				t.Errorf("%s: %d events pending after the tickets told them", key, c.Pending)
			}
		}
		h.clock.Set(day0.Add(48 * time.Hour))
		if n, err := h.agg.FlushUpdates(ctx, db); err != nil || n != 0 {
			t.Errorf("FlushUpdates: %d, %v; want no update repeating what the tickets said", n, err)
		}
	})
}

// TestConcurrentProcessOfOneReport: a report is opened (its events read)
// before its transaction claims it, so two runs may both open it; only the
// one that claims it first applies it.
func TestConcurrentProcessOfOneReport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, defaultSetup())
		b, err := os.ReadFile(filepath.Join("testdata", "scan_dns.csv"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := h.pipe.Store(context.Background(), ingest.Source{Channel: "file", Name: "scan_dns.csv"}, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		const runs = 4
		sums := make(chan ingest.Summary, runs)
		errs := make(chan error, runs)
		for range runs {
			go func() {
				sum, err := h.pipe.Process(context.Background(), st.ID)
				sums <- sum
				errs <- err
			}()
		}
		var total ingest.Summary
		for range runs {
			total.Add(<-sums)
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		events := h.count("events", "report_id = ?", st.ID)
		if total.Reports != 1 || total.Events != events || events == 0 {
			t.Errorf("%d runs gave %+v and %d stored events, want one report's events once", runs, total, events)
		}
		if n := h.count("events", "report_id = ? AND seq = 0", st.ID); n != 1 {
			t.Errorf("the first event is stored %d times", n)
		}
	})
}

// TestDeadlockedReportIsProcessedAgain: on PostgreSQL a report's
// transaction that deadlocks with another one is rolled back by the server;
// Process runs it again and the report is applied once.
func TestDeadlockedReportIsProcessedAgain(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	h := newHarness(t, db, defaultSetup())
	h.ingestFile("scan_dns.csv")
	acme := h.cases()["acme/dns-open-resolver"].ID
	h.clock.Set(day0.Add(23 * time.Hour))
	rows, _, _ := day2(t)
	st, err := h.pipe.Store(ctx, ingest.Source{Channel: "file", Name: "2018-04-15-scan_dns.csv"}, bytes.NewReader(dnsReport(t, rows)))
	if err != nil {
		t.Fatal(err)
	}

	// The other transaction holds acme's case, which the report updates;
	// its long deadlock_timeout makes the report's transaction the one
	// PostgreSQL gives up.
	other, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	for _, q := range []string{`SET LOCAL deadlock_timeout = '30s'`, `UPDATE cases SET id = id WHERE id = ` + strconv.FormatInt(acme, 10)} {
		if _, err := other.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		sum ingest.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := h.pipe.Process(ctx, st.ID)
		done <- result{sum, err}
	}()
	// Once the report waits for the case, the other transaction asks for
	// the report's row, which the report has claimed: a deadlock.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		if err := db.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the report never waited for the case")
		}
		runtime.Gosched()
	}
	if _, err := other.ExecContext(ctx, db.Rebind(`UPDATE reports SET id = id WHERE id = ?`), st.ID); err != nil {
		t.Fatalf("the other transaction: %v", err)
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.sum.Reports != 1 || r.sum.Events != len(rows) {
		t.Fatalf("Process gave %+v, %v; want the report's %d events once", r.sum, r.err, len(rows))
	}
	if n := h.count("events", "report_id = ?", st.ID); n != len(rows) {
		t.Errorf("%d events stored, want %d", n, len(rows))
	}
}

// TestFailedEventInsertLeavesNothing: an event row that cannot be written
// halfway through a batch statement (here its place is taken) fails the
// report whole: none of its events, cases or operations stay, and the
// report is processed completely once the obstacle is gone. SQLite's
// batches are INSERT OR FAIL (the rows before the failing one stay until
// the transaction rolls back); PostgreSQL's are COPY.
func TestFailedEventInsertLeavesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, defaultSetup())
		ctx := context.Background()
		b, err := os.ReadFile(filepath.Join("testdata", "scan_dns.csv"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := h.pipe.Store(ctx, ingest.Source{Channel: "file", Name: "scan_dns.csv"}, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		// The 51st of the report's 100 events: inside its second statement
		// on SQLite (64 + 32 + 4 rows), after rows that statement wrote.
		const taken = 50
		if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO events (report_id, seq, fields, created_at) VALUES (?, ?, '{}', ?)`),
			st.ID, taken, store.Time(day0)); err != nil {
			t.Fatal(err)
		}
		if _, err := h.pipe.Process(ctx, st.ID); err == nil {
			t.Fatal("processing succeeded over a taken event row")
		}
		if n := h.count("events", "report_id = ?", st.ID); n != 1 {
			t.Errorf("after the failure the report has %d event rows, want only the one planted", n)
		}
		if n := h.count("cases", ""); n != 0 {
			t.Errorf("after the failure %d cases exist", n)
		}
		if n := h.count("reports", "id = ? AND status = 'received'", st.ID); n != 1 {
			t.Error("the report is no longer waiting to be processed")
		}
		if _, err := db.ExecContext(ctx, db.Rebind(`DELETE FROM events WHERE report_id = ?`), st.ID); err != nil {
			t.Fatal(err)
		}
		sum, err := h.pipe.Process(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := h.count("events", "report_id = ?", st.ID); sum.Events != 100 || n != 100 {
			t.Errorf("processed again: %+v, %d event rows, want 100", sum, n)
		}
	})
}
