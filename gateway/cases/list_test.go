package cases

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

func TestList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC)
		a := testAggregator(t, Config{}, &now)
		seen := time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)
		rdp := event(t, "source.ip", "198.51.100.9", "classification.type", "vulnerable-system", "classification.identifier", "open-rdp")
		apply(t, db, a,
			item(dnsEvent(t, "198.51.100.7"), "acme", seen),
			item(dnsEvent(t, "198.51.100.8"), "acme", seen.Add(time.Hour)),
			item(rdp, "acme", seen.Add(-time.Hour)),
			item(dnsEvent(t, "192.0.2.1"), "globex", seen.Add(30*time.Minute)),
			item(dnsEvent(t, "203.0.113.1"), "initech", seen.Add(10*time.Minute)),
		)
		set := func(key, state string) {
			t.Helper()
			if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE cases SET state = ?, status = ? WHERE case_key = ?`), state, state, key); err != nil {
				t.Fatal(err)
			}
		}
		set("acme/open-rdp", StateResolved)
		set("initech/dns-open-resolver", StateClosed)
		set("globex/dns-open-resolver", StatePending)
		var acmeID int64
		if err := db.GetContext(ctx, &acmeID, `SELECT id FROM cases WHERE case_key = 'acme/dns-open-resolver'`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO tickets (case_id, connector, external_id, url, created_at, updated_at)
			VALUES (?, 'rt', '17', 'https://rt.example/Ticket/17', ?, ?)`), acmeID, now, now); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			f    Filter
			want []string // keys, most recently seen first
		}{
			{Filter{}, []string{"acme/dns-open-resolver", "globex/dns-open-resolver"}},
			{Filter{State: "open"}, []string{"acme/dns-open-resolver", "globex/dns-open-resolver"}},
			{Filter{State: "closed"}, []string{"initech/dns-open-resolver", "acme/open-rdp"}},
			{Filter{State: "all"}, []string{"acme/dns-open-resolver", "globex/dns-open-resolver", "initech/dns-open-resolver", "acme/open-rdp"}},
			{Filter{State: "pending"}, []string{"globex/dns-open-resolver"}},
			{Filter{State: "resolved"}, []string{"acme/open-rdp"}},
			{Filter{State: "all", Customer: "acme"}, []string{"acme/dns-open-resolver", "acme/open-rdp"}},
			{Filter{Customer: "acme"}, []string{"acme/dns-open-resolver"}},
			{Filter{State: "all", Customer: "nobody"}, nil},
			{Filter{State: "all", Limit: 1}, []string{"acme/dns-open-resolver"}},
		}
		for _, tt := range tests {
			list, err := List(ctx, db, tt.f)
			if err != nil {
				t.Fatalf("%+v: %v", tt.f, err)
			}
			var got []string
			for _, c := range list {
				got = append(got, c.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		}
		if _, err := List(ctx, db, Filter{State: "everything"}); err == nil {
			t.Error("unknown state accepted")
		}

		list, err := List(ctx, db, Filter{Customer: "acme"})
		if err != nil || len(list) != 1 {
			t.Fatalf("%v %v", list, err)
		}
		c := list[0]
		want := Listed{ID: acmeID, Key: "acme/dns-open-resolver", Reference: "ABUSE-" + strconv.FormatInt(acmeID, 10), Customer: "acme", CustomerName: "ACME",
			Classification: "dns-open-resolver", Type: "vulnerable-system", State: "open", Status: "new", IPs: 2, Events: 2,
			FirstSeen: seen, LastSeen: seen.Add(time.Hour), Connector: "rt", Ticket: "17", TicketURL: "https://rt.example/Ticket/17"}
		if c != want {
			t.Errorf("listed\n %+v\nwant\n %+v", c, want)
		}
		ips, err := IPs(ctx, db, acmeID, 1)
		if err != nil || len(ips) != 1 {
			t.Errorf("IPs: %v %v", ips, err)
		}
	})
}
