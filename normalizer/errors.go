package normalizer

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// RowError reports one row (or MIME part, or JSON line) that could not be
// turned into an Event. Reading goes on after it. It is shaped like
// encoding/csv's ParseError.
type RowError struct {
	File   string // file or attachment name, if known
	Part   string // MIME part path, if the row came from a mail
	Line   int    // 1-based line of the row, 0 if not line-based
	Column int    // 1-based column, 0 if unknown
	Field  string // harmonization field or source column, if known
	Err    error
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	}
	if e.Part != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "part %s", e.Part)
	}
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteString(":")
		}
		fmt.Fprintf(&b, "line %d", e.Line)
	}
	if e.Column > 0 {
		fmt.Fprintf(&b, ", column %d", e.Column)
	}
	if e.Field != "" {
		var fe *FieldError
		if !errors.As(e.Err, &fe) || fe.Field != e.Field {
			fmt.Fprintf(&b, ", field %s", e.Field)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *RowError) Unwrap() error { return e.Err }

// ErrUnrecognized is returned when no parser recognises a report. The report
// is kept for review; it is not an error that loses it.
var ErrUnrecognized = errors.New("unrecognised report format")

// ErrTooMany is returned by ReadAll when a reader yields more than the limit.
var ErrTooMany = errors.New("reader yields more items than the limit")

// ReadAll drains r and returns its events, its rejected rows, and the error
// that ended it (nil at io.EOF). limit bounds how many items are read (0: no
// bound); past it ReadAll gives up with ErrTooMany, so a reader that never
// ends cannot hang its caller.
func ReadAll(r Reader, limit int) ([]Event, []*RowError, error) {
	var evs []Event
	var rows []*RowError
	for n := 0; limit <= 0 || n < limit; n++ {
		ev, err := r.Next()
		if err == io.EOF {
			return evs, rows, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			rows = append(rows, re)
			continue
		}
		if err != nil {
			return evs, rows, err
		}
		evs = append(evs, ev)
	}
	return evs, rows, ErrTooMany
}
