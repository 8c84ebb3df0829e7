package shadowserver

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	ssmap "github.com/abusegw/abusegw/mappings/shadowserver"
	"github.com/abusegw/abusegw/normalizer"
)

var (
	// ErrSchema is wrapped by every error that rejects a schema document.
	ErrSchema = errors.New("invalid shadowserver schema")
	// ErrUnknownReport is returned when a report type is not in the schema.
	ErrUnknownReport = errors.New("unknown shadowserver report type")
	// ErrMissingColumn is the cause of a RowError for a row whose required
	// column is absent from the header or cut off by a short row.
	ErrMissingColumn = errors.New("required column missing")
)

// laterIDFFields are harmonization fields that IntelMQ added after the
// version of IntelMQ harmonization whose field table the normalizer keeps (IntelMQ 3.5:
// severity, and product.* from IEP009). Shadowserver's schema already maps
// columns to them. IntelMQ's own rule for bots running on an older
// harmonization is to fall back to "extra.<field>" (certtools/intelmq#2575,
// #2671), so that is what a plan does for these fields until
// normalizer.FieldType knows them; any other unknown field is a schema error.
var laterIDFFields = map[string]bool{
	"severity":                true,
	"product.full_name":       true,
	"product.name":            true,
	"product.vendor":          true,
	"product.version":         true,
	"product.vulnerabilities": true,
}

// targetKind says where a mapped value goes.
type targetKind uint8

const (
	targetField targetKind = iota // a harmonization field, set through Event.Set
	targetExtra                   // an extra.* key, stored as converted
	targetDrop                    // the column is consumed and discarded (false in the schema)
)

// mapping is one compiled [target, column, converter, needs_row] entry.
type mapping struct {
	kind     targetKind
	key      string // event key for targetField and targetExtra
	column   string
	conv     *converter // nil: the raw value is used
	required bool
	// san sanitizes values for key when kind is targetField, resolved
	// once here instead of once per value in Event.Set.
	san *normalizer.FieldSanitizer
}

// constField is a constant_fields entry, sanitized once at load time.
type constField struct {
	key   string
	value any
}

// Report is one compiled report type of a Schema. It is immutable and safe
// for concurrent use.
type Report struct {
	name      string
	fileName  string
	feedName  string
	url       string
	required  []mapping
	optional  []mapping
	constants []constField
	columns   []string // every column the mappings read, in schema order, unique
	legacy    bool     // from the legacy overlay
}

// Name is the report's key in the schema ("event_sinkhole_http").
func (r *Report) Name() string { return r.name }

// FileName is the report name Shadowserver uses in its file names
// ("event4_sinkhole_http"); it can differ from Name.
func (r *Report) FileName() string { return r.fileName }

// FeedName is the IntelMQ feed.name of the report ("Sinkhole-HTTP-Events").
func (r *Report) FeedName() string { return r.feedName }

// URL is Shadowserver's documentation page for the report, if the schema
// names one.
func (r *Report) URL() string { return r.url }

// Columns returns the CSV columns that the report's mappings read.
func (r *Report) Columns() []string { return slices.Clone(r.columns) }

// RequiredColumns returns the columns of the report's required fields.
func (r *Report) RequiredColumns() []string {
	out := make([]string, 0, len(r.required))
	for _, m := range r.required {
		out = append(out, m.column)
	}
	return out
}

// Constants returns the constant fields (classification.* and the like) that
// every event of the report carries, already sanitized.
func (r *Report) Constants() map[string]any {
	out := make(map[string]any, len(r.constants))
	for _, c := range r.constants {
		out[c.key] = c.value
	}
	return out
}

// Schema is a parsed and compiled Shadowserver report schema. It is
// immutable and safe for concurrent use.
//
// Beside the current report types it holds the legacy overlay
// (mappings/shadowserver/legacy.json): older and retired report
// definitions, used only for report types the current schema lacks, or for
// a file whose header lacks the required columns of the current definition
// of its type (see Resolve).
type Schema struct {
	version   string
	changeLog []string
	reports   map[string]*Report // by schema key
	byFile    map[string]*Report // by file_name
	byFeed    map[string]*Report // by lower-cased feed_name
	types     []string
	legacy    *reportSet
}

// reportSet is the compiled legacy overlay. Unlike the current schema it
// may hold several definitions with the same file_name (versions of one
// report type).
type reportSet struct {
	version string
	reports []*Report            // sorted by schema key
	byName  map[string][]*Report // by schema key, file_name and lower-cased feed_name
}

func (l *reportSet) lookup(name string) []*Report {
	if l == nil {
		return nil
	}
	if rs, ok := l.byName[name]; ok {
		return rs
	}
	return l.byName[strings.ToLower(name)]
}

// LegacyTypes returns the schema keys of the legacy overlay's report types,
// sorted.
func (s *Schema) LegacyTypes() []string {
	if s.legacy == nil {
		return nil
	}
	out := make([]string, len(s.legacy.reports))
	for i, r := range s.legacy.reports {
		out[i] = r.name
	}
	return out
}

// LegacyVersion is the legacy overlay's _meta.date_created.
func (s *Schema) LegacyVersion() string {
	if s.legacy == nil {
		return ""
	}
	return s.legacy.version
}

// Legacy reports whether r comes from the legacy overlay.
func (r *Report) Legacy() bool { return r.legacy }

// IPv6 reports whether the report type is the IPv6 variant of a report
// (Shadowserver's feed names say "IPv6").
func (r *Report) IPv6() bool { return strings.Contains(r.feedName, "IPv6") }

// Resolve returns the definition to read a file of report type rep with
// the given header: rep itself when the header has all of rep's required
// columns, otherwise the legacy definition of the same type (same
// file_name) whose required columns the header has and whose columns fit
// it best. When none fits, rep is returned, and its rows will be rejected
// for the missing column.
func (s *Schema) Resolve(rep *Report, headerColumns []string) *Report {
	hdr := headerSet(headerColumns)
	if rep.fits(hdr) {
		return rep
	}
	var best *Report
	bestScore := -1.0
	for _, alt := range s.legacy.lookup(rep.fileName) {
		if alt == rep || !alt.fits(hdr) {
			continue
		}
		if sc := alt.score(hdr); sc > bestScore {
			best, bestScore = alt, sc
		}
	}
	if best == nil {
		return rep
	}
	return best
}

// fits reports whether hdr has every required column of r.
func (r *Report) fits(hdr map[string]bool) bool {
	for _, m := range r.required {
		if !hdr[m.column] {
			return false
		}
	}
	return true
}

// score is the Jaccard similarity of the header and the report's columns: a
// report that knows every header column and expects no others scores 1.
func (r *Report) score(hdr map[string]bool) float64 {
	common := 0
	for _, c := range r.columns {
		if hdr[c] {
			common++
		}
	}
	return float64(common) / float64(len(hdr)+len(r.columns)-common)
}

func headerSet(headerColumns []string) map[string]bool {
	hdr := make(map[string]bool, len(headerColumns))
	for _, c := range headerColumns {
		if c = cleanColumn(c); c != "" {
			hdr[c] = true
		}
	}
	return hdr
}

// Version is the schema's _meta.date_created, or "" if it has none.
func (s *Schema) Version() string { return s.version }

// ChangeLog returns the schema's _meta.change_log.
func (s *Schema) ChangeLog() []string { return slices.Clone(s.changeLog) }

// Types returns the schema keys of all report types, sorted.
func (s *Schema) Types() []string { return slices.Clone(s.types) }

// Lookup finds a report type by its schema key ("event_sinkhole"), by the
// name in Shadowserver's file names ("event4_sinkhole") or by its feed name
// ("Sinkhole-Events IPv4", case-insensitive). The current schema is
// searched first, then the legacy overlay ("sinkhole_http_drone").
func (s *Schema) Lookup(reportType string) (*Report, bool) {
	if r, ok := s.reports[reportType]; ok {
		return r, true
	}
	if r, ok := s.byFile[reportType]; ok {
		return r, true
	}
	if r, ok := s.byFeed[strings.ToLower(reportType)]; ok {
		return r, true
	}
	if rs := s.legacy.lookup(reportType); len(rs) > 0 {
		return rs[0], true
	}
	return nil, false
}

// ReportFromFilename returns the report type a Shadowserver file name
// denotes, as ReportTypeFromFilename parses it, looked up in the schema.
func (s *Schema) ReportFromFilename(name string) (*Report, bool) {
	t, ok := ReportTypeFromFilename(name)
	if !ok {
		return nil, false
	}
	return s.Lookup(t)
}

// schemaDoc is one report entry of the JSON document.
type schemaDoc struct {
	FileName       string            `json:"file_name"`
	FeedName       string            `json:"feed_name"`
	URL            string            `json:"url"`
	ConstantFields map[string]any    `json:"constant_fields"`
	RequiredFields []json.RawMessage `json:"required_fields"`
	OptionalFields []json.RawMessage `json:"optional_fields"`
}

type metaDoc struct {
	DateCreated string   `json:"date_created"`
	ChangeLog   []string `json:"change_log"`
}

// LoadSchema parses a Shadowserver IntelMQ schema (intelmq.json) and compiles
// every report type. Any report that does not compile (an unknown converter,
// an unknown harmonization field, a constant that does not fit its field, a
// malformed entry) makes the whole schema invalid: the error lists them all
// and wraps ErrSchema. The embedded legacy overlay is attached to every
// schema loaded.
func LoadSchema(data []byte) (*Schema, error) {
	doc, err := parseSchemaDoc(data)
	if err != nil {
		return nil, err
	}
	s := &Schema{
		version:   doc.version,
		changeLog: doc.changeLog,
		reports:   make(map[string]*Report, len(doc.reports)),
		byFile:    make(map[string]*Report, len(doc.reports)),
		byFeed:    make(map[string]*Report, len(doc.reports)),
	}
	var errs []error
	for _, r := range doc.reports {
		if prev, dup := s.byFile[r.fileName]; dup {
			errs = append(errs, fmt.Errorf("report %s: file_name %q already used by %s", r.name, r.fileName, prev.name))
			continue
		}
		s.reports[r.name] = r
		s.byFile[r.fileName] = r
		if _, dup := s.byFeed[strings.ToLower(r.feedName)]; !dup {
			s.byFeed[strings.ToLower(r.feedName)] = r
		}
		s.types = append(s.types, r.name)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrSchema, errors.Join(errs...))
	}
	if s.legacy, err = defaultLegacy(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadLegacy compiles a legacy overlay document, which has the shape of
// intelmq.json but may define one file_name more than once.
func loadLegacy(data []byte) (*reportSet, error) {
	doc, err := parseSchemaDoc(data)
	if err != nil {
		return nil, err
	}
	l := &reportSet{version: doc.version, reports: doc.reports, byName: make(map[string][]*Report)}
	for _, r := range doc.reports {
		r.legacy = true
		seen := make(map[string]bool, 3)
		for _, k := range []string{r.name, r.fileName, strings.ToLower(r.feedName)} {
			if !seen[k] {
				seen[k] = true
				l.byName[k] = append(l.byName[k], r)
			}
		}
	}
	return l, nil
}

// defaultLegacy compiles the embedded legacy overlay once.
var defaultLegacy = sync.OnceValues(func() (*reportSet, error) {
	l, err := loadLegacy(ssmap.Legacy)
	if err != nil {
		return nil, fmt.Errorf("loading embedded legacy shadowserver definitions: %w", err)
	}
	return l, nil
})

// schemaFile is a decoded and compiled schema document.
type schemaFile struct {
	version   string
	changeLog []string
	reports   []*Report // sorted by schema key
}

// parseSchemaDoc decodes a schema document and compiles its reports.
func parseSchemaDoc(data []byte) (*schemaFile, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrSchema, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrSchema)
	}
	doc := &schemaFile{}
	if raw, ok := top["_meta"]; ok {
		var meta metaDoc
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("%w: _meta: %w", ErrSchema, err)
		}
		doc.version, doc.changeLog = meta.DateCreated, meta.ChangeLog
	}
	// Sorted keys make duplicate detection and error order deterministic.
	keys := make([]string, 0, len(top))
	for k := range top {
		if k != "_meta" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		r, err := compileReport(k, top[k])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		doc.reports = append(doc.reports, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrSchema, errors.Join(errs...))
	}
	if len(doc.reports) == 0 {
		return nil, fmt.Errorf("%w: no report types", ErrSchema)
	}
	return doc, nil
}

// defaultSchema parses the embedded schema once; the embedded bytes never
// change, so neither does the result.
var defaultSchema = sync.OnceValues(func() (*Schema, error) {
	s, err := LoadSchema(ssmap.Schema)
	if err != nil {
		return nil, fmt.Errorf("loading embedded shadowserver schema: %w", err)
	}
	return s, nil
})

// DefaultSchema returns the schema embedded in the binary
// (mappings/shadowserver/intelmq.json), parsed on first use.
func DefaultSchema() (*Schema, error) { return defaultSchema() }

func compileReport(name string, raw json.RawMessage) (*Report, error) {
	var d schemaDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("report %s: %w", name, err)
	}
	if d.FileName == "" {
		return nil, fmt.Errorf("report %s: missing file_name", name)
	}
	if d.FeedName == "" {
		return nil, fmt.Errorf("report %s: missing feed_name", name)
	}
	r := &Report{name: name, fileName: d.FileName, feedName: d.FeedName, url: d.URL}
	var errs []error
	seen := make(map[string]bool)
	for i, e := range d.RequiredFields {
		m, err := compileMapping(e, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("required_fields[%d]: %w", i, err))
			continue
		}
		r.required = append(r.required, m)
		if !seen[m.column] {
			seen[m.column] = true
			r.columns = append(r.columns, m.column)
		}
	}
	for i, e := range d.OptionalFields {
		m, err := compileMapping(e, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("optional_fields[%d]: %w", i, err))
			continue
		}
		r.optional = append(r.optional, m)
		if !seen[m.column] {
			seen[m.column] = true
			r.columns = append(r.columns, m.column)
		}
	}
	ckeys := make([]string, 0, len(d.ConstantFields))
	for k := range d.ConstantFields {
		ckeys = append(ckeys, k)
	}
	slices.Sort(ckeys)
	for _, k := range ckeys {
		v := d.ConstantFields[k]
		key, kind, err := resolveTarget(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("constant_fields %s: %w", k, err))
			continue
		}
		if kind == targetField {
			sv, err := normalizer.Sanitize(key, v)
			if err != nil {
				errs = append(errs, fmt.Errorf("constant_fields: %w", err))
				continue
			}
			v = sv
		}
		r.constants = append(r.constants, constField{key: key, value: v})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("report %s: %w", name, errors.Join(errs...))
	}
	return r, nil
}

// compileMapping compiles one [intelmq_key, column, converter?, needs_row?]
// entry, as IntelMQ's ShadowserverParserBot.parse_line reads it.
func compileMapping(raw json.RawMessage, required bool) (mapping, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return mapping{}, fmt.Errorf("entry %s: %w", raw, err)
	}
	if len(parts) < 2 || len(parts) > 4 {
		return mapping{}, fmt.Errorf("entry %s: want 2 to 4 elements, got %d", raw, len(parts))
	}
	m := mapping{required: required}
	if err := json.Unmarshal(parts[1], &m.column); err != nil || m.column == "" {
		return mapping{}, fmt.Errorf("entry %s: column must be a non-empty string", raw)
	}
	// The target is a field name, "extra." (keep under the column's name), or
	// false (drop the column).
	var target any
	if err := json.Unmarshal(parts[0], &target); err != nil {
		return mapping{}, fmt.Errorf("entry %s: %w", raw, err)
	}
	switch t := target.(type) {
	case bool:
		if t || required {
			return mapping{}, fmt.Errorf("entry %s: target may be false only for an optional field", raw)
		}
		m.kind = targetDrop
	case string:
		if t == "extra." {
			m.kind, m.key = targetExtra, "extra."+m.column
		} else {
			key, kind, err := resolveTarget(t)
			if err != nil {
				return mapping{}, fmt.Errorf("entry %s: %w", raw, err)
			}
			m.kind, m.key = kind, key
			if kind == targetField {
				if m.san, err = normalizer.SanitizerFor(key); err != nil {
					return mapping{}, fmt.Errorf("entry %s: %w", raw, err)
				}
			}
		}
		// IntelMQ adds required values with Event.add, which refuses
		// "extra." and unknown keys: the row could never parse.
		if required && m.kind != targetField {
			return mapping{}, fmt.Errorf("entry %s: a required field must be a harmonization field", raw)
		}
	default:
		return mapping{}, fmt.Errorf("entry %s: target must be a string or false", raw)
	}
	var convName string
	if len(parts) > 2 && string(parts[2]) != "null" {
		if err := json.Unmarshal(parts[2], &convName); err != nil {
			return mapping{}, fmt.Errorf("entry %s: converter must be a string", raw)
		}
	}
	needsRow := false
	if len(parts) > 3 && string(parts[3]) != "null" {
		if err := json.Unmarshal(parts[3], &needsRow); err != nil {
			return mapping{}, fmt.Errorf("entry %s: needs_row flag must be a boolean", raw)
		}
	}
	if convName != "" {
		c, ok := converters[convName]
		if !ok {
			return mapping{}, fmt.Errorf("entry %s: unknown converter %q", raw, convName)
		}
		// IntelMQ passes the row only when the schema asks; our converters
		// always receive it, but a mismatch means the schema and the
		// converter disagree about what the function is.
		if needsRow != c.needsRow {
			return mapping{}, fmt.Errorf("entry %s: converter %s needs_row=%t, schema says %t", raw, convName, c.needsRow, needsRow)
		}
		m.conv = c
	} else if needsRow {
		return mapping{}, fmt.Errorf("entry %s: needs_row without a converter", raw)
	}
	return m, nil
}

// resolveTarget checks an intelmq key and says how to store it.
func resolveTarget(key string) (string, targetKind, error) {
	if name, ok := strings.CutPrefix(key, "extra."); ok {
		if name == "" {
			return "", 0, fmt.Errorf("%w: %q", normalizer.ErrUnknownField, key)
		}
		return key, targetExtra, nil
	}
	if _, ok := normalizer.FieldType(key); ok {
		return key, targetField, nil
	}
	if laterIDFFields[key] {
		return "extra." + key, targetExtra, nil
	}
	return "", 0, fmt.Errorf("%w: %q", normalizer.ErrUnknownField, key)
}

// filenameRE is IntelMQ's file name pattern (ShadowserverParserBot
// __is_filename_regex), extended with the .zip/.gz suffixes Shadowserver
// mails and downloads use: an optional date, the report name, then
// "-"-separated suffixes such as the geo and "asn".
var filenameRE = regexp.MustCompile(`^(?:\d{4}-\d{2}-\d{2}-)?(\w+)(?:-\w+)*\.csv(?:\.zip|\.gz)?$`)

// ReportTypeFromFilename extracts the report name from a Shadowserver file
// name such as "2019-10-15-scan_http-sample-asn.csv", "scan_ntp.csv" or
// "2015-01-01-scan_ntp-sample-asn.csv.zip". Directories are ignored. The
// result is the schema's file_name ("event4_sinkhole"), which
// (*Schema).Lookup accepts.
func ReportTypeFromFilename(name string) (string, bool) {
	base := filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	m := filenameRE.FindStringSubmatch(strings.ToLower(base))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Detection thresholds, tuned on the IntelMQ test reports: a true match of
// a (possibly older) header scores 0.68 to 0.98, while the best wrong guess
// among current types for a report the current schema lacks (phish_url)
// scores 0.6; report types that differ by one column score within 0.05 of
// each other.
const (
	minDetectScore = 0.65
	detectMargin   = 0.05
)

// Candidates returns the report types whose columns fit headerColumns best,
// best first. It is empty when no report type has all its required columns
// in the header or the fit is weak. The legacy overlay is scored only when
// no current report type fits. More than one candidate means the header
// alone cannot tell them apart: scan_http and scan6_http share their
// columns, scan_http and scan_cwmp differ by one.
func (s *Schema) Candidates(headerColumns []string) []string {
	hdr := headerSet(headerColumns)
	if len(hdr) == 0 {
		return nil
	}
	reps := s.candidates(hdr)
	out := make([]string, len(reps))
	for i, r := range reps {
		out[i] = r.name
	}
	return out
}

// candidates is Candidates with the reports themselves.
func (s *Schema) candidates(hdr map[string]bool) []*Report {
	current := make([]*Report, len(s.types))
	for i, name := range s.types {
		current[i] = s.reports[name]
	}
	if c := scoreReports(current, hdr); len(c) > 0 {
		return c
	}
	// Only a header no current report type fits may be an older format.
	if s.legacy == nil {
		return nil
	}
	return scoreReports(s.legacy.reports, hdr)
}

// scoreReports returns the reports that fit hdr best: see Candidates.
func scoreReports(reports []*Report, hdr map[string]bool) []*Report {
	type scored struct {
		rep   *Report
		score float64
	}
	var all []scored
	best := 0.0
	for _, r := range reports {
		if !r.fits(hdr) {
			continue
		}
		sc := r.score(hdr)
		all = append(all, scored{r, sc})
		best = max(best, sc)
	}
	if best < minDetectScore {
		return nil
	}
	slices.SortStableFunc(all, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	var out []*Report
	for _, c := range all {
		if c.score < best-detectMargin {
			break
		}
		out = append(out, c.rep)
	}
	return out
}

// DetectType guesses the report type from a CSV header, for files whose name
// says nothing. It succeeds only when exactly one report type fits best (see
// Candidates).
func (s *Schema) DetectType(headerColumns []string) (string, bool) {
	c := s.Candidates(headerColumns)
	if len(c) != 1 {
		return "", false
	}
	return c[0], true
}

// Sniff reports whether line (the first line of a CSV file) looks like the
// header of a Shadowserver report, and which type it is when that is
// unambiguous. ok is true when at least one report type fits.
func (s *Schema) Sniff(line []byte) (reportType string, ok bool) {
	cols := splitHeader(line)
	c := s.Candidates(cols)
	if len(c) == 0 {
		return "", false
	}
	if len(c) == 1 {
		return c[0], true
	}
	return "", true
}

// Sniff is (*Schema).Sniff on the default schema.
func Sniff(line []byte) (reportType string, ok bool) {
	s, err := DefaultSchema()
	if err != nil {
		return "", false
	}
	return s.Sniff(line)
}

// splitHeader splits a header line into column names. Shadowserver quotes
// every header name and never puts commas or quotes inside one, so a plain
// split is enough and avoids csv's handling of a partial line.
func splitHeader(line []byte) []string {
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	parts := strings.Split(string(line), ",")
	for i, p := range parts {
		parts[i] = cleanColumn(p)
	}
	return parts
}

// cleanColumn normalises a header name: byte-order mark, spaces and quotes
// around it are not part of the name.
func cleanColumn(c string) string {
	c = strings.TrimPrefix(c, "\ufeff")
	c = strings.TrimSpace(c)
	if len(c) >= 2 && c[0] == '"' && c[len(c)-1] == '"' {
		c = c[1 : len(c)-1]
	}
	return c
}
