package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/normalizer"
)

// chunkEvents is how many events are read and placed ahead of the database
// work, and handed to it at once: small enough that a 1,000-event API batch
// already overlaps the two, large enough for the case lookups of a chunk to
// be few statements.
const chunkEvents = 250

// chunk is a run of a report's events, read, encoded and placed.
type chunk struct {
	events []normalizer.Event
	// args are the events' column values (eventArgs), len(eventColumns)
	// each, made here so that the database side only has to send them.
	args []any
	// items are the events that go to a case; itemOf[i] is event i's item,
	// or -1. assigned receives the cases (cases.Session.AddAll).
	items    []cases.Item
	itemOf   []int
	assigned []cases.Assigned
	sum      Summary // events, rejected, unowned, ignored
	lastErr  string  // the last rejected row's error
	// unrecognized ends the report: the format turned out not to be what
	// detection said (the caller decides, by the events before it, whether
	// the report as a whole is unrecognised).
	unrecognized error
	err          error // processing must stop (the report fails)
}

// row returns event i's column values.
func (c *chunk) row(i int) []any {
	n := len(eventColumns)
	return c.args[i*n : (i+1)*n]
}

// produce reads, encodes and places the report's events on a goroutine of
// its own and sends them in chunks; the channel is closed after the last
// chunk, which carries the end (or err). The consumer cancels ctx to stop
// it early and must then drain the channel.
func (p *Pipeline) produce(ctx context.Context, reader normalizer.Reader, reportID int64, received, now time.Time) <-chan *chunk {
	out := make(chan *chunk, 1)
	go func() {
		defer close(out)
		var keys []string
		var buf []byte
		seq := 0
		for {
			// Fresh each time: the consumer holds the previous one. The
			// capacity is fixed so that items may point into events.
			c := &chunk{events: make([]normalizer.Event, 0, chunkEvents), args: make([]any, 0, chunkEvents*len(eventColumns))}
			end := p.fill(ctx, c, reader, reportID, received, now, &seq, &keys, &buf)
			c.assigned = make([]cases.Assigned, len(c.items))
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
			if end {
				return
			}
		}
	}()
	return out
}

// fill reads up to chunkEvents events into c; it reports whether the
// report ended (or processing must stop).
func (p *Pipeline) fill(ctx context.Context, c *chunk, reader normalizer.Reader, reportID int64, received, now time.Time, seq *int, keys *[]string, buf *[]byte) bool {
	for len(c.events) < chunkEvents {
		if err := ctx.Err(); err != nil {
			c.err = err
			return true
		}
		ev, err := reader.Next()
		if err == io.EOF {
			return true
		}
		var rowErr *normalizer.RowError
		if errors.As(err, &rowErr) {
			c.sum.Rejected++
			c.lastErr = rowErr.Error()
			continue
		}
		if errors.Is(err, normalizer.ErrUnrecognized) {
			c.unrecognized = err
			return true
		}
		if err != nil {
			c.err = &processError{fmt.Errorf("reading report %d: %w", reportID, err)}
			return true
		}
		ev.Raw.Report = reportID
		c.sum.Events++
		if *buf, *keys, err = appendEventJSON((*buf)[:0], &ev, *keys); err != nil {
			c.err = fmt.Errorf("encoding event %d: %w", *seq, err)
			return true
		}
		c.events = append(c.events, ev)
		row, item, err := p.place(ctx, &c.events[len(c.events)-1], received, &c.sum)
		if err != nil {
			c.err = err
			return true
		}
		row.seq = *seq
		*seq++
		c.args = eventArgs(c.args, reportID, &ev, row, *buf, now)
		if item == nil {
			c.itemOf = append(c.itemOf, -1)
			continue
		}
		c.itemOf = append(c.itemOf, len(c.items))
		c.items = append(c.items, *item)
	}
	return false
}
