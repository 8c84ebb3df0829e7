package contacts

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"
)

// column is one of the columns a file row, an SQL row or an HTTP answer may
// carry.
type column int

const (
	colNetwork column = iota
	colASN
	colDomain
	colCustomer
	colName
	colEmail
	colConnector
	colQueue
	colLanguage
	colTags
	numColumns
)

var columnNames = [numColumns]string{"network", "asn", "domain", "customer", "name", "email", "connector", "queue", "language", "tags"}

func columnByName(s string) (column, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range columnNames {
		if n == s {
			return column(i), true
		}
	}
	return 0, false
}

// ParseError is a bad row of a contacts file: where it is and what is wrong.
// Line and Column count from 1; Column is 0 when the whole row is meant.
type ParseError struct {
	File   string
	Line   int
	Column int
	Field  string // the column's name, when one is meant
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// maxErrors bounds how many bad rows one load reports.
const maxErrors = 20

// keyKind says which of network, asn, domain a row is keyed by.
type keyKind uint8

const (
	keyNetwork keyKind = iota + 1
	keyASN
	keyDomain
)

type entryKey struct {
	kind   keyKind
	pfx    netip.Prefix
	asn    int64
	domain string
}

// pending is one network, ASN or domain with its customer, before the
// table is built.
type pending struct {
	key  entryKey
	cust uint32 // index into builder.custs
	line int
}

// netEntry is a table value: which customer, and what matched.
type netEntry struct {
	network string
	cust    uint32
}

// table is a loaded file: immutable once built, shared by lookups.
type table struct {
	nets      bart.Fast[netEntry] // ~25 % faster lookups than bart.Table for a little more memory
	asns      map[int64]netEntry
	domains   map[string]netEntry
	customers []Customer
	entries   int
}

// lookup answers q (normalized) from the table: the IP's longest prefix
// first, then the FQDN and its parent domains, then the ASN.
func (t *table) lookup(q Query) (Customer, bool) {
	if q.IP.IsValid() {
		if e, ok := t.nets.Lookup(q.IP); ok {
			return t.customer(e), true
		}
	}
	if q.FQDN != "" && len(t.domains) > 0 {
		d := q.FQDN
		for {
			if e, ok := t.domains[d]; ok {
				return t.customer(e), true
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				break
			}
			d = d[i+1:]
		}
	}
	if q.ASN != 0 {
		if e, ok := t.asns[q.ASN]; ok {
			return t.customer(e), true
		}
	}
	return Customer{}, false
}

func (t *table) customer(e netEntry) Customer {
	c := t.customers[e.cust]
	c.Network = e.network
	return c
}

// builder collects rows into a table: it merges repeated rows of one key
// (their e-mails and tags add up) and interns equal customers, so that a
// customer's cells are parsed and validated once, however many networks it
// has.
type builder struct {
	file    string
	source  string
	nets    map[netip.Prefix]int
	asns    map[int64]int
	domains map[string]int
	pending []pending
	custs   []Customer
	byCells map[string]uint32 // a row's customer cells → index into custs
	merged  map[string]uint32 // a merged customer's content → index into custs
	buf     []byte
	errs    []error
}

func newBuilder(file, source string) *builder {
	return &builder{
		file: file, source: source,
		nets: map[netip.Prefix]int{}, asns: map[int64]int{}, domains: map[string]int{},
		byCells: map[string]uint32{}, merged: map[string]uint32{},
	}
}

// fail records a bad row; it reports whether loading should go on.
func (b *builder) fail(err error) bool {
	b.errs = append(b.errs, err)
	return len(b.errs) < maxErrors
}

// cell is one value of a row and where it was.
type cell struct {
	value  string
	line   int
	column int
	set    bool // the column exists in this row (header or key present)
}

// add parses one row. cells is indexed by column. It reports whether
// loading should go on.
func (b *builder) add(cells *[numColumns]cell, line int) bool {
	perr := func(c column, err error) *ParseError {
		pe := &ParseError{File: b.file, Line: line, Field: columnNames[c], Err: err}
		if cl := cells[c]; cl.set {
			pe.Line, pe.Column = cl.line, cl.column
		}
		return pe
	}
	var key entryKey
	var keyCol column
	nkeys := 0
	for _, c := range []column{colNetwork, colASN, colDomain} {
		v := strings.TrimSpace(cells[c].value)
		if v == "" {
			continue
		}
		nkeys++
		keyCol = c
		var err error
		switch c {
		case colNetwork:
			key.kind = keyNetwork
			key.pfx, err = parseNetwork(v)
		case colASN:
			key.kind = keyASN
			key.asn, err = parseASN(v)
		case colDomain:
			key.kind = keyDomain
			key.domain, err = parseDomain(v)
		}
		if err != nil {
			return b.fail(perr(c, err))
		}
	}
	switch nkeys {
	case 0:
		return b.fail(&ParseError{File: b.file, Line: line, Err: errors.New("no network, asn or domain given")})
	case 1:
	default:
		return b.fail(perr(keyCol, errors.New("give one of network, asn, domain per row")))
	}

	buf := b.buf[:0]
	for c := colCustomer; c < numColumns; c++ {
		buf = append(buf, cells[c].value...)
		buf = append(buf, 0)
	}
	b.buf = buf
	idx, ok := b.byCells[string(buf)]
	if !ok {
		cc := CustomerConfig{
			Customer:  cells[colCustomer].value,
			Name:      cells[colName].value,
			Email:     splitList(cells[colEmail].value),
			Connector: cells[colConnector].value,
			Queue:     cells[colQueue].value,
			Language:  cells[colLanguage].value,
			Tags:      splitList(cells[colTags].value),
		}
		cust, err := cc.customer(b.source)
		if err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				c, _ := columnByName(fe.field)
				return b.fail(perr(c, fe.err))
			}
			return b.fail(&ParseError{File: b.file, Line: line, Err: err})
		}
		idx = uint32(len(b.custs))
		b.custs = append(b.custs, cloneCustomer(cust))
		b.byCells[string(buf)] = idx
	}

	var i int
	var dup bool
	switch key.kind {
	case keyNetwork:
		i, dup = b.nets[key.pfx]
	case keyASN:
		i, dup = b.asns[key.asn]
	case keyDomain:
		i, dup = b.domains[key.domain]
	}
	if dup {
		return b.merge(&b.pending[i], idx, keyCol, perr)
	}
	n := len(b.pending)
	switch key.kind {
	case keyNetwork:
		b.nets[key.pfx] = n
	case keyASN:
		b.asns[key.asn] = n
	case keyDomain:
		key.domain = strings.Clone(key.domain)
		b.domains[key.domain] = n
	}
	b.pending = append(b.pending, pending{key: key, cust: idx, line: line})
	return true
}

// merge adds a repeated row's customer to the first row of its key: the
// same customer id adds its e-mails and tags, another id is an error.
func (b *builder) merge(p *pending, idx uint32, keyCol column, perr func(column, error) *ParseError) bool {
	if p.cust == idx {
		return true
	}
	old, add := b.custs[p.cust], b.custs[idx]
	if old.Key != add.Key {
		return b.fail(perr(keyCol, fmt.Errorf("%s is already given to customer %q on line %d", keyString(p.key), old.Key, p.line)))
	}
	m := old
	m.Emails = slices.Clone(old.Emails)
	m.Tags = slices.Clone(old.Tags)
	for _, e := range add.Emails {
		m.Emails = appendUnique(m.Emails, e)
	}
	for _, tg := range add.Tags {
		m.Tags = appendUnique(m.Tags, tg)
	}
	var kb strings.Builder
	writeCustomerKey(&kb, &m)
	if j, ok := b.merged[kb.String()]; ok {
		p.cust = j
		return true
	}
	p.cust = uint32(len(b.custs))
	b.custs = append(b.custs, m)
	b.merged[kb.String()] = p.cust
	return true
}

func keyString(k entryKey) string {
	switch k.kind {
	case keyNetwork:
		return k.pfx.String()
	case keyASN:
		return "AS" + strconv.FormatInt(k.asn, 10)
	}
	return k.domain
}

// build returns the table, or the bad rows joined.
func (b *builder) build() (*table, error) {
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	t := &table{
		asns:      make(map[int64]netEntry, len(b.asns)),
		domains:   make(map[string]netEntry, len(b.domains)),
		customers: b.custs,
		entries:   len(b.pending),
	}
	// The canonical names of all networks share one allocation.
	var arena []byte
	offsets := make([]uint32, 0, len(b.pending))
	for _, p := range b.pending {
		offsets = append(offsets, uint32(len(arena)))
		if p.key.kind == keyNetwork {
			arena = p.key.pfx.AppendTo(arena)
		}
	}
	names := string(arena)
	for i, p := range b.pending {
		switch p.key.kind {
		case keyNetwork:
			end := len(names)
			if i+1 < len(offsets) {
				end = int(offsets[i+1])
			}
			t.nets.Insert(p.key.pfx, netEntry{network: names[offsets[i]:end], cust: p.cust})
		case keyASN:
			t.asns[p.key.asn] = netEntry{network: keyString(p.key), cust: p.cust}
		case keyDomain:
			t.domains[p.key.domain] = netEntry{network: p.key.domain, cust: p.cust}
		}
	}
	return t, nil
}

func writeCustomerKey(b *strings.Builder, c *Customer) {
	for _, s := range []string{c.Key, c.Name, c.Connector, c.Queue, c.Language} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, s := range c.Emails {
		b.WriteString(s)
		b.WriteByte(1)
	}
	b.WriteByte(0)
	for _, s := range c.Tags {
		b.WriteString(s)
		b.WriteByte(1)
	}
}

// parseNetwork reads a CIDR prefix or a single address, v4 or v6. Host bits
// are cleared (10.1.2.3/8 is 10.0.0.0/8); an IPv4-mapped IPv6 prefix
// becomes the IPv4 prefix it maps.
func parseNetwork(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (want CIDR like 192.0.2.0/24 or 2001:db8::/32, or one address)", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (want CIDR like 192.0.2.0/24 or 2001:db8::/32, or one address)", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix must be /96 or longer", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// parseASN reads "64496" or "AS64496".
func parseASN(s string) (int64, error) {
	v := s
	if len(v) > 2 && (v[0] == 'A' || v[0] == 'a') && (v[1] == 'S' || v[1] == 's') {
		v = v[2:]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > 1<<32-1 {
		return 0, fmt.Errorf("%q is not an AS number (want 64496 or AS64496)", s)
	}
	return n, nil
}

// parseDomain reads a domain name; "*.example.com" and ".example.com" mean
// example.com (a domain always matches its subdomains).
func parseDomain(s string) (string, error) {
	d := strings.TrimPrefix(strings.TrimPrefix(s, "*."), ".")
	d = normalizeDomain(d)
	if d == "" || len(d) > 253 {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q is not a domain name (empty or too long label)", s)
		}
		if strings.ContainsFunc(label, func(r rune) bool {
			return r <= ' ' || r == '/' || r == '@' || r == '*' || r == ':' || r == 0x7f
		}) {
			return "", fmt.Errorf("%q is not a domain name", s)
		}
	}
	return d, nil
}

// cloneCustomer copies c's strings, so that a kept customer does not pin the
// line it was read from.
func cloneCustomer(c Customer) Customer {
	c.Key = strings.Clone(c.Key)
	c.Name = strings.Clone(c.Name)
	c.Connector = strings.Clone(c.Connector)
	c.Queue = strings.Clone(c.Queue)
	c.Language = strings.Clone(c.Language)
	c.Emails = cloneStrings(c.Emails)
	c.Tags = cloneStrings(c.Tags)
	return c
}

func cloneStrings(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}
