package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
)

// List returns operations; state "" means those not completed, "all" every
// one, else one state (available, running, retryable, completed, dead,
// cancelled).
func List(ctx context.Context, db *store.DB, state string, limit int) ([]Row, error) {
	q := `SELECT ` + rowColumns + `, c.case_key FROM outbox o LEFT JOIN cases c ON c.id = o.case_id`
	var args []any
	switch state {
	case "":
		q += ` WHERE o.state <> 'completed'`
	case "all":
	case "available", "running", "retryable", "completed", "dead", "cancelled":
		q += ` WHERE o.state = ?`
		args = append(args, state)
	default:
		return nil, fmt.Errorf("unknown state %q", state)
	}
	q += ` ORDER BY o.id`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	var rows []Row
	if err := db.SelectContext(ctx, &rows, db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("listing outbox operations: %w", err)
	}
	return rows, nil
}

// Retry makes a dead (or retryable) operation due now with a fresh set of
// attempts. Its outcome-unknown flag is kept, so a create that may have
// happened is looked for first.
func Retry(ctx context.Context, db *store.DB, id int64, now time.Time) error {
	res, err := db.ExecContext(ctx, db.Rebind(`UPDATE outbox SET state = 'available', attempt = 0, scheduled_at = ?, finalized_at = NULL
		WHERE id = ? AND state IN ('dead', 'retryable', 'cancelled')`), store.Time(now), id)
	if err != nil {
		return fmt.Errorf("retrying operation %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("operation %d does not exist or is not dead, retryable or dropped", id)
	}
	return nil
}

// Drop cancels an operation that has not completed; operations of its case
// queued behind it can then run.
func Drop(ctx context.Context, db *store.DB, id int64, now time.Time) error {
	res, err := db.ExecContext(ctx, db.Rebind(`UPDATE outbox SET state = 'cancelled', finalized_at = ?, lease_until = NULL
		WHERE id = ? AND state IN ('available', 'retryable', 'dead')`), store.Time(now), id)
	if err != nil {
		return fmt.Errorf("dropping operation %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("operation %d does not exist, is running, or is already completed or dropped", id)
	}
	return nil
}
