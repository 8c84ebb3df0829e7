// Package csvmap reads CSV reports whose columns are mapped to event fields
// by configuration, for feeds that have no parser of their own.
//
// A Mapping names the feed, maps CSV columns to harmonization fields, sets
// constant fields (classification.type: scanner), and says how to recognise
// its files (a file name glob and/or header columns). It is meant to be
// embedded in the configuration file:
//
//	normalizer:
//	  csv:
//	    - name: example-scanners
//	      match:
//	        filename: "scanners-*.csv"
//	      columns:
//	        ip: source.ip
//	        seen: time.source
//	        port: source.port
//	        comment: "-"          # "-" drops a column
//	      time_format: "%Y-%m-%d %H:%M:%S"
//	      constant:
//	        classification.type: scanner
//	        classification.identifier: example-scan
//
// Columns that are not mapped go to extra.<column> (the name lower-cased,
// runs of other characters than a-z, 0-9 and _ replaced by _). Empty cells
// are skipped. A cell that does not fit its field rejects the row with a
// *normalizer.RowError that names the line, column and field; the next row
// is read.
package csvmap

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/abusegw/abusegw/normalizer"
)

// Mapping describes one CSV feed.
type Mapping struct {
	// Name is the feed.name of every event (unless Constant sets feed.name).
	Name string `yaml:"name" json:"name"`
	// Columns maps a CSV column (its header name, or its 1-based position
	// "1", "2", … when the file has no header) to an event field. A field
	// "-" or "" drops the column.
	Columns map[string]string `yaml:"columns" json:"columns"`
	// TimeFormat is how DateTime columns (time.source, …) are written:
	//   - "" : any of the common formats normalizer.ParseTime knows;
	//   - "unix" or "%s": seconds since 1970, "unix_ms": milliseconds;
	//   - a layout with % directives (strftime-ish): %Y %y %m %d %e %H %I
	//     %M %S %f (microseconds, after a '.') %p %b %B %a %A %j %z %Z %T
	//     %F %%;
	//   - otherwise a Go time layout ("2006-01-02 15:04:05").
	// A time without a zone is UTC.
	TimeFormat string `yaml:"time_format" json:"time_format"`
	// Constant sets fields on every event (classification.type: scanner).
	Constant map[string]string `yaml:"constant" json:"constant"`
	// Delimiter is the field separator: one character, "tab" or "\t";
	// default ",".
	Delimiter string `yaml:"delimiter" json:"delimiter"`
	// HasHeader says the first row names the columns. It defaults to true
	// when a Mapping is read from YAML; a Mapping built in Go must set it.
	HasHeader bool `yaml:"has_header" json:"has_header"`
	// Match says which files this mapping is for.
	Match Match `yaml:"match" json:"match"`
}

// Match selects the files a Mapping applies to. Both criteria that are set
// must hold. With neither set, a file matches when its header has every
// column named in Columns.
type Match struct {
	// Filename is a glob (path.Match syntax, case-insensitive) on the base
	// name of the file, e.g. "*-scanners.csv".
	Filename string `yaml:"filename" json:"filename"`
	// Header lists columns that the header must contain (any order, case-
	// insensitive).
	Header []string `yaml:"header" json:"header"`
}

// UnmarshalYAML reads a Mapping with HasHeader defaulting to true. It has the
// signature both go.yaml.in/yaml and goccy/go-yaml call.
func (m *Mapping) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Mapping
	p := plain{HasHeader: true}
	if err := unmarshal(&p); err != nil {
		return err
	}
	*m = Mapping(p)
	return m.Validate()
}

// Validate checks the mapping: known fields, valid constants, a usable
// delimiter and time format, a valid glob.
func (m *Mapping) Validate() error {
	var errs []error
	if _, err := m.delimiter(); err != nil {
		errs = append(errs, err)
	}
	for col, field := range m.Columns {
		if field == "" || field == "-" {
			continue
		}
		if _, ok := normalizer.FieldType(field); !ok || field == "extra" {
			errs = append(errs, fmt.Errorf("column %q: unknown field %q", col, field))
		}
		if !m.HasHeader {
			if n, err := strconv.Atoi(col); err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("column %q: without a header, columns are named by position (1, 2, …)", col))
			}
		}
	}
	ev := normalizer.NewEvent(len(m.Constant))
	for field, v := range m.Constant {
		if err := ev.Set(field, v); err != nil {
			errs = append(errs, fmt.Errorf("constant: %w", err))
		}
	}
	if m.Match.Filename != "" {
		if _, err := filepath.Match(m.Match.Filename, ""); err != nil {
			errs = append(errs, fmt.Errorf("match.filename %q: %w", m.Match.Filename, err))
		}
	}
	if _, err := compileTimeFormat(m.TimeFormat); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		name := m.Name
		if name == "" {
			name = "(unnamed)"
		}
		return fmt.Errorf("csv mapping %s: %w", name, err)
	}
	return nil
}

func (m *Mapping) delimiter() (rune, error) {
	switch m.Delimiter {
	case "":
		return ',', nil
	case "tab", `\t`:
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(m.Delimiter)
	if n != len(m.Delimiter) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		return 0, fmt.Errorf("delimiter %q: want one character", m.Delimiter)
	}
	return r, nil
}

// MatchesFilename reports whether the mapping's filename glob is set and
// matches the base name of filename.
func (m *Mapping) MatchesFilename(filename string) bool {
	if m.Match.Filename == "" || filename == "" {
		return false
	}
	ok, _ := filepath.Match(strings.ToLower(m.Match.Filename), strings.ToLower(filepath.Base(filename)))
	return ok
}

// Matches reports whether a file with this name and header row is for this
// mapping (see Match). header may be nil when the first row is unknown.
func (m *Mapping) Matches(filename string, header []string) bool {
	if m.Match.Filename != "" && !m.MatchesFilename(filename) {
		return false
	}
	required := m.Match.Header
	if len(required) == 0 && m.Match.Filename == "" {
		if !m.HasHeader {
			return false
		}
		for col, field := range m.Columns {
			if field != "" && field != "-" {
				required = append(required, col)
			}
		}
		if len(required) == 0 {
			return false
		}
	}
	if len(required) == 0 {
		return true
	}
	if header == nil {
		return false
	}
	have := make(map[string]bool, len(header))
	for _, h := range header {
		have[strings.ToLower(strings.TrimSpace(h))] = true
	}
	for _, c := range required {
		if !have[strings.ToLower(strings.TrimSpace(c))] {
			return false
		}
	}
	return true
}

// Select returns the first mapping that matches filename and header.
func Select(mappings []Mapping, filename string, header []string) (Mapping, bool) {
	for _, m := range mappings {
		if m.Matches(filename, header) {
			return m, true
		}
	}
	return Mapping{}, false
}

// SplitHeader splits a header line with the mapping's delimiter (or ',' if
// the mapping's delimiter is invalid), for matching before a Reader exists.
func SplitHeader(line []byte, delimiter string) []string {
	m := Mapping{Delimiter: delimiter}
	d, err := m.delimiter()
	if err != nil {
		d = ','
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(line, bom)))
	r.Comma = d
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil {
		return nil
	}
	return rec
}

var bom = []byte("\xef\xbb\xbf")

// Reader yields the events of one CSV report. It implements
// normalizer.Reader.
type Reader struct {
	m    Mapping
	file string
	src  io.Reader
	csv  *csv.Reader
	plan []column // by position
	more []column // columns past the header (ragged rows): extra.<n>
	cons normalizer.Event
	tf   timeFormat
	err  error // sticky
	init bool
}

type column struct {
	index int
	name  string // CSV column name
	field string // event field, "" = drop
	time  bool   // a DateTime field
}

var _ normalizer.Reader = (*Reader)(nil)

// NewReader returns a Reader of r with mapping m; file names the report in
// RawRefs and errors. Errors in the mapping or the header are returned by
// the first call to Next.
func NewReader(r io.Reader, m Mapping, file string) *Reader {
	return &Reader{m: m, file: file, src: r}
}

func (r *Reader) start() error {
	if err := r.m.Validate(); err != nil {
		return err
	}
	d, _ := r.m.delimiter()
	tf, _ := compileTimeFormat(r.m.TimeFormat)
	r.tf = tf
	br := bufio.NewReader(r.src)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(3)
	}
	r.csv = csv.NewReader(br)
	r.csv.Comma = d
	r.csv.LazyQuotes = true
	r.csv.FieldsPerRecord = -1
	r.csv.ReuseRecord = true

	r.cons = normalizer.NewEvent(len(r.m.Constant) + 1)
	if r.m.Name != "" {
		if err := r.cons.Set("feed.name", r.m.Name); err != nil {
			return fmt.Errorf("csv mapping %s: %w", r.m.Name, err)
		}
	}
	for k, v := range r.m.Constant {
		if err := r.cons.Set(k, v); err != nil {
			return fmt.Errorf("csv mapping %s: constant: %w", r.m.Name, err)
		}
	}
	if !r.m.HasHeader {
		return nil
	}
	header, err := r.csv.Read()
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("reading the header of %s: %w", r.name(), err)
	}
	header = slices.Clone(header)
	byName := make(map[string]string, len(r.m.Columns))
	for col, field := range r.m.Columns {
		byName[strings.ToLower(strings.TrimSpace(col))] = field
	}
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		key := strings.ToLower(h)
		field, mapped := byName[key]
		seen[key] = true
		if !mapped {
			field = "extra." + extraName(h, i+1)
		}
		r.plan = append(r.plan, r.column(i, h, field))
	}
	var missing []string
	for col, field := range r.m.Columns {
		if field != "" && field != "-" && !seen[strings.ToLower(strings.TrimSpace(col))] {
			missing = append(missing, col)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s: header has no column %s for csv mapping %s", r.name(), strings.Join(missing, ", "), r.m.Name)
	}
	return nil
}

func (r *Reader) column(i int, name, field string) column {
	if field == "-" {
		field = ""
	}
	typ, _ := normalizer.FieldType(field)
	return column{index: i, name: name, field: field, time: typ == "DateTime"}
}

// planFor returns the column plan for position i, extending it for files
// without a header or rows longer than the header.
func (r *Reader) planFor(i int) column {
	if i < len(r.plan) {
		return r.plan[i]
	}
	for len(r.plan)+len(r.more) <= i {
		j := len(r.plan) + len(r.more)
		name := strconv.Itoa(j + 1)
		field, ok := r.m.Columns[name]
		if !ok || r.m.HasHeader {
			field = "extra.column_" + name
		}
		r.more = append(r.more, r.column(j, name, field))
	}
	return r.more[i-len(r.plan)]
}

func (r *Reader) name() string {
	if r.file == "" {
		return "CSV report"
	}
	return r.file
}

// Next returns the next event, io.EOF at the end, a *normalizer.RowError
// for a rejected row (reading goes on), or another error that ends the
// report.
func (r *Reader) Next() (normalizer.Event, error) {
	if r.err != nil {
		return normalizer.Event{}, r.err
	}
	if !r.init {
		r.init = true
		if err := r.start(); err != nil {
			r.err = err
			return normalizer.Event{}, err
		}
	}
	for {
		rec, err := r.csv.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return normalizer.Event{}, &normalizer.RowError{File: r.file, Line: pe.StartLine, Column: pe.Column, Err: pe.Err}
			}
			if err != io.EOF {
				err = fmt.Errorf("reading %s: %w", r.name(), err)
			}
			r.err = err
			return normalizer.Event{}, err
		}
		line, _ := r.csv.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		return r.event(rec, line)
	}
}

func (r *Reader) event(rec []string, line int) (normalizer.Event, error) {
	ev := normalizer.NewEvent(len(rec) + len(r.cons.Fields))
	ev.Raw = normalizer.RawRef{File: r.file, Line: line}
	for i, cell := range rec {
		col := r.planFor(i)
		cell = strings.TrimSpace(cell)
		if col.field == "" || cell == "" {
			continue
		}
		var v any = cell
		if col.time {
			t, err := r.tf.parse(cell)
			if err != nil {
				return normalizer.Event{}, &normalizer.RowError{File: r.file, Line: line, Column: i + 1, Field: col.field,
					Err: fmt.Errorf("column %s: %w", col.name, err)}
			}
			v = t
		}
		if err := ev.Set(col.field, v); err != nil {
			return normalizer.Event{}, &normalizer.RowError{File: r.file, Line: line, Column: i + 1, Field: col.field,
				Err: fmt.Errorf("column %s: %w", col.name, err)}
		}
	}
	for k, v := range r.cons.Fields {
		if !ev.Has(k) {
			ev.Fields[k] = v
		}
	}
	ev.Complete()
	return ev, nil
}

// extraName makes a CSV column name usable as an extra.* key.
func extraName(h string, pos int) string {
	var b strings.Builder
	under := false
	for _, c := range strings.ToLower(h) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	s := strings.TrimSuffix(b.String(), "_")
	if s == "" {
		return "column_" + strconv.Itoa(pos)
	}
	return s
}

// timeFormat parses DateTime cells.
type timeFormat struct {
	kind   int // 0 auto, 1 unix, 2 unix ms, 3 layout
	layout string
}

func compileTimeFormat(f string) (timeFormat, error) {
	switch strings.TrimSpace(f) {
	case "":
		return timeFormat{}, nil
	case "unix", "%s":
		return timeFormat{kind: 1}, nil
	case "unix_ms":
		return timeFormat{kind: 2}, nil
	}
	if !strings.Contains(f, "%") {
		return timeFormat{kind: 3, layout: f}, nil
	}
	layout, err := strftimeLayout(f)
	if err != nil {
		return timeFormat{}, err
	}
	return timeFormat{kind: 3, layout: layout}, nil
}

func (tf timeFormat) parse(s string) (time.Time, error) {
	switch tf.kind {
	case 1, 2:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: not a Unix time", normalizer.ErrInvalidValue)
		}
		if tf.kind == 2 {
			return time.UnixMilli(int64(n)).UTC(), nil
		}
		return normalizer.ParseTime(n)
	case 3:
		t, err := time.Parse(tf.layout, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: time %q does not have the format %q", normalizer.ErrInvalidValue, s, tf.layout)
		}
		return t.UTC(), nil
	}
	return normalizer.ParseTime(s)
}

var strftime = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03",
	'M': "04", 'S': "05", 'f': "000000", 'p': "PM", 'b': "Jan", 'h': "Jan", 'B': "January",
	'a': "Mon", 'A': "Monday", 'j': "002", 'z': "-0700", 'Z': "MST",
	'T': "15:04:05", 'F': "2006-01-02", '%': "%",
}

// strftimeLayout turns a strftime-style format into a Go layout.
func strftimeLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 >= len(f) {
			return "", fmt.Errorf("time_format %q: trailing %%", f)
		}
		i++
		s, ok := strftime[f[i]]
		if !ok {
			return "", fmt.Errorf("time_format %q: unsupported directive %%%c", f, f[i])
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
