package mail

import (
	"encoding/base64"
	"io"
)

func base64Encoder(w io.Writer) io.WriteCloser {
	return base64.NewEncoder(base64.StdEncoding, &lineWriter{w: w})
}

// lineWriter breaks base64 into 76-character lines, as mail does.
type lineWriter struct {
	w io.Writer
	n int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if l.n == 76 {
			l.w.Write([]byte("\r\n"))
			l.n = 0
		}
		l.w.Write([]byte{c})
		l.n++
	}
	return len(p), nil
}
