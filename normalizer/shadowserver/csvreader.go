package shadowserver

import (
	"bufio"
	"bytes"
	"io"
)

// csvReader reads CSV records exactly as encoding/csv.Reader does with
// Comma ',', LazyQuotes true, FieldsPerRecord -1 and ReuseRecord true,
// which is how IntelMQ's Python csv module reads Shadowserver reports:
// empty lines are skipped, "\r\n" ends a line like "\n", a quoted field may
// span lines and contain "" for a quote, and a stray quote is kept as a
// character rather than rejected. With those settings encoding/csv returns
// no parse errors at all, only the underlying reader's; so does csvReader.
// TestCSVReaderMatchesEncodingCSV holds it to that.
//
// It exists for speed: most rows are one line whose fields are either bare
// or quoted without "" inside, and for those Read makes one string of the
// line and slices the fields out of it, without copying field by field and
// without encoding/csv's per-field position bookkeeping. Other rows take the
// general path, which follows encoding/csv's readRecord.
//
// Every record's strings are new: slices of a string made for that record
// alone. Only the []string is reused, so values that callers keep stay
// valid after the next Read.
type csvReader struct {
	r         *bufio.Reader
	numLine   int   // physical lines read
	startLine int   // line where the last record started
	offset    int64 // input bytes consumed

	rec    []string // reused record slice
	spans  []int    // fast path: field start/end offsets in the line
	buf    []byte   // general path: unquoted field contents
	ends   []int    // general path: field ends in buf
	rawBuf []byte   // a line longer than the bufio buffer
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Line is the line on which the last record read started.
func (r *csvReader) Line() int { return r.startLine }

// InputOffset is the number of input bytes consumed so far, as
// (*csv.Reader).InputOffset.
func (r *csvReader) InputOffset() int64 { return r.offset }

// readLine reads one physical line, as encoding/csv's readLine does.
func (r *csvReader) readLine() ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.rawBuf = append(r.rawBuf[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.r.ReadSlice('\n')
			r.rawBuf = append(r.rawBuf, line...)
		}
		line = r.rawBuf
	}
	n := len(line)
	if n > 0 && err == io.EOF {
		err = nil
		// A trailing \r before EOF is dropped (encoding/csv compatibility).
		if line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	r.numLine++
	r.offset += int64(n)
	// "\r\n" ends a line like "\n". The bytes belong to bufio's buffer (or
	// rawBuf) and are copied before the next read, so editing them is fine.
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, err
}

// lengthNL is 1 if b ends in a newline.
func lengthNL(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

// Read returns the next record, or io.EOF. The slice is reused by the next
// call; its strings are not.
func (r *csvReader) Read() ([]string, error) {
	var line []byte
	var errRead error
	for errRead == nil {
		line, errRead = r.readLine()
		if errRead == nil && len(line) == lengthNL(line) {
			continue // empty line
		}
		break
	}
	if errRead == io.EOF {
		return nil, io.EOF
	}
	r.startLine = r.numLine
	if r.fast(line) {
		return r.rec, errRead
	}
	return r.general(line, errRead)
}

// fast splits a one-line record whose quoted fields hold no quotes. It
// reports false, having changed nothing the general path needs, when the
// line is not of that kind.
func (r *csvReader) fast(line []byte) bool {
	n := len(line) - lengthNL(line)
	spans := r.spans[:0]
	for i := 0; ; {
		if i < n && line[i] == '"' {
			j := bytes.IndexByte(line[i+1:n], '"')
			if j < 0 {
				return false // the field goes on on the next line
			}
			end := i + 1 + j
			switch {
			case end+1 >= n: // `"` ends the line
				spans = append(spans, i+1, end)
			case line[end+1] == ',':
				spans = append(spans, i+1, end)
				i = end + 2
				continue
			default:
				return false // `""` or a bare quote
			}
			break
		}
		j := bytes.IndexByte(line[i:n], ',')
		if j < 0 {
			spans = append(spans, i, n)
			break
		}
		spans = append(spans, i, i+j)
		i += j + 1
	}
	r.spans = spans
	s := string(line[:n])
	rec := r.rec[:0]
	for k := 0; k < len(spans); k += 2 {
		rec = append(rec, s[spans[k]:spans[k+1]])
	}
	r.rec = rec
	return true
}

// general parses any record, as encoding/csv's readRecord does with
// LazyQuotes.
func (r *csvReader) general(line []byte, errRead error) ([]string, error) {
	r.buf = r.buf[:0]
	r.ends = r.ends[:0]
parseField:
	for {
		if len(line) == 0 || line[0] != '"' {
			// Unquoted field.
			i := bytes.IndexByte(line, ',')
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			r.buf = append(r.buf, field...)
			r.ends = append(r.ends, len(r.buf))
			if i >= 0 {
				line = line[i+1:]
				continue parseField
			}
			break parseField
		}
		// Quoted field.
		line = line[1:]
		for {
			i := bytes.IndexByte(line, '"')
			switch {
			case i >= 0:
				r.buf = append(r.buf, line[:i]...)
				line = line[i+1:]
				switch {
				case len(line) > 0 && line[0] == '"': // `""`
					r.buf = append(r.buf, '"')
					line = line[1:]
				case len(line) > 0 && line[0] == ',': // end of field
					line = line[1:]
					r.ends = append(r.ends, len(r.buf))
					continue parseField
				case lengthNL(line) == len(line): // end of line
					r.ends = append(r.ends, len(r.buf))
					break parseField
				default: // a bare quote is kept
					r.buf = append(r.buf, '"')
				}
			case len(line) > 0:
				// The field goes on on the next line.
				r.buf = append(r.buf, line...)
				if errRead != nil {
					break parseField
				}
				line, errRead = r.readLine()
				if errRead == io.EOF {
					errRead = nil
				}
			default:
				// End of input inside a quoted field.
				r.ends = append(r.ends, len(r.buf))
				break parseField
			}
		}
	}
	s := string(r.buf)
	rec := r.rec[:0]
	prev := 0
	for _, e := range r.ends {
		rec = append(rec, s[prev:e])
		prev = e
	}
	r.rec = rec
	return rec, errRead
}
