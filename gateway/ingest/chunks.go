package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/normalizer"
)

// chunkEvents is how many events are read and placed ahead of the database
// work, and handed to it at once: small enough that a 1,000-event API batch
// already overlaps the two, large enough for the case lookups of a chunk to
// be few statements.
const chunkEvents = 250

// chunksAhead is how many chunks the reading side may have ready before
// the database side takes them: a 1,000-event API batch is read whole
// while another report holds the write lock.
const chunksAhead = 4

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
	out := make(chan *chunk, chunksAhead)
	d := p.db.Dialect()
	pr := &producer{p: p, reader: reader, reportID: reportID, received: received, dialect: d, nowArg: d.TimeArg(now)}
	go func() {
		defer close(out)
		for {
			// Fresh each time: the consumer holds the previous one. The
			// capacity is fixed so that items may point into events.
			c := &chunk{events: make([]normalizer.Event, 0, chunkEvents), args: make([]any, 0, chunkEvents*len(eventColumns))}
			end := pr.fill(ctx, c)
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

// producer is the state of one report's producing goroutine.
type producer struct {
	p        *Pipeline
	reader   normalizer.Reader
	reportID int64
	received time.Time
	dialect  store.Dialect
	nowArg   any      // the time of storing, as an argument
	seq      int      // the next accepted event's position
	keys     []string // scratch of appendEventJSON
	buf      []byte   // the current event's JSON
}

// fill reads up to chunkEvents events into c; it reports whether the
// report ended (or processing must stop).
func (pr *producer) fill(ctx context.Context, c *chunk) bool {
	for len(c.events) < chunkEvents {
		if err := ctx.Err(); err != nil {
			c.err = err
			return true
		}
		ev, err := pr.reader.Next()
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
			c.err = &processError{fmt.Errorf("reading report %d: %w", pr.reportID, err)}
			return true
		}
		ev.Raw.Report = pr.reportID
		c.sum.Events++
		if pr.buf, pr.keys, err = appendEventJSON(pr.buf[:0], &ev, pr.keys); err != nil {
			c.err = fmt.Errorf("encoding event %d: %w", pr.seq, err)
			return true
		}
		c.events = append(c.events, ev)
		row, item, err := pr.p.place(ctx, &c.events[len(c.events)-1], pr.received, &c.sum)
		if err != nil {
			c.err = err
			return true
		}
		row.seq = pr.seq
		pr.seq++
		c.args = eventArgs(c.args, pr.dialect, pr.reportID, &ev, row, pr.buf, pr.nowArg)
		if item == nil {
			c.itemOf = append(c.itemOf, -1)
			continue
		}
		c.itemOf = append(c.itemOf, len(c.items))
		c.items = append(c.items, *item)
	}
	return false
}
