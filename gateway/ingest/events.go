package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/normalizer"
)

// eventColumns are the columns written for each event: the event's own
// fields with columns (store.EventColumns) among those of the pipeline.
var eventColumns = slices.Concat(
	[]string{"report_id", "seq", "line", "part", "time_source", "time_observation"},
	fieldColumns(),
	[]string{"customer_id", "case_id", "disposition", "fields", "created_at"},
)

func fieldColumns() []string {
	out := make([]string, len(store.EventColumns))
	for i, c := range store.EventColumns {
		out[i] = c.Column
	}
	return out
}

// batchRows is how many events go into one INSERT: large enough to amortise
// the round trip, small enough for SQLite's and PostgreSQL's parameter
// limits (22 columns × 500 = 11,000).
const batchRows = 500

// eventRow is what the pipeline decided about one event.
type eventRow struct {
	seq         int
	disposition string
}

// eventWriter batches the events of one report into multi-row INSERTs.
type eventWriter struct {
	tx       *sqlx.Tx
	d        store.Dialect
	reportID int64
	args     []any
	rows     int
	kept     *store.TxStmts // for the batch statements (insertSQLs)
	// copy sends each batch with COPY (PostgreSQL), opened and completed
	// within flush: nothing else may run on the connection meanwhile.
	copy bool
}

func newEventWriter(tx *sqlx.Tx, d store.Dialect, kept *store.TxStmts, reportID int64) *eventWriter {
	return &eventWriter{tx: tx, d: d, kept: kept, reportID: reportID, args: make([]any, 0, batchRows*len(eventColumns)),
		copy: d == store.Postgres}
}

// Where eventArgs puts the ids that only the case work decides.
var (
	colCustomer = slices.Index(eventColumns, "customer_id")
	colCase     = slices.Index(eventColumns, "case_id")
)

// eventArgs appends the column values of an event (eventColumns, in order),
// its JSON from appendEventJSON, to dst; now is the time of storing, as
// store.Dialect.TimeArg makes it. The customer and case ids are
// NULL: the caller sets them at colCustomer and colCase when it has them.
func eventArgs(dst []any, d store.Dialect, reportID int64, ev *normalizer.Event, row eventRow, fields []byte, now any) []any {
	dst = append(dst, reportID, row.seq, ev.Raw.Line, ev.Raw.Part, timeArg(d, ev, "time.source"), timeArg(d, ev, "time.observation"))
	for _, c := range store.EventColumns {
		if !c.Int {
			dst = append(dst, ev.String(c.Field))
		} else if v, ok := ev.Int(c.Field); ok {
			dst = append(dst, v)
		} else {
			dst = append(dst, nil)
		}
	}
	return append(dst, nullInt(0), nullInt(0), row.disposition, string(fields), now)
}

// add queues an event's column values (eventArgs).
func (w *eventWriter) add(ctx context.Context, args []any) error {
	w.args = append(w.args, args...)
	w.rows++
	if w.rows == batchRows {
		return w.flush(ctx)
	}
	return nil
}

func timeArg(d store.Dialect, ev *normalizer.Event, key string) any {
	if t, ok := ev.Time(key); ok {
		return d.TimeArg(t)
	}
	return nil
}

// insertSQLs are the batch statements of SQLite by their rows, one for each
// size store.Dialect.BatchRows gives: parsing a statement of 11,000
// parameters costs about as much as running it, so each is prepared once
// per connection and kept, and the last events of a report go in a few of
// them rather than in a statement of their own count.
var insertSQLs = func() map[int]string {
	m := map[int]string{batchRows: insertSQL(batchRows)}
	for k := 1; k < batchRows; k *= 2 {
		m[k] = insertSQL(k)
	}
	return m
}()

func (w *eventWriter) flush(ctx context.Context) error {
	if w.rows == 0 {
		return nil
	}
	if w.copy {
		if err := w.copyIn(ctx); err != nil {
			return fmt.Errorf("storing %d events of report %d: %w", w.rows, w.reportID, err)
		}
		w.args, w.rows = w.args[:0], 0
		return nil
	}
	n := len(eventColumns)
	rest := w.args
	for w.rows > 0 {
		k := w.d.BatchRows(w.rows, batchRows)
		q, ok := insertSQLs[k]
		if !ok {
			return fmt.Errorf("storing events of report %d: no statement for %d rows", w.reportID, k)
		}
		if _, err := w.kept.ExecContext(ctx, q, rest[:n*k]...); err != nil {
			return fmt.Errorf("storing %d events of report %d: %w", k, w.reportID, err)
		}
		rest, w.rows = rest[n*k:], w.rows-k
	}
	w.args = w.args[:0]
	return nil
}

// copyIn sends the batch with COPY FROM STDIN and completes it.
func (w *eventWriter) copyIn(ctx context.Context) error {
	st, err := w.tx.PrepareContext(ctx, "COPY events ("+strings.Join(eventColumns, ", ")+") FROM STDIN")
	if err != nil {
		return err
	}
	n := len(eventColumns)
	for i := 0; i < len(w.args); i += n {
		if _, err := st.ExecContext(ctx, w.args[i:i+n]...); err != nil {
			_ = st.Close()
			return err
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		_ = st.Close()
		return err
	}
	return st.Close()
}

// insertSQL is SQLite's statement of rows events. OR FAIL: a multi-row
// INSERT that may abort halfway makes SQLite keep a statement journal, to
// undo the rows it had written (a temporary file once past 64 KiB); one
// that fails stops where it is, and the report's transaction, which fails
// with it, rolls back what the statement wrote.
func insertSQL(rows int) string {
	one := "(" + store.Placeholders(len(eventColumns)) + ")"
	var b strings.Builder
	b.WriteString("INSERT OR FAIL INTO events (" + strings.Join(eventColumns, ", ") + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}
