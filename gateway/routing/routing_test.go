package routing

import (
	"net/netip"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestDecide(t *testing.T) {
	t.Parallel()
	r, err := New(Config{
		DefaultConnector: "rt",
		DefaultQueue:     "Abuse",
		Rules: []Rule{
			{Name: "research scanners", Match: Match{Networks: []string{"198.51.100.0/24"}, Classifications: []string{"scanner"}}, Ignore: true},
			{Name: "opted out", Match: Match{Customers: []string{"cust-quiet"}, Classifications: []string{"open-*"}}, Ignore: true},
			{Name: "vip", Match: Match{Tags: []string{"vip"}}, Connector: "jira", Queue: "VIP", Notify: ptr(false)},
			{Name: "sinkhole", Match: Match{Feeds: []string{"*Sinkhole*"}}, Template: "infection"},
		},
	}, []string{"rt", "jira"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   Input
		want Route
	}{
		{"defaults", Input{Customer: "c1", ClassificationIdentifier: "open-dns"}, Route{Connector: "rt", Queue: "Abuse", Notify: true}},
		{"customer's own queue", Input{Customer: "c1", CustomerQueue: "Abuse-C1", CustomerConnector: "jira"}, Route{Connector: "jira", Queue: "Abuse-C1", Notify: true}},
		{"research scanner ignored", Input{Customer: "c1", ClassificationType: "scanner", IP: netip.MustParseAddr("198.51.100.7")}, Route{Ignore: true, Rule: "research scanners", Connector: "rt", Queue: "Abuse", Notify: true}},
		{"scanner elsewhere not ignored", Input{Customer: "c1", ClassificationType: "scanner", IP: netip.MustParseAddr("192.0.2.7")}, Route{Connector: "rt", Queue: "Abuse", Notify: true}},
		{"opt-out by glob", Input{Customer: "cust-quiet", ClassificationIdentifier: "open-ntp"}, Route{Ignore: true, Rule: "opted out", Connector: "rt", Queue: "Abuse", Notify: true}},
		{"opt-out only for that type", Input{Customer: "cust-quiet", ClassificationIdentifier: "botnet"}, Route{Connector: "rt", Queue: "Abuse", Notify: true}},
		{"tag rule overrides", Input{Customer: "c2", Tags: []string{"x", "VIP"}}, Route{Rule: "vip", Connector: "jira", Queue: "VIP", Notify: false}},
		{"first match wins", Input{Customer: "c2", Tags: []string{"vip"}, Feed: "Sinkhole-HTTP"}, Route{Rule: "vip", Connector: "jira", Queue: "VIP", Notify: false}},
		{"feed glob, case-insensitive", Input{Customer: "c3", Feed: "Sinkhole-HTTP"}, Route{Rule: "sinkhole", Connector: "rt", Queue: "Abuse", Template: "infection", Notify: true}},
	}
	for _, tt := range tests {
		if got := r.Decide(tt.in); got != tt.want {
			t.Errorf("%s: Decide = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown default connector", Config{DefaultConnector: "otrs"}, `routing.default_connector: connector "otrs"`},
		{"unknown rule connector", Config{Rules: []Rule{{Name: "x", Connector: "zammad"}}}, `routing.rules[0] (x).connector`},
		{"bad network", Config{Rules: []Rule{{Match: Match{Networks: []string{"10.0.0.0/33"}}}}}, "not a CIDR prefix"},
		{"bad glob", Config{Rules: []Rule{{Match: Match{Feeds: []string{"[x"}}}}}, "bad pattern"},
		{"ignore with a target", Config{Rules: []Rule{{Ignore: true, Queue: "Q"}}}, "routes nowhere"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, []string{"rt"})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(Config{Notify: ptr(false)}, nil); err != nil {
		t.Errorf("empty config: %v", err)
	}
}
