// Package mimewalk is a tolerant MIME walker on go-message, shared by the
// X-ARF and ARF parsers: it visits each leaf part of a mail, decoded from its
// transfer encoding, within limits that keep a hostile mail cheap.
package mimewalk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Limits that keep a hostile mail from using unbounded memory or time.
const (
	MaxHeaderBytes = 256 << 10
	MaxPartBytes   = 4 << 20
	MaxParts       = 200
	MaxDepth       = 8
)

// Part is one leaf of a mail, its body decoded from its transfer
// encoding (and, when a charset reader is registered with go-message, its
// charset) and cut at MaxPartBytes.
type Part struct {
	Path      string // "1", "2.1", …; "" for a single-part mail
	Header    textproto.Header
	MediaType string
	Params    map[string]string
	Body      []byte
}

// Walk reads a mail and calls visit for each leaf part, in order.
// message/rfc822 parts are leaves. It returns the top-level header.
func Walk(r io.Reader, visit func(*Part)) (textproto.Header, error) {
	br := bufio.NewReader(r)
	h, err := ReadHeader(br)
	if err != nil {
		return h, err
	}
	if h.Len() == 0 {
		return h, errors.New("not a mail: no header")
	}
	n := 0
	walkEntity(h, br, "", 0, &n, visit)
	return h, nil
}

func walkEntity(h textproto.Header, body io.Reader, path string, depth int, n *int, visit func(*Part)) {
	mt, params := ContentType(h.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < MaxDepth {
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for i := 1; *n < MaxParts; i++ {
			p, err := mr.NextPart()
			if err != nil {
				return // io.EOF, or a broken or truncated mail: keep what we have
			}
			*n++
			child := strconv.Itoa(i)
			if path != "" {
				child = path + "." + child
			}
			walkEntity(p.Header, p, child, depth+1, n, visit)
		}
		return
	}
	var rd io.Reader = body
	// go-message decodes the transfer encoding (and charset, if a reader is
	// registered); an unknown one still yields a readable entity.
	if ent, err := message.New(message.Header{Header: h}, body); ent != nil && (err == nil || message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)) {
		rd = ent.Body
	}
	data, _ := io.ReadAll(io.LimitReader(rd, MaxPartBytes)) // a bad encoding keeps what decoded
	visit(&Part{Path: path, Header: h, MediaType: mt, Params: params, Body: data})
}

// ContentType parses a Content-Type value tolerantly: a bad parameter (a
// duplicate "name", say) does not lose the media type or the boundary.
func ContentType(v string) (string, map[string]string) {
	if v == "" {
		return "text/plain", map[string]string{}
	}
	if mt, params, err := mime.ParseMediaType(v); err == nil {
		return strings.ToLower(mt), params
	}
	parts := strings.Split(v, ";")
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if _, dup := params[k]; !dup && k != "" {
			params[k] = val
		}
	}
	return mt, params
}

// ReadHeader reads a header block tolerantly: a leading mbox "From " line
// and blank lines are skipped, folded lines are joined, CRLF and LF both end
// lines, and a line without a colon is skipped instead of ending the header.
func ReadHeader(br *bufio.Reader) (textproto.Header, error) {
	var h textproto.Header
	total := 0
	var key string
	var val strings.Builder
	flush := func() {
		if key != "" {
			h.Add(key, strings.TrimSpace(val.String()))
		}
		key = ""
		val.Reset()
	}
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An over-long line: keep its start, drop the rest.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
		}
		total += len(line)
		if total > MaxHeaderBytes {
			flush()
			return h, fmt.Errorf("mail header longer than %d bytes", MaxHeaderBytes)
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if first && (len(trimmed) == 0 || bytes.HasPrefix(trimmed, []byte("From ")) || bytes.HasPrefix(trimmed, []byte(">From "))) {
			if err != nil {
				return h, nil
			}
			if len(trimmed) > 0 {
				first = false
			}
			continue
		}
		first = false
		if len(trimmed) == 0 {
			flush()
			return h, nil
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if key != "" {
				val.WriteByte(' ')
				val.Write(bytes.TrimSpace(trimmed))
			}
		} else if i := bytes.IndexByte(trimmed, ':'); i > 0 && validKey(trimmed[:i]) {
			flush()
			key = string(bytes.TrimSpace(trimmed[:i]))
			val.Write(bytes.TrimSpace(trimmed[i+1:]))
		}
		if err != nil {
			flush()
			if err == io.EOF {
				return h, nil
			}
			return h, err
		}
	}
}

func validKey(k []byte) bool {
	k = bytes.TrimRight(k, " \t")
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 127 {
			return false
		}
	}
	return true
}

// DecodeWords decodes RFC 2047 encoded words ("=?UTF-8?B?…?=") where it can.
func DecodeWords(s string) string {
	d := mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "iso-8859-1", "latin1", "us-ascii", "windows-1252":
			b, err := io.ReadAll(io.LimitReader(input, 1<<16))
			if err != nil {
				return nil, err
			}
			r := make([]rune, len(b))
			for i, c := range b {
				r[i] = rune(c)
			}
			return strings.NewReader(string(r)), nil
		}
		return nil, fmt.Errorf("unhandled charset %q", charset)
	}}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}
