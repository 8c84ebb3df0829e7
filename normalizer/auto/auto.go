// Package auto recognises the format of a report and returns the Reader
// for it: the one entry point of `abusegw parse` and of the ingest pipeline.
//
// Detection looks at the first bytes without consuming them (bufio.Peek) and
// at the file name where that is all there is:
//
//   - gzip and zip magic: unpacked (zip entries one after the other), then
//     each file detected again;
//   - a JSON object or array: X-ARF v3/v4 (xarf.DetectJSON) or else IntelMQ
//     events;
//   - mail headers (or an mbox "From " line): a mail, which recognises ARF
//     feedback reports, X-ARF v0.1/v0.2 mails, Shadowserver and other
//     attachments, and plain-text notices by itself (package mail);
//   - an X-ARF v0.2 YAML report on its own;
//   - CSV: a Shadowserver report (by file name, or by its header columns),
//     or a configured csvmap mapping (by file name glob or header).
//
// A report nobody recognises is an error wrapping normalizer.ErrUnrecognized.
package auto

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"path"
	"regexp"
	"strings"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/arf"
	"github.com/abusegw/abusegw/normalizer/csvmap"
	"github.com/abusegw/abusegw/normalizer/intelmq"
	"github.com/abusegw/abusegw/normalizer/internal/readlimit"
	"github.com/abusegw/abusegw/normalizer/mail"
	"github.com/abusegw/abusegw/normalizer/shadowserver"
	"github.com/abusegw/abusegw/normalizer/xarf"
)

// Format names, as Info.Format and Options.Format use them.
const (
	FormatShadowserver = "shadowserver"
	FormatXARF         = "xarf"
	FormatARF          = "arf"
	FormatMail         = "mail"
	FormatIntelMQ      = "intelmq"
	FormatCSV          = "csv"
)

// Options steer detection.
type Options struct {
	// Format forces a format ("shadowserver", "xarf", "arf", "mail",
	// "intelmq", "csv"); "" detects it.
	Format string
	// Type forces the Shadowserver report type (the CLI's --type).
	Type string
	// Filename helps detection (Shadowserver file names, .eml, .json, .csv,
	// .zip, .gz) and names the report in RawRefs and errors.
	Filename string
	// ShadowserverSchema is the Shadowserver schema; nil is the default.
	ShadowserverSchema *shadowserver.Schema
	// CSV are the configured generic CSV feeds.
	CSV []csvmap.Mapping
	// MaxZip is the largest zip file read (zip needs random access, so it
	// is held in memory); default 256 MiB.
	MaxZip int64
}

// Info says what Open found.
type Info struct {
	Format string // one of the Format constants
	Detail string // report type, sender, inner formats of a mail, …
}

// peekSize is how much of the input detection looks at.
const peekSize = 64 << 10

// maxNesting bounds archives within archives and mails within mails.
const maxNesting = 6

// Open detects the format of r and returns a Reader of its events.
func Open(r io.Reader, opts Options) (normalizer.Reader, Info, error) {
	if opts.MaxZip <= 0 {
		opts.MaxZip = 256 << 20
	}
	return open(r, opts, 0)
}

func open(r io.Reader, opts Options, depth int) (normalizer.Reader, Info, error) {
	if depth > maxNesting {
		return nil, Info{}, fmt.Errorf("%s: archives or mails nested deeper than %d levels: %w", opts.Filename, maxNesting, normalizer.ErrUnrecognized)
	}
	br := bufio.NewReaderSize(r, peekSize)
	head, err := br.Peek(peekSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, Info{}, fmt.Errorf("reading %s: %w", name(opts), err)
	}
	switch opts.Format {
	case "":
	case FormatShadowserver:
		return openShadowserver(br, opts)
	case FormatXARF:
		return openXARF(br, head, opts)
	case FormatARF:
		evs, err := arf.ParseMessage(br, opts.Filename)
		return fromSlice(evs, err, opts, Info{Format: FormatARF})
	case FormatMail:
		return openMail(br, opts, depth)
	case FormatIntelMQ:
		return intelmq.NewReader(br, opts.Filename), Info{Format: FormatIntelMQ}, nil
	case FormatCSV:
		return openCSV(br, head, opts, true)
	default:
		return nil, Info{}, fmt.Errorf("unknown format %q (want shadowserver, xarf, arf, mail, intelmq or csv)", opts.Format)
	}

	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, Info{}, fmt.Errorf("opening gzip %s: %w", name(opts), err)
		}
		inner := opts
		inner.Filename = strings.TrimSuffix(strings.TrimSuffix(opts.Filename, ".gz"), ".GZ")
		rd, info, err := open(zr, inner, depth+1)
		if err != nil {
			return nil, info, err
		}
		return rd, info, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return openZip(br, opts, depth)
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(text) == 0 {
		return nil, Info{}, fmt.Errorf("%s: empty: %w", name(opts), normalizer.ErrUnrecognized)
	}
	switch {
	case text[0] == '{' || text[0] == '[':
		if xarf.DetectJSON(head) {
			return openXARF(br, head, opts)
		}
		return intelmq.NewReader(br, opts.Filename), Info{Format: FormatIntelMQ}, nil
	case looksLikeMail(head):
		return openMail(br, opts, depth)
	case xarf.DetectYAMLPart("", head):
		return openXARF(br, head, opts)
	}
	return openCSV(br, head, opts, false)
}

func name(opts Options) string {
	if opts.Filename == "" {
		return "report"
	}
	return opts.Filename
}

// mailHeader matches a header field line.
var mailHeader = regexp.MustCompile(`^[!-9;-~]+:`)

// knownHeaders are fields of which at least one must appear among the first
// header lines for the input to be taken for a mail.
var knownHeaders = map[string]bool{
	"from": true, "to": true, "subject": true, "date": true, "received": true, "return-path": true,
	"message-id": true, "mime-version": true, "content-type": true, "delivered-to": true, "x-original-to": true,
	"reply-to": true, "sender": true,
}

// looksLikeMail reports whether head starts with RFC 5322 header fields.
func looksLikeMail(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "From ") {
		lines = lines[1:]
	}
	known, fields := 0, 0
	for _, l := range lines {
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue // folded
		}
		if !mailHeader.MatchString(l) {
			return false
		}
		fields++
		k := strings.ToLower(l[:strings.IndexByte(l, ':')])
		if knownHeaders[k] {
			known++
		}
		if fields >= 40 {
			break
		}
	}
	return fields >= 2 && known >= 1
}

func openShadowserver(br *bufio.Reader, opts Options) (normalizer.Reader, Info, error) {
	rd, err := shadowserver.NewReader(br, shadowserver.Options{ReportType: opts.Type, Filename: opts.Filename, Schema: opts.ShadowserverSchema})
	if err != nil {
		return nil, Info{}, err
	}
	detail := ""
	if rep := rd.Report(); rep != nil {
		detail = rep.Name()
	}
	return rd, Info{Format: FormatShadowserver, Detail: detail}, nil
}

func openXARF(br *bufio.Reader, head []byte, opts Options) (normalizer.Reader, Info, error) {
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(text) > 0 && (text[0] == '{' || text[0] == '[') {
		evs, err := xarf.Parse(br, opts.Filename)
		return fromSlice(evs, err, opts, Info{Format: FormatXARF, Detail: "json"})
	}
	if looksLikeMail(head) {
		evs, err := xarf.ParseMessage(br, opts.Filename)
		return fromSlice(evs, err, opts, Info{Format: FormatXARF, Detail: "mail"})
	}
	body, err := io.ReadAll(io.LimitReader(br, xarf.MaxDocumentSize+1))
	if err != nil {
		return nil, Info{}, fmt.Errorf("reading %s: %w", name(opts), err)
	}
	if len(body) > xarf.MaxDocumentSize {
		return nil, Info{}, fmt.Errorf("reading %s: %w", name(opts), xarf.ErrTooLarge)
	}
	evs, err := xarf.ParseV02Report(body, nil)
	for i := range evs {
		if evs[i].Raw.File == "" {
			evs[i].Raw.File = opts.Filename
		}
	}
	return fromSlice(evs, err, opts, Info{Format: FormatXARF, Detail: "v0.2"})
}

// fromSlice turns the ([]Event, error) result of the xarf and arf parsers
// into a Reader. An error that wraps ErrUnrecognized with no events is
// returned as it is; other errors become RowErrors after the events.
func fromSlice(evs []normalizer.Event, err error, opts Options, info Info) (normalizer.Reader, Info, error) {
	if err != nil && len(evs) == 0 && errors.Is(err, normalizer.ErrUnrecognized) {
		return nil, info, err
	}
	if err != nil && len(evs) == 0 {
		var re *normalizer.RowError
		if !errors.As(err, &re) {
			if _, joined := err.(interface{ Unwrap() []error }); !joined {
				return nil, info, err
			}
		}
	}
	items := make([]any, 0, len(evs)+1)
	for _, ev := range evs {
		items = append(items, ev)
	}
	for _, e := range splitErrors(err) {
		var re *normalizer.RowError
		if !errors.As(e, &re) {
			e = &normalizer.RowError{File: opts.Filename, Err: e}
		}
		items = append(items, e)
	}
	return &sliceReader{items: items}, info, nil
}

func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// sliceReader yields prepared events and row errors.
type sliceReader struct{ items []any }

func (s *sliceReader) Next() (normalizer.Event, error) {
	if len(s.items) == 0 {
		return normalizer.Event{}, io.EOF
	}
	x := s.items[0]
	s.items = s.items[1:]
	if ev, ok := x.(normalizer.Event); ok {
		return ev, nil
	}
	return normalizer.Event{}, x.(error)
}

func openMail(br *bufio.Reader, opts Options, depth int) (normalizer.Reader, Info, error) {
	mr, err := mail.NewReader(br, mail.Options{
		File:    opts.Filename,
		Parts:   partParser(opts, depth),
		Message: messageParser(opts),
	})
	if err != nil {
		return nil, Info{}, err
	}
	h := mr.Header()
	detail := fromAddress(h.Get("From"))
	if fs := mr.Formats(); len(fs) > 0 {
		detail = strings.Join(fs, ",") + " " + detail
	}
	return mr, Info{Format: FormatMail, Detail: strings.TrimSpace(detail)}, nil
}

func fromAddress(h string) string {
	if a, err := netmail.ParseAddress(h); err == nil {
		return a.Address
	}
	return ""
}

// messageParser recognises ARF and X-ARF v0.1/v0.2 in a whole mail.
func messageParser(opts Options) mail.MessageParser {
	return func(raw []byte) (normalizer.Reader, string, error) {
		ct := ""
		if m, err := netmail.ReadMessage(bytes.NewReader(stripFrom(raw))); err == nil {
			ct = m.Header.Get("Content-Type")
		}
		if arf.IsFeedbackReport(ct) {
			evs, err := arf.ParseMessage(bytes.NewReader(raw), opts.Filename)
			rd, _, err := fromSlice(evs, err, opts, Info{})
			if err == nil {
				return rd, FormatARF, nil
			}
			if !errors.Is(err, normalizer.ErrUnrecognized) {
				return nil, "", err
			}
		}
		evs, err := xarf.ParseMessage(bytes.NewReader(raw), opts.Filename)
		rd, _, err := fromSlice(evs, err, opts, Info{})
		if err != nil {
			return nil, "", err
		}
		return rd, FormatXARF, nil
	}
}

func stripFrom(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			return raw[i+1:]
		}
	}
	return raw
}

// partParser recognises attachments: every format Open knows.
func partParser(opts Options, depth int) mail.PartParser {
	return func(name, contentType string, body io.Reader) (normalizer.Reader, string, error) {
		inner := opts
		inner.Filename = name
		inner.Format = ""
		if contentType == "message/feedback-report" {
			return nil, "", fmt.Errorf("%s: %w", name, normalizer.ErrUnrecognized)
		}
		br := bufio.NewReaderSize(body, peekSize)
		head, _ := br.Peek(peekSize)
		if xarf.DetectYAMLPart(contentType, head) {
			rd, info, err := openXARF(br, head, inner)
			return rd, info.Format, err
		}
		rd, info, err := open(br, inner, depth+1)
		if err != nil {
			return nil, "", err
		}
		return rd, info.Format, nil
	}
}

func openCSV(br *bufio.Reader, head []byte, opts Options, forced bool) (normalizer.Reader, Info, error) {
	firstLine := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		firstLine = head[:i]
	}
	if !forced {
		if opts.Type != "" || shadowserverName(opts) || sniff(opts, firstLine) {
			return openShadowserver(br, opts)
		}
	}
	for _, m := range opts.CSV {
		var header []string
		if m.HasHeader {
			header = csvmap.SplitHeader(firstLine, m.Delimiter)
		}
		if m.Matches(opts.Filename, header) || (forced && len(opts.CSV) == 1) {
			return csvmap.NewReader(br, m, opts.Filename), Info{Format: FormatCSV, Detail: m.Name}, nil
		}
	}
	if forced {
		return nil, Info{}, fmt.Errorf("%s: no configured CSV mapping matches: %w", name(opts), normalizer.ErrUnrecognized)
	}
	return nil, Info{}, fmt.Errorf("%s: not a report format abusegw knows: %w", name(opts), normalizer.ErrUnrecognized)
}

// shadowserverName reports whether the file name names a report type of
// the schema.
func shadowserverName(opts Options) bool {
	if opts.Filename == "" {
		return false
	}
	s := opts.ShadowserverSchema
	if s == nil {
		var err error
		if s, err = shadowserver.DefaultSchema(); err != nil {
			return false
		}
	}
	_, ok := s.ReportFromFilename(opts.Filename)
	return ok
}

func sniff(opts Options, line []byte) bool {
	if opts.ShadowserverSchema != nil {
		_, ok := opts.ShadowserverSchema.Sniff(line)
		return ok
	}
	_, ok := shadowserver.Sniff(line)
	return ok
}

// openZip reads a zip (bounded) and chains the readers of its entries.
func openZip(br *bufio.Reader, opts Options, depth int) (normalizer.Reader, Info, error) {
	data, err := io.ReadAll(io.LimitReader(br, opts.MaxZip+1))
	if err != nil {
		return nil, Info{}, fmt.Errorf("reading zip %s: %w", name(opts), err)
	}
	if int64(len(data)) > opts.MaxZip {
		return nil, Info{}, fmt.Errorf("reading zip %s: larger than %d bytes", name(opts), opts.MaxZip)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, Info{}, fmt.Errorf("opening zip %s: %w", name(opts), err)
	}
	z := &zipReader{opts: opts, depth: depth}
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			z.files = append(z.files, f)
		}
	}
	if len(z.files) > 1000 {
		return nil, Info{}, fmt.Errorf("zip %s has %d entries, more than 1000", name(opts), len(z.files))
	}
	// Detect the first entry now, so the caller learns the format.
	if err := z.advance(); err != nil {
		return nil, z.info, err
	}
	return z, z.info, nil
}

type zipReader struct {
	opts   Options
	depth  int
	files  []*zip.File
	cur    normalizer.Reader
	closer io.Closer
	name   string
	info   Info
	errs   []error
}

// advance opens the next entry that some format recognises.
func (z *zipReader) advance() error {
	var firstErr error
	for len(z.files) > 0 {
		f := z.files[0]
		z.files = z.files[1:]
		rc, err := f.Open()
		if err != nil {
			z.errs = append(z.errs, &normalizer.RowError{File: f.Name, Err: fmt.Errorf("opening zip entry: %w", err)})
			continue
		}
		inner := z.opts
		inner.Filename = path.Base(f.Name)
		rd, info, err := open(readlimit.New(rc, 1<<30), inner, z.depth+1)
		if err != nil {
			rc.Close()
			if firstErr == nil {
				firstErr = err
			}
			if !errors.Is(err, normalizer.ErrUnrecognized) {
				z.errs = append(z.errs, &normalizer.RowError{File: inner.Filename, Err: err})
			}
			continue
		}
		z.cur, z.closer, z.name = rd, rc, inner.Filename
		if z.info.Format == "" {
			z.info = info
		}
		return nil
	}
	if z.info.Format == "" {
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: empty zip: %w", name(z.opts), normalizer.ErrUnrecognized)
		}
		return firstErr
	}
	return io.EOF
}

func (z *zipReader) Next() (normalizer.Event, error) {
	for {
		if len(z.errs) > 0 {
			err := z.errs[0]
			z.errs = z.errs[1:]
			return normalizer.Event{}, err
		}
		if z.cur == nil {
			if err := z.advance(); err != nil {
				if len(z.errs) > 0 {
					continue
				}
				return normalizer.Event{}, err
			}
			continue
		}
		ev, err := z.cur.Next()
		if err == io.EOF {
			z.closer.Close()
			z.cur = nil
			continue
		}
		if err != nil {
			var re *normalizer.RowError
			if errors.As(err, &re) {
				return normalizer.Event{}, err
			}
			z.closer.Close()
			z.cur = nil
			return normalizer.Event{}, &normalizer.RowError{File: z.name, Err: err}
		}
		return ev, nil
	}
}
