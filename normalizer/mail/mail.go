// Package mail unpacks abuse reports that arrive by e-mail.
//
// A Reader walks the MIME tree of one message (nested multiparts,
// message/rfc822 parts, base64 and quoted-printable, charsets), opens zip
// and gzip attachments, and hands every attachment to an injected
// PartParser, which recognises Shadowserver CSVs, IntelMQ JSON, X-ARF and the
// like (the auto package supplies it; the injection avoids an import cycle).
// A whole message (the top one, and every message/rfc822 part) is first
// offered to the injected MessageParser, which recognises ARF feedback
// reports and X-ARF v0.2 mails.
//
// When nothing in the mail is recognised as a structured report, its text
// body is read as a plain-text notice: ACNS copyright notices (XML in the
// body) are read by structure, and notices of known senders (SpamCop,
// Project Honey Pot, Clean-MX, …) by the rules in mappings/notices. A mail
// that no rule fits gives an error wrapping normalizer.ErrUnrecognized, so
// the caller keeps it for review. There is no generic fallback that would
// pick any address out of any mail: that would open cases for the wrong
// customers.
//
// Every Event carries RawRef.Part, the MIME part path ("1", "2.1", as IMAP
// numbers parts); RowErrors carry it too. Sizes, nesting depth and zip
// entries are limited (Limits), so a hostile mail cannot exhaust memory.
package mail

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"path"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets beyond UTF-8 and ASCII

	"github.com/abusegw/abusegw/mappings/notices"
	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/internal/readlimit"
)

// PartParser returns a Reader for a part it recognises and the name of its
// format ("shadowserver", "intelmq", …). For a part it does not recognise it
// returns an error wrapping normalizer.ErrUnrecognized. name is the file
// name of the attachment (or zip entry), contentType its media type.
type PartParser func(name, contentType string, body io.Reader) (normalizer.Reader, string, error)

// MessageParser is offered each whole message (the raw bytes, headers
// included) before its parts are walked: it recognises formats that span
// the message, such as ARF and X-ARF v0.2. It returns an error wrapping
// normalizer.ErrUnrecognized for a message it does not recognise.
type MessageParser func(raw []byte) (normalizer.Reader, string, error)

// Limits bound the work one mail can cause. Zero values take the defaults.
type Limits struct {
	MaxMessage      int64 // bytes of the whole mail; default 64 MiB
	MaxPart         int64 // decoded bytes of one part; default 32 MiB
	MaxDecompressed int64 // bytes out of one zip entry or gzip; default 256 MiB
	MaxDepth        int   // nesting of multiparts, messages, archives; default 10
	MaxZipEntries   int   // entries read from one zip; default 64
	MaxParts        int   // parts walked in one mail; default 500
	MaxText         int   // bytes of body text kept for notices; default 1 MiB
}

func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxMessage, 64<<20)
	def(&l.MaxPart, 32<<20)
	def(&l.MaxDecompressed, 256<<20)
	defi(&l.MaxDepth, 10)
	defi(&l.MaxZipEntries, 64)
	defi(&l.MaxParts, 500)
	defi(&l.MaxText, 1<<20)
	return l
}

// Options configure a Reader.
type Options struct {
	// File names the mail in RawRefs and errors.
	File string
	// Parts recognises attachments; nil recognises none.
	Parts PartParser
	// Message recognises whole messages (ARF, X-ARF); nil recognises none.
	Message MessageParser
	// Notices are the sender rules; nil uses the embedded ones.
	Notices *notices.Set
	// Limits bound sizes and nesting.
	Limits Limits
}

// Reader yields the events of one mail. It implements normalizer.Reader.
type Reader struct {
	opts    Options
	lim     Limits
	units   []unit
	cur     *unit
	pending []error // row errors found while walking, returned first
	formats []string
	found   bool // some part was recognised
	texts   []text
	header  message.Header
	msgErr  error // a non-"unrecognised" error from the message parser
	done    bool
	err     error
	parts   int
}

// unit is one recognised report inside the mail.
type unit struct {
	part, file string
	r          normalizer.Reader
	closer     io.Closer
}

// text is a body part kept for notice rules.
type text struct {
	part, mediaType, body string
}

var _ normalizer.Reader = (*Reader)(nil)

// NewReader reads the mail from r (at most Limits.MaxMessage bytes) and
// walks it. Parts are parsed lazily by Next; the error is for a mail that
// cannot be read at all.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	mr := &Reader{opts: opts, lim: opts.Limits.withDefaults()}
	if mr.opts.Notices == nil {
		set, err := notices.Default()
		if err != nil {
			return nil, err
		}
		mr.opts.Notices = set
	}
	raw, err := io.ReadAll(io.LimitReader(r, mr.lim.MaxMessage+1))
	if err != nil {
		return nil, fmt.Errorf("reading mail %s: %w", opts.File, err)
	}
	if int64(len(raw)) > mr.lim.MaxMessage {
		return nil, fmt.Errorf("reading mail %s: larger than %d bytes", opts.File, mr.lim.MaxMessage)
	}
	raw = stripMboxFrom(raw)
	if err := mr.walkMessage(raw, "", 0); err != nil {
		return nil, err
	}
	return mr, nil
}

// Formats lists the formats recognised in the mail so far ("notice:spamcop",
// "shadowserver", …), in order.
func (r *Reader) Formats() []string { return append([]string(nil), r.formats...) }

// Header returns the top-level header of the mail.
func (r *Reader) Header() message.Header { return r.header }

// stripMboxFrom drops a leading mbox "From " separator line.
func stripMboxFrom(raw []byte) []byte {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			return raw[i+1:]
		}
	}
	return raw
}

func (r *Reader) rowErr(part, file string, err error) error {
	if file == "" {
		file = r.opts.File
	}
	return &normalizer.RowError{File: file, Part: part, Err: err}
}

func childPath(parent string, i int) string {
	if parent == "" {
		return strconv.Itoa(i)
	}
	return parent + "." + strconv.Itoa(i)
}

// walkMessage handles a whole message whose body has part path base.
func (r *Reader) walkMessage(raw []byte, base string, depth int) error {
	if r.opts.Message != nil {
		mrd, format, err := r.opts.Message(raw)
		switch {
		case err == nil && mrd != nil:
			r.add(unit{part: base, file: r.opts.File, r: mrd}, format)
			if depth == 0 {
				if e, _ := message.Read(bytes.NewReader(raw)); e != nil {
					r.header = e.Header
				}
			}
			return nil
		case err != nil && !errors.Is(err, normalizer.ErrUnrecognized):
			if r.msgErr == nil {
				r.msgErr = err
			}
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		if depth == 0 {
			return fmt.Errorf("reading mail %s: %w: %w", r.opts.File, normalizer.ErrUnrecognized, err)
		}
		r.pending = append(r.pending, r.rowErr(base, "", fmt.Errorf("reading the attached message: %w", err)))
		return nil
	}
	if depth == 0 {
		r.header = e.Header
	}
	r.walkEntity(e, base, childPath(base, 1), depth)
	return nil
}

// walkEntity walks e. parent is the path of the enclosing multipart (or
// message) and self the path e itself gets if it is a leaf.
func (r *Reader) walkEntity(e *message.Entity, parent, self string, depth int) {
	r.parts++
	if r.parts > r.lim.MaxParts {
		if r.parts == r.lim.MaxParts+1 {
			r.pending = append(r.pending, r.rowErr(self, "", fmt.Errorf("more than %d MIME parts; the rest are ignored", r.lim.MaxParts)))
		}
		return
	}
	if depth > r.lim.MaxDepth {
		r.pending = append(r.pending, r.rowErr(self, "", fmt.Errorf("nested deeper than %d levels", r.lim.MaxDepth)))
		return
	}
	mediaType, params, _ := e.Header.ContentType()
	if mediaType == "" {
		mediaType = "text/plain"
	}
	if mr := e.MultipartReader(); mr != nil {
		for i := 1; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				if !truncated(err) {
					r.pending = append(r.pending, r.rowErr(childPath(parent, i), "", fmt.Errorf("reading MIME part: %w", err)))
				}
				return
			}
			if p == nil {
				return
			}
			r.walkEntity(p, childPath(parent, i), childPath(parent, i), depth+1)
			if r.parts > r.lim.MaxParts {
				return
			}
		}
	}
	name := partName(e.Header, params)
	body, err := readLimited(e.Body, r.lim.MaxPart)
	if err != nil && truncated(err) {
		err = nil // a mail cut short: keep what there is of its last part
	}
	if err != nil {
		r.pending = append(r.pending, r.rowErr(self, name, fmt.Errorf("reading MIME part: %w", err)))
		return
	}
	if mediaType == "message/rfc822" || mediaType == "message/global" {
		if err := r.walkMessage(body, self, depth+1); err != nil {
			r.pending = append(r.pending, err)
		}
		return
	}
	disp, _, _ := e.Header.ContentDisposition()
	isText := mediaType == "text/plain" || mediaType == "text/html"
	if isText && disp != "attachment" && name == "" {
		r.keepText(self, mediaType, body)
		return
	}
	r.handleFile(self, name, mediaType, body, depth)
	if isText {
		r.keepText(self, mediaType, body)
	}
}

func (r *Reader) keepText(part, mediaType string, body []byte) {
	kept := 0
	for _, t := range r.texts {
		kept += len(t.body)
	}
	if kept >= r.lim.MaxText {
		return
	}
	if len(body) > r.lim.MaxText-kept {
		body = body[:r.lim.MaxText-kept]
	}
	r.texts = append(r.texts, text{part: part, mediaType: mediaType, body: string(body)})
}

// handleFile opens archives and offers files to the part parser.
func (r *Reader) handleFile(part, name, mediaType string, body []byte, depth int) {
	lower := strings.ToLower(name)
	switch {
	case bytes.HasPrefix(body, []byte("PK\x03\x04")) || bytes.HasPrefix(body, []byte("PK\x05\x06")):
		r.openZip(part, name, body, depth)
		return
	case bytes.HasPrefix(body, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			r.pending = append(r.pending, r.rowErr(part, name, fmt.Errorf("opening gzip attachment: %w", err)))
			return
		}
		inner := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".GZ")
		if strings.HasSuffix(lower, ".tgz") {
			inner = name
		}
		data, err := readLimited(zr, r.lim.MaxDecompressed)
		if err != nil {
			r.pending = append(r.pending, r.rowErr(part, name, fmt.Errorf("decompressing gzip attachment: %w", err)))
			return
		}
		r.handleFile(part, inner, "", data, depth+1)
		return
	}
	r.offer(part, name, mediaType, bytes.NewReader(body), nil)
}

func (r *Reader) openZip(part, name string, body []byte, depth int) {
	if depth+1 > r.lim.MaxDepth {
		r.pending = append(r.pending, r.rowErr(part, name, fmt.Errorf("archives nested deeper than %d levels", r.lim.MaxDepth)))
		return
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		r.pending = append(r.pending, r.rowErr(part, name, fmt.Errorf("opening zip attachment: %w", err)))
		return
	}
	n := 0
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		n++
		if n > r.lim.MaxZipEntries {
			r.pending = append(r.pending, r.rowErr(part, name, fmt.Errorf("zip has more than %d entries; the rest are ignored", r.lim.MaxZipEntries)))
			return
		}
		entry := path.Base(f.Name)
		rc, err := f.Open()
		if err != nil {
			r.pending = append(r.pending, r.rowErr(part, entry, fmt.Errorf("opening zip entry: %w", err)))
			continue
		}
		head := make([]byte, 4)
		br := bufio.NewReader(readlimit.New(rc, r.lim.MaxDecompressed))
		if b, _ := br.Peek(4); len(b) >= 2 {
			copy(head, b)
		}
		if bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
			data, err := readLimited(br, r.lim.MaxPart)
			rc.Close()
			if err != nil {
				r.pending = append(r.pending, r.rowErr(part, entry, fmt.Errorf("reading zip entry: %w", err)))
				continue
			}
			r.handleFile(part, entry, "", data, depth+1)
			continue
		}
		// Stream the entry: it is read when the events are.
		r.offer(part, entry, "", br, rc)
	}
}

// offer hands a file to the part parser.
func (r *Reader) offer(part, name, mediaType string, body io.Reader, closer io.Closer) {
	if r.opts.Parts == nil {
		if closer != nil {
			closer.Close()
		}
		return
	}
	pr, format, err := safeParse(r.opts.Parts, name, mediaType, body)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		if !errors.Is(err, normalizer.ErrUnrecognized) {
			r.found = true // recognised, but broken: do not read the body as a notice
			r.pending = append(r.pending, r.rowErr(part, name, err))
		}
		return
	}
	r.add(unit{part: part, file: name, r: pr, closer: closer}, format)
}

func safeParse(p PartParser, name, mediaType string, body io.Reader) (rd normalizer.Reader, format string, err error) {
	rd, format, err = p(name, mediaType, body)
	if err == nil && rd == nil {
		return nil, "", fmt.Errorf("part %s: %w", name, normalizer.ErrUnrecognized)
	}
	return rd, format, err
}

func (r *Reader) add(u unit, format string) {
	r.found = true
	r.units = append(r.units, u)
	r.formats = append(r.formats, format)
}

// Next returns the next event of the mail, io.EOF at its end, a
// *normalizer.RowError for a part or row that could not be read (reading
// goes on), or an error wrapping normalizer.ErrUnrecognized when nothing in
// the mail was recognised.
func (r *Reader) Next() (normalizer.Event, error) {
	for {
		if r.err != nil {
			return normalizer.Event{}, r.err
		}
		if len(r.pending) > 0 {
			err := r.pending[0]
			r.pending = r.pending[1:]
			return normalizer.Event{}, err
		}
		if r.cur == nil {
			if len(r.units) == 0 {
				if r.done {
					r.err = io.EOF
					continue
				}
				r.done = true
				if err := r.finish(); err != nil {
					r.err = err
				}
				continue
			}
			r.cur = &r.units[0]
			r.units = r.units[1:]
		}
		ev, err := r.cur.r.Next()
		if err == io.EOF {
			r.closeCur()
			continue
		}
		if err != nil {
			var re *normalizer.RowError
			if errors.As(err, &re) {
				if re.Part == "" {
					re.Part = r.cur.part
				}
				if re.File == "" {
					re.File = r.cur.file
				}
				return normalizer.Event{}, err
			}
			// The part failed; the rest of the mail still goes on.
			part, file := r.cur.part, r.cur.file
			r.closeCur()
			return normalizer.Event{}, r.rowErr(part, file, err)
		}
		if ev.Raw.Part == "" {
			ev.Raw.Part = r.cur.part
		}
		if ev.Raw.File == "" {
			ev.Raw.File = r.cur.file
		}
		return ev, nil
	}
}

func (r *Reader) closeCur() {
	if r.cur.closer != nil {
		r.cur.closer.Close()
	}
	r.cur = nil
}

// finish runs once every recognised part is read: when none was, the text
// body is read as a notice.
func (r *Reader) finish() error {
	if r.found {
		return nil
	}
	evs, format, err := r.notice()
	if err != nil {
		return err
	}
	r.formats = append(r.formats, format)
	r.units = append(r.units, unit{r: &sliceReader{evs: evs}})
	r.found = true
	return nil
}

// sliceReader yields prepared events and errors.
type sliceReader struct {
	evs []any // normalizer.Event or error
}

func (s *sliceReader) Next() (normalizer.Event, error) {
	if len(s.evs) == 0 {
		return normalizer.Event{}, io.EOF
	}
	x := s.evs[0]
	s.evs = s.evs[1:]
	if ev, ok := x.(normalizer.Event); ok {
		return ev, nil
	}
	return normalizer.Event{}, x.(error)
}

// notice reads the text body with the ACNS reader and the sender rules.
func (r *Reader) notice() ([]any, string, error) {
	texts := r.noticeTexts()
	for _, t := range texts {
		if evs, ok := acns(t.body, t.part, r.opts.File); ok {
			return evs, "notice:acns", nil
		}
	}
	subject := decodeHeader(r.header.Get("Subject"))
	from := fromDomain(r.header.Get("From"))
	var all strings.Builder
	for _, t := range texts {
		all.WriteString(t.body)
		all.WriteString("\n")
	}
	body := all.String()
	for _, s := range r.opts.Notices.Senders {
		if !s.Matches(from, subject, body) {
			continue
		}
		var evs []any
		for _, t := range texts {
			evs = append(evs, applySender(s, subject, t, r.opts.File, r.header.Get("Date"))...)
		}
		if countEvents(evs) > 0 {
			return evs, "notice:" + s.Name, nil
		}
	}
	if r.msgErr != nil {
		return nil, "", r.msgErr
	}
	what := "no attachment, report part or sender rule fits"
	if from != "" {
		what += " (from " + from + ")"
	}
	return nil, "", fmt.Errorf("mail %s: %s: %w", r.opts.File, what, normalizer.ErrUnrecognized)
}

func countEvents(xs []any) int {
	n := 0
	for _, x := range xs {
		if _, ok := x.(normalizer.Event); ok {
			n++
		}
	}
	return n
}

// noticeTexts returns the text/plain parts, or the text/html parts with tags
// removed when there is no text/plain part.
func (r *Reader) noticeTexts() []text {
	var plain, html []text
	for _, t := range r.texts {
		if t.mediaType == "text/html" {
			html = append(html, text{part: t.part, mediaType: t.mediaType, body: stripTags(t.body)})
		} else {
			plain = append(plain, t)
		}
	}
	if len(plain) > 0 {
		return plain
	}
	return html
}

func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, c := range s {
		switch {
		case c == '<':
			in = true
		case c == '>' && in:
			in = false
		case !in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	return message.CharsetReader(charset, input)
}}

func decodeHeader(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// fromDomain returns the lower-case domain of a From header.
func fromDomain(h string) string {
	h = decodeHeader(h)
	addr := h
	if a, err := mail.ParseAddress(h); err == nil {
		addr = a.Address
	} else if i, j := strings.LastIndexByte(h, '<'), strings.LastIndexByte(h, '>'); i >= 0 && j > i {
		addr = h[i+1 : j]
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.Trim(strings.TrimSpace(addr[at+1:]), ">. "))
}

func partName(h message.Header, ctParams map[string]string) string {
	if _, p, err := h.ContentDisposition(); err == nil && p["filename"] != "" {
		return path.Base(p["filename"])
	}
	if ctParams["name"] != "" {
		return path.Base(ctParams["name"])
	}
	return ""
}

// truncated reports whether err says the input ended in the middle of a
// part, as it does for a mail cut short.
func truncated(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.HasSuffix(err.Error(), ": EOF")
}

// readLimited reads all of r, failing past max bytes. On an error it
// returns what it read with the error.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}
