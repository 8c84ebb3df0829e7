package cases

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
)

// FlushUpdates enqueues one update message for every open case that has
// events not yet announced and whose last message is at least
// cases.update_interval old: new events for an open case are batched into at
// most one update per case per period. Each case is handled in its own
// transaction; it returns the number of updates enqueued.
func (a *Aggregator) FlushUpdates(ctx context.Context, db *store.DB) (int, error) {
	now := a.Now()
	cutoff := store.Time(now.Add(-a.cfg.UpdateInterval))
	var ids []int64
	err := db.SelectContext(ctx, &ids, db.Rebind(`SELECT id FROM cases
		WHERE state IN ('open', 'pending') AND pending_events > 0 AND (last_update_at IS NULL OR last_update_at <= ?)
		ORDER BY id`), cutoff)
	if err != nil {
		return 0, fmt.Errorf("finding cases due for an update: %w", err)
	}
	n := 0
	for _, id := range ids {
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			done, err := a.flushOne(ctx, tx, id, now, cutoff)
			if done {
				n++
			}
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// flushOne enqueues the update of one case, re-checking under the
// transaction that it is still due (another replica may have just done it).
func (a *Aggregator) flushOne(ctx context.Context, tx *sqlx.Tx, id int64, now, cutoff time.Time) (bool, error) {
	r, err := loadCase(ctx, tx, id)
	if err != nil {
		return false, err
	}
	if closedState(r.State) || r.PendingEvents == 0 || (r.LastUpdateAt.Valid && r.LastUpdateAt.Time.After(cutoff)) {
		return false, nil
	}
	since := r.FirstSeen
	if r.LastUpdateAt.Valid {
		since = r.LastUpdateAt.Time
	}
	c, err := a.view(ctx, tx, r)
	if err != nil {
		return false, err
	}
	if c.New, err = a.delta(ctx, tx, r.ID, since, now, r.PendingEvents); err != nil {
		return false, err
	}
	msg, err := a.renderer.Render(content.KindUpdate, c)
	if err != nil {
		return false, fmt.Errorf("rendering the update of case %s: %w", r.Key, err)
	}
	op := outbox.Op{
		CaseID: r.ID, Connector: r.Connector, Kind: outbox.KindComment,
		Key:     r.Key + ":update:" + strconv.FormatInt(now.UnixMicro(), 10),
		Payload: outbox.Payload{CaseKey: r.Key, Subject: msg.Subject, Body: msg.Internal},
	}
	if r.Notify {
		op.Kind, op.Payload.Body = outbox.KindReply, msg.Body
	}
	if _, err := enqueueAll(ctx, tx, []outbox.Op{op}, now); err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE cases SET pending_events = 0, last_update_at = ?, version = version + 1, updated_at = ? WHERE id = ?`),
		now, now, r.ID)
	if err != nil {
		return false, fmt.Errorf("marking case %s updated: %w", r.Key, err)
	}
	return true, nil
}
