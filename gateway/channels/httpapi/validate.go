package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/abusegw/abusegw/normalizer/intelmq"
)

// errEmpty is an empty request body.
var errEmpty = errors.New("the body is empty")

// badInput is a body the client must fix: a 400.
type badInput struct{ err error }

func (e *badInput) Error() string { return e.err.Error() }
func (e *badInput) Unwrap() error { return e.err }

// checkedBody passes a request body through to storage while it is read,
// remembering why reading failed, so that a failed Store can be told apart:
// the client's fault (a broken upload, too large, malformed) or ours.
type checkedBody struct {
	r   io.Reader
	n   int64
	err error // the first read error other than io.EOF
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	if err == io.EOF && b.n == 0 && b.err == nil {
		b.err = &badInput{errEmpty}
		return n, b.err
	}
	return n, err
}

// jsonEvents validates, while it streams, that a body is IntelMQ events:
// JSON objects one after the other (JSON lines), or one array of objects.
// Reading it yields the body unchanged; at its end a malformed body is a
// *badInput error instead of io.EOF, so that Store stores nothing. The
// validator holds one event at a time, never the whole body.
type jsonEvents struct {
	src  io.Reader
	pw   *io.PipeWriter
	done chan error
}

func newJSONEvents(src io.Reader) *jsonEvents {
	pr, pw := io.Pipe()
	j := &jsonEvents{src: src, pw: pw, done: make(chan error, 1)}
	go func() {
		err := validateEvents(pr)
		if err != nil {
			// Make the writer fail at once: no use reading the rest.
			pr.CloseWithError(&badInput{err})
		} else {
			_, _ = io.Copy(io.Discard, pr)
		}
		j.done <- err
	}()
	return j
}

func (j *jsonEvents) Read(p []byte) (int, error) {
	n, err := j.src.Read(p)
	if n > 0 {
		if _, werr := j.pw.Write(p[:n]); werr != nil {
			j.pw.CloseWithError(werr)
			return 0, werr
		}
	}
	if err == io.EOF {
		j.pw.Close()
		if verr := <-j.done; verr != nil {
			j.done <- verr // a later Read sees it too
			return n, &badInput{verr}
		}
		j.done <- nil
		return n, io.EOF
	}
	if err != nil {
		j.pw.CloseWithError(err)
	}
	return n, err
}

// Close stops the validator (on a body abandoned half-way).
func (j *jsonEvents) Close() {
	j.pw.CloseWithError(io.ErrClosedPipe)
}

// validateEvents checks the shape of an events body.
func validateEvents(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := firstByte(br)
	if err == io.EOF {
		return errEmpty
	}
	if err != nil {
		return err
	}
	// jsontext checks each event's syntax without building it (the
	// pipeline decodes it later), as leniently as the pipeline reads it.
	dec := intelmq.NewJSONDecoder(br)
	switch first {
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		for i := 1; ; i++ {
			switch dec.PeekKind() {
			case ']':
				if _, err := dec.ReadToken(); err != nil {
					return fmt.Errorf("malformed JSON at the end of the array: %w", err)
				}
				if _, err := dec.ReadToken(); err != io.EOF {
					return errors.New("malformed JSON: more after the array")
				}
				return nil
			case '{':
				if _, err := dec.ReadValue(); err != nil {
					return fmt.Errorf("event %d of the array: %w", i, jsonErr(err))
				}
			case 0: // an error, or the body ends
				_, err := dec.ReadToken()
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return errors.New("malformed JSON at the end of the array: the body ends inside it")
				}
				return fmt.Errorf("event %d of the array: %w", i, jsonErr(err))
			default:
				return fmt.Errorf("event %d of the array: not a JSON object", i)
			}
		}
	case '{':
		for i := 1; ; i++ {
			switch dec.PeekKind() {
			case '{':
				if _, err := dec.ReadValue(); err != nil {
					return fmt.Errorf("event %d: %w", i, jsonErr(err))
				}
			case 0:
				_, err := dec.ReadToken()
				if err == io.EOF {
					return nil
				}
				return fmt.Errorf("event %d: %w", i, jsonErr(err))
			default:
				return fmt.Errorf("event %d: not a JSON object", i)
			}
		}
	}
	return fmt.Errorf("want IntelMQ events: JSON objects, one per line, or an array of them; the body starts with %q", first)
}

// jsonErr names what was expected where the decoder says so tersely.
func jsonErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("malformed JSON: the body ends inside it")
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// firstByte returns the first byte that is not white space or a BOM,
// leaving it unread.
func firstByte(br *bufio.Reader) (byte, error) {
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}
