package cases

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
	"github.com/abusegw/abusegw/normalizer"
)

// event builds a normalized event from key/value pairs.
func event(t testing.TB, kv ...string) *normalizer.Event {
	t.Helper()
	ev := normalizer.NewEvent(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		if err := ev.Set(kv[i], kv[i+1]); err != nil {
			t.Fatalf("%s=%s: %v", kv[i], kv[i+1], err)
		}
	}
	return &ev
}

func dnsEvent(t testing.TB, ip string) *normalizer.Event {
	return event(t, "source.ip", ip, "classification.type", "vulnerable-system",
		"classification.identifier", "dns-open-resolver", "feed.name", "DNS-Open-Resolvers", "classification.taxonomy", "vulnerable")
}

func TestCaseKeys(t *testing.T) {
	t.Parallel()
	v4 := dnsEvent(t, "198.51.100.7")
	v6 := dnsEvent(t, "2001:db8:1:2:3::9")
	noIdent := event(t, "source.ip", "192.0.2.1", "classification.type", "infected-system", "feed.name", "Sinkhole/Events")
	tests := []struct {
		name string
		key  []string
		ev   *normalizer.Event
		want string
	}{
		{"default", nil, v4, "acme/dns-open-resolver"},
		{"default, no identifier: the type", nil, noIdent, "acme/infected-system"},
		{"/24", []string{"customer", "classification.identifier", "source.network/24"}, v4, "acme/dns-open-resolver/198.51.100.0%2F24"},
		{"/24 on IPv6: /64", []string{"customer", "classification.identifier", "source.network/24"}, v6, "acme/dns-open-resolver/2001:db8:1:2::%2F64"},
		{"/24/48 on IPv6", []string{"customer", "classification.identifier", "source.network/24/48"}, v6, "acme/dns-open-resolver/2001:db8:1::%2F48"},
		{"feed", []string{"customer", "classification.identifier", "feed.name"}, v4, "acme/dns-open-resolver/DNS-Open-Resolvers"},
		{"feed with a slash is escaped", []string{"customer", "feed.name"}, noIdent, "acme/Sinkhole%2FEvents"},
		{"per IP", []string{"customer", "source.ip"}, v4, "acme/198.51.100.7"},
		{"missing part", []string{"customer", "source.fqdn"}, v4, "acme/-"},
		{"customer anywhere", []string{"classification.type", "customer"}, v4, "vulnerable-system/acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := compileKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if got := buildKey(parts, "acme", tt.ev); got != tt.want {
				t.Errorf("key %q, want %q", got, tt.want)
			}
		})
	}
	if got := buildKey(mustKey(t, nil), "a/b%", v4); got != "a%2Fb%25/dns-open-resolver" {
		t.Errorf("customer with / and %%: %q", got)
	}
}

func mustKey(t testing.TB, parts []string) []keyPart {
	t.Helper()
	k, err := compileKey(parts)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCaseKeyConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		key  []string
		want string
	}{
		{[]string{"classification.identifier"}, "must contain customer"},
		{[]string{"customer", "source.port"}, `unknown part "source.port"`},
		{[]string{"customer", "source.network/33"}, "0..32"},
		{[]string{"customer", "source.network/24/129"}, "0..128"},
		{[]string{"customer", "source.network/x"}, "0..32"},
	} {
		err := Config{Key: tt.key}.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("key %q: error %v, want one containing %q", tt.key, err, tt.want)
		}
	}
	if err := (Config{UpdateInterval: -time.Hour}).Validate(); err == nil {
		t.Error("negative update_interval accepted")
	}
}

// testAggregator builds an Aggregator with the real renderer and a fixed
// clock.
func testAggregator(t testing.TB, cfg Config, now *time.Time) *Aggregator {
	t.Helper()
	clock := func() time.Time { return *now }
	r, err := content.New(content.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Renderer: r, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// apply runs one session over items, as the pipeline does for a report.
func apply(t testing.TB, db *store.DB, a *Aggregator, items ...Item) Summary {
	t.Helper()
	var sum Summary
	err := db.InTx(context.Background(), func(tx *sqlx.Tx) error {
		s := a.Begin(db, tx)
		for _, it := range items {
			if _, _, err := s.Add(context.Background(), it); err != nil {
				return err
			}
		}
		var err error
		sum, err = s.Finish(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func item(ev *normalizer.Event, customer string, at time.Time) Item {
	return Item{Event: ev, At: at, Customer: Customer{Key: customer, Name: strings.ToUpper(customer), Emails: []string{"abuse@" + customer + ".example"}},
		Route: routing.Route{Connector: "rt", Notify: true}}
}

func TestKeyVariantsMakeCases(t *testing.T) {
	t.Parallel()
	seen := time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		key  []string
		want map[string]int // case key → events
	}{
		{"default: one case per customer and problem", nil, map[string]int{
			"acme/dns-open-resolver": 4, "acme/open-rdp": 1, "globex/dns-open-resolver": 1}},
		{"per /24", []string{"customer", "classification.identifier", "source.network/24"}, map[string]int{
			"acme/dns-open-resolver/198.51.100.0%2F24": 3, "acme/dns-open-resolver/203.0.113.0%2F24": 1,
			"acme/open-rdp/198.51.100.0%2F24": 1, "globex/dns-open-resolver/192.0.2.0%2F24": 1}},
		{"per feed", []string{"customer", "classification.identifier", "feed.name"}, map[string]int{
			"acme/dns-open-resolver/DNS-Open-Resolvers": 3, "acme/dns-open-resolver/Honeypot": 1,
			"acme/open-rdp/Accessible-RDP": 1, "globex/dns-open-resolver/DNS-Open-Resolvers": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				now := time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC)
				a := testAggregator(t, Config{Key: tt.key}, &now)
				honeypot := dnsEvent(t, "203.0.113.9")
				_ = honeypot.Set("feed.name", "Honeypot")
				rdp := event(t, "source.ip", "198.51.100.7", "classification.type", "vulnerable-system",
					"classification.identifier", "open-rdp", "feed.name", "Accessible-RDP")
				sum := apply(t, db, a,
					item(dnsEvent(t, "198.51.100.7"), "acme", seen),
					item(dnsEvent(t, "198.51.100.8"), "acme", seen.Add(time.Minute)),
					item(dnsEvent(t, "198.51.100.7"), "acme", seen.Add(2*time.Minute)),
					item(honeypot, "acme", seen.Add(3*time.Minute)),
					item(rdp, "acme", seen),
					item(dnsEvent(t, "192.0.2.1"), "globex", seen),
				)
				if sum.NewCases != len(tt.want) || sum.Operations != 2*len(tt.want) {
					t.Errorf("summary %+v, want %d new cases with create and reply each", sum, len(tt.want))
				}
				list, err := List(context.Background(), db, Filter{State: "all"})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int{}
				for _, c := range list {
					got[c.Key] = c.Events
				}
				if len(got) != len(tt.want) {
					t.Errorf("cases %v, want %v", got, tt.want)
				}
				for k, n := range tt.want {
					if got[k] != n {
						t.Errorf("case %s: %d events, want %d (all: %v)", k, got[k], n, got)
					}
				}
			})
		})
	}
}
