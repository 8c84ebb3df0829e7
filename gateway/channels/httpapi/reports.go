package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
)

// Report is what the gateway knows about one stored report: where it came
// from and how its processing went. The HTTP API and `abusegw reports` show
// it.
type Report struct {
	ID          int64      `db:"id" json:"id"`
	SHA256      string     `db:"sha256" json:"sha256"`
	Channel     string     `db:"channel" json:"channel"`
	Name        string     `db:"source_name" json:"name"`
	ContentType string     `db:"content_type" json:"content_type,omitempty"`
	Size        int64      `db:"size" json:"size"`
	Status      string     `db:"status" json:"status"`
	Format      string     `db:"format" json:"format,omitempty"`
	Detail      string     `db:"detail" json:"detail,omitempty"`
	Events      int        `db:"events_count" json:"events"`
	Rejected    int        `db:"rejected_count" json:"rejected"`
	Error       string     `db:"error" json:"error,omitempty"`
	ReceivedAt  time.Time  `db:"received_at" json:"received_at"`
	ProcessedAt *time.Time `db:"processed_at" json:"processed_at,omitempty"`
}

const reportColumns = `id, sha256, channel, source_name, content_type, size, status, format, detail,
	events_count, rejected_count, error, received_at, processed_at`

// ErrNoReport is returned for a report ID that is not stored.
var ErrNoReport = errors.New("no such report")

// LookupReport returns one stored report.
func LookupReport(ctx context.Context, db *store.DB, id int64) (Report, error) {
	var r Report
	err := db.GetContext(ctx, &r, db.Rebind(`SELECT `+reportColumns+` FROM reports WHERE id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("report %d: %w", id, ErrNoReport)
	}
	if err != nil {
		return Report{}, fmt.Errorf("loading report %d: %w", id, err)
	}
	return normalize(r), nil
}

// ReportFilter selects reports for ListReports.
type ReportFilter struct {
	// Failed lists only reports that failed or that nothing recognised.
	Failed bool
	// Limit is the most recent N reports (0: all).
	Limit int
}

// ListReports lists stored reports, newest first.
func ListReports(ctx context.Context, db *store.DB, f ReportFilter) ([]Report, error) {
	if f.Limit < 0 {
		return nil, errors.New("limit must not be negative")
	}
	q := `SELECT ` + reportColumns + ` FROM reports`
	if f.Failed {
		q += ` WHERE status IN ('failed', 'unrecognized')`
	}
	q += ` ORDER BY id DESC`
	var args []any
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var out []Report
	if err := db.SelectContext(ctx, &out, db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("listing reports: %w", err)
	}
	for i := range out {
		out[i] = normalize(out[i])
	}
	return out, nil
}

// ErrNotRequeueable is returned by Requeue for a report that did not fail.
var ErrNotRequeueable = errors.New("only failed or unrecognized reports can be reprocessed")

// Requeue sets a failed or unrecognized report back to received, so that
// processing it again (after a parser fix, or with a new configuration) can
// succeed. Such reports stored no events, so processing them again repeats
// nothing. A report that was processed, even partially, is refused: its
// events are already applied to cases.
func Requeue(ctx context.Context, db *store.DB, id int64) error {
	res, err := db.ExecContext(ctx, db.Rebind(`UPDATE reports SET status = 'received', error = '', processed_at = NULL,
		format = '', detail = '', events_count = 0, rejected_count = 0
		WHERE id = ? AND status IN ('failed', 'unrecognized')`), id)
	if err != nil {
		return fmt.Errorf("requeueing report %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("requeueing report %d: %w", id, err)
	} else if n == 1 {
		return nil
	}
	r, err := LookupReport(ctx, db, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("report %d is %s: %w", id, r.Status, ErrNotRequeueable)
}

// normalize gives times in UTC.
func normalize(r Report) Report {
	r.ReceivedAt = r.ReceivedAt.UTC()
	if r.ProcessedAt != nil {
		t := r.ProcessedAt.UTC()
		r.ProcessedAt = &t
	}
	r.Error = strings.TrimSpace(r.Error)
	return r
}
