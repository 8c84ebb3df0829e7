// Package readlimit bounds how much is read from a stream, failing instead
// of stopping quietly, so that a decompression bomb ends with an error and a
// truncated report is never taken for a whole one.
package readlimit

import (
	"errors"
	"io"
)

// ErrExceeded is returned once more than the limit is asked for.
var ErrExceeded = errors.New("decompressed data larger than the limit")

// Reader reads at most N bytes from R, then fails with ErrExceeded.
type Reader struct {
	R io.Reader
	N int64
}

// New returns a Reader of at most n bytes of r.
func New(r io.Reader, n int64) *Reader { return &Reader{R: r, N: n} }

// Read implements io.Reader.
func (l *Reader) Read(p []byte) (int, error) {
	if l.N <= 0 {
		// Exactly at the limit: only more data is an error.
		var one [1]byte
		n, err := l.R.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		return 0, ErrExceeded
	}
	if int64(len(p)) > l.N {
		p = p[:l.N]
	}
	n, err := l.R.Read(p)
	l.N -= int64(n)
	return n, err
}
