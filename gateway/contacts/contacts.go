// Package contacts answers "who owns this?" for an event: it maps an
// event's source.ip (or source.fqdn, or source.asn) to the customer the
// abuse desk has to tell.
//
// Answers come from sources tried in the configured order:
//
//   - file: a CSV or YAML file of networks, ASNs and domains (see
//     [FileSource]), held in memory as a longest-prefix-match table and
//     reloaded when the file changes;
//   - sql: a query the operator writes against its own CRM database
//     (PostgreSQL or MySQL/MariaDB);
//   - http: a GET on a URL template answering JSON.
//
// A [Chain] asks them in order, caches the answers of remote sources,
// counts source errors and falls through to the next source on one. An
// address nobody owns is reported as not found; the caller decides what to
// do with it ([Chain.CatchAll] gives the configured catch-all customer).
package contacts

import (
	"context"
	"net/netip"
	"strings"
)

// Customer is the owner of a network, ASN or domain, as a source knows it.
// Its slices are shared with the source's table and the cache: treat them as
// read-only.
type Customer struct {
	Key       string   // the customer's id in the operator's CRM (column "customer")
	Name      string   // display name
	Emails    []string // abuse contacts, at least zero
	Connector string   // helpdesk connector to use (by name); "" for the default
	Queue     string   // helpdesk queue or project; "" for the connector's default
	Language  string   // preferred language of the customer's tickets ("" = default)
	Tags      []string // free-form labels used by routing rules
	Source    string   // name of the source that answered
	Network   string   // what matched: a prefix ("192.0.2.0/24"), "AS64496" or a domain
}

// Query is what to look up. Any of its fields may be zero; sources try the
// IP first, then the FQDN, then the ASN.
type Query struct {
	IP   netip.Addr // source.ip
	ASN  int64      // source.asn (0 = none)
	FQDN string     // source.fqdn
}

// Resolver finds the owner of an event's source. ok is false when nobody
// owns it.
type Resolver interface {
	Lookup(ctx context.Context, q Query) (c Customer, ok bool, err error)
}

// normalize returns q with an IPv4-mapped IPv6 address unmapped, zones
// dropped and the FQDN lower-cased without a trailing dot, so that equal
// questions hit the same cache entry and table keys.
func (q Query) normalize() Query {
	if q.IP.IsValid() {
		q.IP = q.IP.Unmap().WithZone("")
	}
	if q.ASN < 0 {
		q.ASN = 0
	}
	q.FQDN = normalizeDomain(q.FQDN)
	return q
}

// empty reports whether there is nothing to look up.
func (q Query) empty() bool { return !q.IP.IsValid() && q.ASN == 0 && q.FQDN == "" }

func normalizeDomain(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
