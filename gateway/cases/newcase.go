package cases

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/abusegw/abusegw/gateway/content"
)

// remember keeps what the first message of a case opened by this session
// quotes: the ports of the event's address and the event itself as one of
// the max most recent.
func (cs *caseState) remember(it Item, max int) {
	if it.Fields == nil {
		cs.noFields = true
	}
	if p, ok := it.Event.Int("source.port"); ok {
		if ip := it.Event.String("source.ip"); ip != "" {
			if cs.ports == nil {
				cs.ports = map[string][]int{}
			}
			cs.ports[ip] = append(cs.ports[ip], int(p))
		}
	}
	if max <= 0 || cs.noFields {
		return
	}
	if len(cs.samples) < max {
		cs.samples = append(cs.samples, append([]byte(nil), it.Fields...))
	} else {
		cs.samples[cs.next] = append(cs.samples[cs.next][:0], it.Fields...)
	}
	cs.next = (cs.next + 1) % max
}

// newCaseView builds the renderer's picture of a case this session opened
// from what the session gathered: the same picture view reads back from the
// database once the session's events, addresses and counters are written
// (the case has no other events).
func (s *Session) newCaseView(cs *caseState) content.Case {
	cust := s.custRows[cs.customer.Key]
	emails := append([]string{}, cust.Emails...)
	c := content.Case{
		Key: cs.key, Reference: s.a.cfg.reference(cs.id),
		Customer:       content.Customer{Key: cust.Key, Name: cust.Name, Emails: emails, Language: cust.Language},
		Classification: content.Classification{Taxonomy: cs.classTax, Type: cs.classType, Identifier: cs.classID},
		FirstSeen:      cs.first.UTC(), LastSeen: cs.last.UTC(), Events: cs.events,
		Notify: cs.route.Notify,
		Desk:   content.Desk{Name: s.a.desk.Name, Email: s.a.desk.Email, URL: s.a.desk.URL},
	}
	if cs.feed != "" {
		c.Feeds = []string{cs.feed}
	}
	if len(cs.feeds) > 0 {
		feeds := slices.Sorted(maps.Keys(cs.feeds))
		c.Feeds = feeds[:min(len(feeds), 20)]
	}
	ips := slices.Sorted(maps.Keys(cs.ips))
	ips = ips[:min(len(ips), maxListedIPs)]
	c.IPs = make([]content.IP, 0, len(ips))
	for _, ip := range ips {
		st := cs.ips[ip]
		ps := slices.Clone(cs.ports[ip])
		slices.Sort(ps)
		c.IPs = append(c.IPs, content.IP{Addr: ip, Ports: slices.Compact(ps), FirstSeen: st.first.UTC(), LastSeen: st.last.UTC(), Events: st.events})
	}
	// Most recent first.
	n := len(cs.samples)
	for i := range n {
		var m map[string]any
		if json.Unmarshal(cs.samples[((cs.next-1-i)%n+n)%n], &m) == nil {
			c.Samples = append(c.Samples, m)
		}
	}
	return c
}
