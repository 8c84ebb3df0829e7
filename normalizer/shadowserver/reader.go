package shadowserver

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/abusegw/abusegw/normalizer"
)

// Options configure a Reader.
type Options struct {
	// ReportType forces the report type (a schema key, file name part or feed
	// name, see (*Schema).Lookup), like IntelMQ's feedname parameter.
	ReportType string
	// Filename is the report's file name. It names the report type when
	// ReportType is empty, and it is copied into every Event's RawRef and
	// every RowError.
	Filename string
	// Schema is the schema to use; nil means DefaultSchema.
	Schema *Schema
}

// Reader reads the events of one Shadowserver CSV report, one row at a time.
// It holds one row in memory, never the report.
type Reader struct {
	csv    *csvReader
	file   string
	header []string
	plan   *plan
	// pending is a row read ahead to decide the report type, returned by
	// the first Next.
	pending     []string
	pendingLine int
}

var _ normalizer.Reader = (*Reader)(nil)

// NewReader reads the CSV header from r and prepares to read its rows. The
// report type is, in order of preference, opts.ReportType, the type named by
// opts.Filename, or the one type whose columns fit the header. A report that
// is none of these is an error wrapping normalizer.ErrUnrecognized.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	s := opts.Schema
	if s == nil {
		var err error
		if s, err = DefaultSchema(); err != nil {
			return nil, err
		}
	}
	// Rows may be shorter or longer than the header (see SOURCES.md), and
	// IntelMQ's Python csv module accepts stray quotes: csvReader reads as
	// encoding/csv does with FieldsPerRecord -1 and LazyQuotes.
	cr := newCSVReader(r)

	var rep *Report
	if opts.ReportType != "" {
		var ok bool
		if rep, ok = s.Lookup(opts.ReportType); !ok {
			return nil, fmt.Errorf("shadowserver report %q: %w", opts.ReportType, ErrUnknownReport)
		}
	}

	hdr, err := cr.Read()
	if err == io.EOF {
		if rep == nil && opts.Filename != "" {
			rep, _ = s.ReportFromFilename(opts.Filename)
		}
		if rep == nil {
			return nil, fmt.Errorf("reading shadowserver report %s: empty input: %w", opts.Filename, normalizer.ErrUnrecognized)
		}
		// A report with no header has no rows either: an empty report.
		return &Reader{csv: cr, file: opts.Filename, plan: nil}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading shadowserver report %s header: %w", opts.Filename, err)
	}
	header := make([]string, len(hdr))
	for i, c := range hdr {
		header[i] = cleanColumn(c)
	}

	if rep == nil && opts.Filename != "" {
		rep, _ = s.ReportFromFilename(opts.Filename)
	}
	rd := &Reader{csv: cr, file: opts.Filename, header: header}
	if rep == nil {
		cands := s.candidates(headerSet(header))
		if len(cands) > 1 {
			// IPv4 and IPv6 variants share their columns (scan_ntp and
			// scan6_ntp): the first row's address tells them apart.
			rec, err := cr.Read()
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("reading shadowserver report %s: %w", opts.Filename, err)
			}
			if err == nil {
				rd.pending, rd.pendingLine = slices.Clone(rec), cr.Line()
				cands = byAddressFamily(cands, header, rd.pending)
			}
		}
		switch len(cands) {
		case 1:
			rep = cands[0]
		case 0:
			return nil, fmt.Errorf("shadowserver report %s: neither the file name nor the header names a known report type: %w",
				opts.Filename, normalizer.ErrUnrecognized)
		default:
			names := make([]string, len(cands))
			for i, c := range cands {
				names[i] = c.name
			}
			return nil, fmt.Errorf("shadowserver report %s: the header fits %s equally well; name the type: %w",
				opts.Filename, strings.Join(names, ", "), normalizer.ErrUnrecognized)
		}
	}
	// An older file of a type whose current definition wants columns the
	// file lacks reads with the legacy definition it fits, if any.
	rd.plan = bind(s.Resolve(rep, header), header)
	return rd, nil
}

// byAddressFamily keeps the candidates whose IP family (Report.IPv6)
// matches the address in the first row's source.ip column. When the row
// says nothing (no such column, no address), cands are returned as given.
func byAddressFamily(cands []*Report, header, row []string) []*Report {
	var out []*Report
	decided := false
	for _, c := range cands {
		col := -1
		for _, m := range c.required {
			if m.key == "source.ip" {
				col = slices.Index(header, m.column)
				break
			}
		}
		if col < 0 || col >= len(row) {
			out = append(out, c)
			continue
		}
		a, err := normalizer.ParseAddr(row[col])
		if err != nil {
			out = append(out, c)
			continue
		}
		decided = true
		if a.Is6() == c.IPv6() {
			out = append(out, c)
		}
	}
	if !decided || len(out) == 0 {
		return cands
	}
	return out
}

// Report returns the report type being read.
func (r *Reader) Report() *Report {
	if r.plan == nil {
		return nil
	}
	return r.plan.rep
}

// Header returns the report's column names.
func (r *Reader) Header() []string { return append([]string(nil), r.header...) }

// Next returns the next row's Event. It returns io.EOF at the end, and a
// *normalizer.RowError for a row it rejects; reading can go on after that.
func (r *Reader) Next() (normalizer.Event, error) {
	if r.plan == nil {
		return normalizer.Event{}, io.EOF
	}
	for {
		var (
			rec  []string
			line int
		)
		if r.pending != nil {
			rec, line, r.pending = r.pending, r.pendingLine, nil
		} else {
			var err error
			rec, err = r.csv.Read()
			if err == io.EOF {
				return normalizer.Event{}, io.EOF
			}
			if err != nil {
				// With lazy quotes and free field counts only the
				// underlying reader fails, and that ends the report.
				return normalizer.Event{}, fmt.Errorf("reading shadowserver report %s: %w", r.file, err)
			}
			line = r.csv.Line()
		}
		// Concatenated reports repeat the header; it is not a row.
		if r.plan.isHeader(rec) {
			continue
		}
		return r.plan.apply(rec, r.file, line)
	}
}

// plan is a Report bound to one file's header: for each mapping, the column
// index it reads. It is built once per file and reused for every row.
type plan struct {
	rep      *Report
	header   []string
	required []bound
	optional []bound
	// colKeys[i] is "extra."+header[i], for columns no mapping consumed.
	colKeys []string
	// consumed[i]: a mapping used column i in the current row, so it does
	// not go to extra.<column>. Scratch space, reset by apply.
	consumed []bool
	special  specialColumns
	row      rowView      // the current row, for row-aware converters
	bx       boxer        // boxes the current row's values with few allocations
	feed     []constField // feed.* fields, sanitized
	size     int          // expected number of fields per event
}

// bound is a mapping with the header position of its column (-1: absent).
type bound struct {
	mapping
	col int
}

func bind(rep *Report, header []string) *plan {
	pos := make(map[string]int, len(header))
	for i, c := range header {
		// csv.DictReader keeps the last of duplicate names; so do we.
		pos[c] = i
	}
	find := func(name string) int {
		if i, ok := pos[name]; ok {
			return i
		}
		return -1
	}
	p := &plan{
		rep:      rep,
		header:   header,
		colKeys:  make([]string, len(header)),
		consumed: make([]bool, len(header)),
	}
	for i, c := range header {
		p.colKeys[i] = "extra." + c
	}
	for _, m := range rep.required {
		p.required = append(p.required, bound{m, find(m.column)})
	}
	for _, m := range rep.optional {
		b := bound{m, find(m.column)}
		if b.col < 0 {
			continue // IntelMQ logs "Optional key not found" and goes on
		}
		p.optional = append(p.optional, b)
	}
	p.row.idx = &p.special
	p.special = specialColumns{
		ccDNS: find("cc_dns"), httpHost: find("http_host"), hostname: find("hostname"), ip: find("ip"),
		url: find("url"), httpURL: find("http_url"), application: find("application"),
		category: find("category"), detail: find("detail"),
	}
	// feed.provider is what IntelMQ's Shadowserver collectors set;
	// feed.documentation points the desk at Shadowserver's description.
	p.feed = append(p.feed, constField{"feed.name", rep.feedName}, constField{"feed.provider", "Shadowserver"})
	if rep.url != "" {
		if v, err := normalizer.Sanitize("feed.documentation", rep.url); err == nil {
			p.feed = append(p.feed, constField{"feed.documentation", v})
		}
	}
	// A first guess; apply raises it to the most fields a row has had, so
	// the map is allocated once at the right size instead of twice as big.
	// (Cloning a template map with the constant fields was tried: copying
	// the map's memory with write barriers costs more than hashing the
	// keys again.)
	p.size = len(p.feed) + len(rep.constants) + len(header)/2
	return p
}

func (p *plan) isHeader(rec []string) bool {
	if len(rec) != len(p.header) || len(rec) == 0 || cleanColumn(rec[0]) != p.header[0] {
		return false
	}
	for i, c := range rec {
		if cleanColumn(c) != p.header[i] {
			return false
		}
	}
	return true
}

// emptyValue is what IntelMQ's Message.add silently ignores.
func emptyValue(v val) bool {
	return v.kind == vString && (v.s == "" || v.s == "-" || v.s == "N/A")
}

// apply turns one record into an Event, following IntelMQ's parse_line:
// required fields first (a failure rejects the row), then optional fields (a
// value its field rejects is kept under extra.<column>), then the constant
// fields, then every column nothing consumed goes to extra.<column>.
func (p *plan) apply(rec []string, file string, line int) (normalizer.Event, error) {
	ev := normalizer.NewEvent(p.size)
	ev.Raw = normalizer.RawRef{File: file, Line: line}
	for _, f := range p.feed {
		ev.Fields[f.key] = f.value
	}
	clear(p.consumed)
	p.bx.reset()
	// The row view lives in the plan: handing a pointer to a local to the
	// converters would move it to the heap on every row.
	p.row.rec = rec

	for i := range p.required {
		b := &p.required[i]
		if b.col < 0 || b.col >= len(rec) {
			what := "not in the header"
			if b.col >= 0 {
				what = "cut off by a short row"
			}
			return normalizer.Event{}, p.rowErr(b, file, line, fmt.Errorf("%w: column %q of report %s is %s", ErrMissingColumn, b.column, p.rep.name, what))
		}
		raw := rec[b.col]
		v := str(raw)
		if b.conv != nil {
			var err error
			if v, err = b.conv.fn(raw, &p.row); err != nil {
				return normalizer.Event{}, p.rowErr(b, file, line, &normalizer.FieldError{Field: b.key, Value: raw, Err: convErr(b.conv, err)})
			}
		}
		if v.kind == vNone {
			continue // None: IntelMQ leaves the column to extra
		}
		if !emptyValue(v) {
			if err := p.set(&ev, b, v); err != nil {
				return normalizer.Event{}, p.rowErr(b, file, line, err)
			}
		}
		p.consumed[b.col] = true
	}

	for i := range p.optional {
		b := &p.optional[i]
		if b.col >= len(rec) {
			// IntelMQ's DictReader gives None for a short row's missing
			// columns: nothing to convert, nothing to keep.
			p.consumed[b.col] = true
			continue
		}
		raw := rec[b.col]
		v := str(raw)
		if b.conv != nil {
			var err error
			v, err = b.conv.fn(raw, &p.row)
			if err == errUnparsed {
				continue // keep the raw value under extra.<column>
			}
			if err != nil {
				return normalizer.Event{}, p.rowErr(b, file, line, &normalizer.FieldError{Field: b.key, Value: raw, Err: convErr(b.conv, err)})
			}
		}
		switch {
		case v.kind == vNone, b.kind == targetDrop:
		case b.kind == targetExtra:
			if v.kind == vString && v.s == "" {
				break
			}
			if v.kind == vTime {
				var buf [40]byte
				v = str(string(normalizer.AppendTime(buf[:0], v.t)))
			}
			ev.Fields[b.key] = p.box(v)
		case emptyValue(v):
		default:
			if err := p.set(&ev, b, v); err != nil {
				continue // IntelMQ: InvalidValue leaves the column to extra
			}
		}
		p.consumed[b.col] = true
	}

	// Constants win over mapped values, as IntelMQ's event.update does.
	for _, c := range p.rep.constants {
		ev.Fields[c.key] = c.value
	}

	n := min(len(rec), len(p.header))
	for i := 0; i < n; i++ {
		if p.consumed[i] || rec[i] == "" {
			continue
		}
		ev.Fields[p.colKeys[i]] = p.bx.string(toValidUTF8(rec[i]))
	}
	ev.Complete()
	p.size = max(p.size, len(ev.Fields))
	return ev, nil
}

// set sanitizes v for b's harmonization field and stores it, exactly as
// ev.Set(b.key, p.box(v)) does, but through the field's compiled sanitizer
// and with typed fast paths, so that a value is boxed once and only when
// it is stored.
func (p *plan) set(ev *normalizer.Event, b *bound, v val) error {
	f := b.san
	switch {
	case v.kind == vString && f.Kind() == normalizer.KindString:
		s, err := f.SanitizeString(toValidUTF8(v.s))
		if err != nil {
			return err
		}
		ev.SetSanitized(b.key, p.bx.string(s))
		return nil
	case v.kind == vInt && f.Kind() == normalizer.KindInt:
		n, err := f.SanitizeInt(v.n)
		if err != nil {
			return err
		}
		ev.SetSanitized(b.key, p.bx.int64(n))
		return nil
	case v.kind == vTime && f.Type() == "DateTime":
		s, err := f.SanitizeTime(v.t)
		if err != nil {
			return err
		}
		ev.SetSanitized(b.key, p.bx.string(s))
		return nil
	}
	sv, err := f.Sanitize(p.box(v))
	if err != nil {
		return err
	}
	ev.SetSanitized(b.key, sv)
	return nil
}

// box returns a converted value as Event.Set and extra.* take it. Strings
// are made valid UTF-8 (banners occasionally are not) so that every value
// can be stored and written as JSON unchanged.
func (p *plan) box(v val) any {
	switch v.kind {
	case vString:
		return p.bx.string(toValidUTF8(v.s))
	case vInt:
		return p.bx.int64(v.n)
	case vFloat:
		return p.bx.float64(v.f)
	case vBool:
		return v.b
	case vTime:
		return v.t
	}
	return nil
}

func (p *plan) rowErr(b *bound, file string, line int, err error) error {
	field := b.key
	if field == "" {
		field = b.column
	}
	col := 0
	if b.col >= 0 {
		col = b.col + 1
	}
	return &normalizer.RowError{File: file, Line: line, Column: col, Field: field, Err: err}
}

// toValidUTF8 replaces invalid UTF-8, which reports occasionally carry in
// banners, so that every value can be stored and written as JSON unchanged.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func convErr(c *converter, err error) error {
	if errors.Is(err, errUnparsed) {
		return fmt.Errorf("%w: %s: %w", normalizer.ErrInvalidValue, c.name, err)
	}
	return fmt.Errorf("%s: %w", c.name, err)
}
