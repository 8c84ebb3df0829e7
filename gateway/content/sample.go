package content

import "time"

// SampleCase returns a case with every field set, as if an open DNS
// resolver had been reported on three addresses of a customer and seen again
// since the last message. New uses it (and an empty Case) to check every
// template; it also serves previews of the templates. now anchors its times.
func SampleCase(now time.Time) Case {
	now = now.UTC().Truncate(time.Second)
	if now.IsZero() {
		now = time.Date(2026, 3, 24, 12, 0, 0, 0, time.UTC)
	}
	day := 24 * time.Hour
	first, last := now.Add(-10*day), now.Add(-time.Hour)
	ips := []IP{
		{Addr: "192.0.2.10", Ports: []int{53}, FQDN: "ns1.example.net", FirstSeen: first, LastSeen: last, Events: 9},
		{Addr: "192.0.2.77", Ports: []int{53, 5353}, FirstSeen: now.Add(-2 * day), LastSeen: last, Events: 2},
		{Addr: "2001:db8::53", Ports: []int{53}, FQDN: "resolver.example.net", FirstSeen: first.Add(day), LastSeen: now.Add(-3 * day), Events: 1},
	}
	return Case{
		Key:       "cust-1001/dns-open-resolver",
		Reference: "ABUSE-42",
		Customer: Customer{
			Key: "cust-1001", Name: "Example GmbH",
			Emails: []string{"noc@example.net", "security@example.net"}, Language: "en",
		},
		Classification: Classification{Taxonomy: "vulnerable", Type: "vulnerable-system", Identifier: "dns-open-resolver"},
		Feeds:          []string{"Open-DNS", "Open-DNS-IPv6"},
		FirstSeen:      first,
		LastSeen:       last,
		Events:         12,
		IPs:            ips,
		New:            &Delta{Since: now.Add(-3 * day), Events: 3, IPs: ips[:2], NewIPs: 1},
		Samples: []map[string]any{{
			"time.source":               last,
			"feed.name":                 "Open-DNS",
			"classification.identifier": "dns-open-resolver",
			"source.ip":                 "192.0.2.10",
			"source.port":               53,
			"source.reverse_dns":        "ns1.example.net",
			"protocol.transport":        "udp",
			"malware.name":              "none",
			"extra.min_amplification":   "2.5",
		}},
		PreviousTicket: &TicketRef{Connector: "rt", ID: "4711", URL: "https://rt.example.org/Ticket/Display.html?id=4711", Closed: first.Add(-30 * day)},
		Notify:         true,
		Desk:           Desk{Name: "Example Net Abuse Team", Email: "abuse@example.org", URL: "https://www.example.org/abuse"},
	}
}
