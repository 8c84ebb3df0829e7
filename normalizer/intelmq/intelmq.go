// Package intelmq reads IntelMQ events, so that an IntelMQ pipeline can post
// its output to abusegw unchanged.
//
// Three shapes are accepted, told apart by the first bytes:
//
//   - JSON lines (one event per line, IntelMQ's file output and the
//     "json" parser input): a line that is not a valid event is a
//     *normalizer.RowError with its line number and the next line is read;
//   - a JSON array of events (what a pipeline posts in one request), streamed
//     element by element;
//   - one or more JSON objects written in any layout (a pretty-printed
//     event), streamed value by value.
//
// In the last two shapes a syntax error ends the report, since a JSON stream
// cannot be resynchronised; an element that is valid JSON but not a valid
// event is still only a RowError.
//
// Keys are harmonization names ("source.ip"), or the hierarchical form IntelMQ
// writes with hierarchical_output ({"source": {"ip": …}}). Every value goes
// through normalizer.Event.Set and is sanitized the way IntelMQ sanitizes it:
// legacy classification.type values ("botnet drone", "c&c") are mapped to
// their IntelMQ 3 names. As in IntelMQ, null and empty-string values are
// ignored and a value that does not fit its field rejects the event. Keys
// that are not harmonization fields are kept under extra.<key>; an "extra"
// key holding an object (or a JSON string of one, as IntelMQ's JSONDict type
// allows) is flattened into extra.<name>; "__type" is dropped.
//
// "raw" (base64 of the line the event was parsed from) is kept when it is at
// most MaxRaw bytes long and dropped otherwise, so that a chatty feed does
// not double the size of every stored event; the Event's RawRef still points
// at the line.
package intelmq

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/abusegw/abusegw/normalizer"
)

// MaxRaw is the longest "raw" value (base64 text) that is kept on an Event.
const MaxRaw = 8 << 10

// MaxLine is the longest JSON line (or array element, or object) read. A
// longer line is a RowError (JSON lines) or ends the report (other shapes).
const MaxLine = 16 << 20

// maxDepth bounds the nesting of hierarchical keys that are flattened.
const maxDepth = 16

// Reader yields the events of an IntelMQ JSON report. It implements
// normalizer.Reader.
type Reader struct {
	file string
	br   *bufio.Reader
	mode mode
	line int // JSON lines: the line last read
	// dec decodes the input (array and stream modes) or each line in turn
	// (JSON lines: Reset keeps its buffers).
	dec *jsontext.Decoder

	// array and stream modes
	track *lineTracker
	done  bool
	err   error // sticky error that ends the report
}

type mode int

const (
	modeUnknown mode = iota
	modeLines
	modeArray
	modeStream
)

var _ normalizer.Reader = (*Reader)(nil)

// NewReader returns a Reader for r. file names the report in RawRefs and
// errors; it may be empty.
func NewReader(r io.Reader, file string) *Reader {
	return &Reader{file: file, br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next event, io.EOF at the end, a *normalizer.RowError for
// an item that is not a valid event (reading may go on), or another error
// that ends the report.
func (r *Reader) Next() (normalizer.Event, error) {
	if r.err != nil {
		return normalizer.Event{}, r.err
	}
	if r.mode == modeUnknown {
		if err := r.detect(); err != nil {
			r.err = err
			return normalizer.Event{}, err
		}
	}
	var ev normalizer.Event
	var err error
	switch r.mode {
	case modeLines:
		ev, err = r.nextLine()
	default:
		ev, err = r.nextValue()
	}
	if err != nil {
		var re *normalizer.RowError
		if !errors.As(err, &re) {
			r.err = err
		}
	}
	return ev, err
}

// detect looks at the first bytes to choose the shape.
func (r *Reader) detect() error {
	skipped, err := skipBOMAndSpace(r.br)
	r.line = skipped
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("reading IntelMQ events: %w", err)
	}
	b, err := r.br.Peek(1)
	if err != nil {
		return fmt.Errorf("reading IntelMQ events: %w", err)
	}
	switch b[0] {
	case '[':
		r.mode = modeArray
		r.startDecoder()
		if _, err := r.dec.ReadToken(); err != nil {
			return fmt.Errorf("reading IntelMQ events: %w", err)
		}
		return nil
	case '{':
	default:
		return fmt.Errorf("reading IntelMQ events: expected a JSON object or array, found %q: %w", b[0], normalizer.ErrUnrecognized)
	}
	// A first line that holds a whole object means JSON lines.
	peek, _ := r.br.Peek(r.br.Size())
	if i := bytes.IndexByte(peek, '\n'); i >= 0 && json.Valid(peek[:i]) {
		r.mode = modeLines
		return nil
	} else if i < 0 && len(peek) < r.br.Size() && json.Valid(peek) {
		r.mode = modeLines // a single line without a newline
		return nil
	}
	r.mode = modeStream
	r.startDecoder()
	return nil
}

func (r *Reader) startDecoder() {
	r.track = &lineTracker{r: r.br, line: r.line + 1}
	r.dec = NewJSONDecoder(r.track)
}

// skipBOMAndSpace drops a UTF-8 byte order mark and leading white space and
// returns the number of newlines it dropped.
func skipBOMAndSpace(br *bufio.Reader) (int, error) {
	lines := 0
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	for {
		b, err := br.Peek(1)
		if err != nil {
			return lines, err
		}
		switch b[0] {
		case '\n':
			lines++
			_, _ = br.Discard(1)
		case ' ', '\t', '\r':
			_, _ = br.Discard(1)
		default:
			return lines, nil
		}
	}
}

func (r *Reader) nextLine() (normalizer.Event, error) {
	for {
		line, tooLong, err := readLine(r.br, MaxLine)
		if err != nil && len(line) == 0 && !tooLong {
			if err == io.EOF {
				return normalizer.Event{}, io.EOF
			}
			return normalizer.Event{}, fmt.Errorf("reading %s: %w", r.name(), err)
		}
		r.line++
		if tooLong {
			return normalizer.Event{}, r.rowErr(r.line, "", fmt.Errorf("line longer than %d bytes", MaxLine))
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if r.dec == nil {
			r.dec = NewJSONDecoder(bytes.NewReader(line))
		} else {
			r.dec.Reset(bytes.NewReader(line), jsonOptions...)
		}
		m, err := decodeObject(r.dec)
		if err != nil {
			return normalizer.Event{}, r.rowErr(r.line, "", fmt.Errorf("not a JSON object: %w", err))
		}
		if _, err := r.dec.ReadToken(); err != io.EOF {
			return normalizer.Event{}, r.rowErr(r.line, "", errors.New("more than one JSON value on the line"))
		}
		return r.event(m, r.line)
	}
}

// readLine reads one line without its newline, at most max bytes. A longer
// line is consumed to its end and reported with tooLong.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > max {
			tooLong = true
		} else {
			buf = append(buf, frag...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, nil
		}
		if err != nil {
			return buf, false, err
		}
		return buf, false, nil
	}
}

func (r *Reader) nextValue() (normalizer.Event, error) {
	if r.done {
		return normalizer.Event{}, io.EOF
	}
	switch k := r.dec.PeekKind(); {
	case r.mode == modeArray && k == ']':
		if _, err := r.dec.ReadToken(); err != nil {
			return normalizer.Event{}, fmt.Errorf("reading %s: %w", r.name(), err)
		}
		if _, err := r.dec.ReadToken(); err != io.EOF {
			return normalizer.Event{}, fmt.Errorf("reading %s: data after the JSON array", r.name())
		}
		r.done = true
		return normalizer.Event{}, io.EOF
	case r.mode == modeStream && k == 0:
		// The end, or what is not JSON.
		_, err := r.dec.ReadToken()
		if err == io.EOF {
			r.done = true
			return normalizer.Event{}, io.EOF
		}
		return normalizer.Event{}, fmt.Errorf("reading %s: line %d: %w", r.name(), r.track.lineOfValue(r.dec.InputOffset()), err)
	}
	start := r.dec.InputOffset()
	v, err := decodeValue(r.dec)
	if err != nil {
		line := r.track.lineOfValue(start)
		return normalizer.Event{}, fmt.Errorf("reading %s: line %d: %w", r.name(), line, err)
	}
	line := r.track.lineOfValue(start)
	r.track.forget(r.dec.InputOffset())
	if r.track.overflow {
		return normalizer.Event{}, fmt.Errorf("reading %s: line %d: JSON value longer than %d bytes", r.name(), line, MaxLine)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return normalizer.Event{}, r.rowErr(line, "", fmt.Errorf("expected a JSON object, got %s", jsonKind(v)))
	}
	return r.event(m, line)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func (r *Reader) name() string {
	if r.file == "" {
		return "IntelMQ events"
	}
	return r.file
}

func (r *Reader) rowErr(line int, field string, err error) *normalizer.RowError {
	return &normalizer.RowError{File: r.file, Line: line, Field: field, Err: err}
}

// event turns one decoded object into an Event.
func (r *Reader) event(m map[string]any, line int) (normalizer.Event, error) {
	if t, ok := m["__type"].(string); ok && !strings.EqualFold(t, "Event") {
		return normalizer.Event{}, r.rowErr(line, "__type", fmt.Errorf("an IntelMQ %s, not an Event", t))
	}
	ev := normalizer.NewEvent(len(m))
	ev.Raw = normalizer.RawRef{File: r.file, Line: line}
	if err := addFields(&ev, "", m, 0); err != nil {
		var fe *normalizer.FieldError
		field := ""
		if errors.As(err, &fe) {
			field = fe.Field
		}
		return normalizer.Event{}, r.rowErr(line, field, err)
	}
	if !hasHarmonized(ev) {
		return normalizer.Event{}, r.rowErr(line, "", errors.New("no IntelMQ field in the object (not an IntelMQ event)"))
	}
	ev.Complete()
	return ev, nil
}

// hasHarmonized reports whether ev has a field other than extra.* and raw.
func hasHarmonized(ev normalizer.Event) bool {
	for k := range ev.Fields {
		if k != "raw" && !strings.HasPrefix(k, "extra.") {
			return true
		}
	}
	return false
}

// addFields adds the keys of m, prefixed with prefix, to ev.
func addFields(ev *normalizer.Event, prefix string, m map[string]any, depth int) error {
	if depth > maxDepth {
		return &normalizer.FieldError{Field: strings.TrimSuffix(prefix, "."), Value: "…", Err: errors.New("nested too deeply")}
	}
	// A field may come both flat and inside an object ("source.ip" and
	// {"source": {"ip": …}}, "extra.x" and {"extra": {"x": …}}): objects go
	// last, in key order, so that the same event ends the same every time
	// (the object's value wins), not as the map's order falls.
	var objects []string
	for k, v := range m {
		key := prefix + k
		if _, isObject := v.(map[string]any); isObject || key == "extra" {
			objects = append(objects, k)
			continue
		}
		if err := addField(ev, key, v, depth); err != nil {
			return err
		}
	}
	slices.Sort(objects)
	for _, k := range objects {
		if err := addField(ev, prefix+k, m[k], depth); err != nil {
			return err
		}
	}
	return nil
}

func addField(ev *normalizer.Event, key string, v any, depth int) error {
	switch {
	case key == "__type":
		return nil
	case key == "extra":
		return addExtra(ev, v)
	case strings.HasPrefix(key, "extra."):
		if v == nil {
			return nil
		}
		return ev.Set(key, plain(v))
	case key == "raw":
		s, ok := v.(string)
		if !ok || s == "" || len(s) > MaxRaw {
			return nil
		}
		return ev.Set(key, s)
	}
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil
	}
	if _, known := normalizer.FieldType(key); known {
		return ev.Set(key, plain(v))
	}
	if sub, ok := v.(map[string]any); ok {
		// Hierarchical output: {"source": {"ip": …}}.
		return addFields(ev, key+".", sub, depth+1)
	}
	return ev.Set("extra."+key, plain(v))
}

// addExtra flattens an "extra" object (or a JSON string holding one).
func addExtra(ev *normalizer.Event, v any) error {
	switch t := v.(type) {
	case nil:
		return nil
	case map[string]any:
		for k, x := range t {
			if x == nil || k == "" {
				continue
			}
			if err := ev.Set("extra."+k, plain(x)); err != nil {
				return err
			}
		}
		return nil
	case string:
		if strings.TrimSpace(t) == "" {
			return nil
		}
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return &normalizer.FieldError{Field: "extra", Value: t, Err: fmt.Errorf("%w: not a JSON object", normalizer.ErrInvalidValue)}
		}
		return addExtra(ev, m)
	}
	return &normalizer.FieldError{Field: "extra", Value: v, Err: fmt.Errorf("%w: expected a JSON object", normalizer.ErrInvalidValue)}
}

// plain turns json.Number (from UseNumber) into int64 or float64, also
// inside extra values, so Events hold the types normalizer.Event documents.
func plain(v any) any {
	switch t := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(string(t), 64); err == nil {
			return f
		}
		return string(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plain(x)
		}
		return out
	}
	return v
}

// lineTracker remembers the bytes the JSON decoder has read but not yet
// consumed, so the line on which a value starts can be told without keeping
// the whole input.
type lineTracker struct {
	r        io.Reader
	buf      []byte // input from offset base on
	base     int64
	line     int // line number at offset base
	overflow bool
}

func (t *lineTracker) Read(p []byte) (int, error) {
	if len(t.buf) > MaxLine+len(p) {
		t.overflow = true
		return 0, fmt.Errorf("JSON value longer than %d bytes", MaxLine)
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// lineOfValue returns the line of the first byte after off that is not
// white space, a comma or a colon: where the next value starts.
func (t *lineTracker) lineOfValue(off int64) int {
	i := int(off - t.base)
	if i < 0 {
		i = 0
	}
	if i > len(t.buf) {
		i = len(t.buf)
	}
	for i < len(t.buf) {
		c := t.buf[i]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' {
			break
		}
		i++
	}
	return t.line + bytes.Count(t.buf[:i], []byte{'\n'})
}

// forget drops the input before off.
func (t *lineTracker) forget(off int64) {
	i := int(off - t.base)
	if i <= 0 {
		return
	}
	if i > len(t.buf) {
		i = len(t.buf)
	}
	t.line += bytes.Count(t.buf[:i], []byte{'\n'})
	n := copy(t.buf, t.buf[i:])
	t.buf = t.buf[:n]
	t.base += int64(i)
}
