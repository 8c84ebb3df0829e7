// Package sync brings ticket status home from the helpdesks: the webhook
// receiver (fast) and the scheduled reconcile (catches everything webhooks
// miss) both end in Applier.Apply, which maps the helpdesk's status to ours,
// records it in the status history with its time and source, and closes or
// reopens the case — idempotently, and never moving a case backwards on an
// out-of-order delivery.
package sync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/store"
)

// Source says where a status came from; it is recorded in the history.
type Source string

// The sources of status changes.
const (
	SourceWebhook   Source = "webhook"
	SourceReconcile Source = "reconcile"
)

// Outcome says what Apply did.
type Outcome string

// Outcomes of Apply.
const (
	OutcomeChanged   Outcome = "changed"   // the case's state changed
	OutcomeUnchanged Outcome = "unchanged" // already known
	OutcomeStale     Outcome = "stale"     // older than what we have: ignored
	OutcomeUnknown   Outcome = "unknown"   // not one of our tickets, or a status the map lacks
)

// Applier applies ticket states to cases.
type Applier struct {
	db  *store.DB
	now func() time.Time
	log *slog.Logger
}

// NewApplier builds an Applier; now nil means time.Now.
func NewApplier(db *store.DB, now func() time.Time, log *slog.Logger) *Applier {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applier{db: db, now: now, log: log}
}

// caseState maps a canonical ticket status to a case state.
func caseState(s connectors.Status) string {
	switch s {
	case connectors.StatusPending:
		return "pending"
	case connectors.StatusResolved:
		return "resolved"
	case connectors.StatusClosed:
		return "closed"
	}
	return "open"
}

type ticketRow struct {
	ID          int64          `db:"id"`
	CaseID      int64          `db:"case_id"`
	Status      string         `db:"status"`
	ExtUpdated  sql.NullTime   `db:"external_updated_at"`
	CaseState   string         `db:"state"`
	CaseStatus  string         `db:"case_status"`
	CaseKey     string         `db:"case_key"`
	NotifiedAt  sql.NullTime   `db:"notified_at"`
	FirstResp   sql.NullTime   `db:"first_response_at"`
	LastChanged store.NullTime `db:"last_changed"`
}

// Apply records the state of one ticket as the helpdesk reports it. deliveryID
// (a webhook's) is kept in the history for tracing.
func (a *Applier) Apply(ctx context.Context, connector string, t connectors.Ticket, src Source, deliveryID string) (Outcome, error) {
	var out Outcome
	err := a.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, err = a.apply(ctx, a.db.Stmts(tx), connector, t, src, deliveryID)
		return err
	})
	return out, err
}

// ApplyPage applies a page of tickets (a reconcile's ListUpdated page) in
// one transaction: one commit per page instead of one per ticket, which on
// PostgreSQL is one WAL flush per page. On an error nothing of the page is
// applied.
func (a *Applier) ApplyPage(ctx context.Context, connector string, ts []connectors.Ticket, src Source) ([]Outcome, error) {
	outs := make([]Outcome, len(ts))
	err := a.db.InTx(ctx, func(tx *sqlx.Tx) error {
		q := a.db.Stmts(tx)
		for i, t := range ts {
			out, err := a.apply(ctx, q, connector, t, src, "")
			if err != nil {
				return err
			}
			outs[i] = out
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

func (a *Applier) apply(ctx context.Context, tx *store.TxStmts, connector string, t connectors.Ticket, src Source, deliveryID string) (Outcome, error) {
	now := store.Time(a.now())
	var r ticketRow
	err := tx.GetContext(ctx, &r, `SELECT t.id, t.case_id, t.status, t.external_updated_at,
			c.state, c.status AS case_status, c.case_key, c.notified_at, c.first_response_at,
			(SELECT max(h.at) FROM status_history h WHERE h.case_id = c.id) AS last_changed
		FROM tickets t JOIN cases c ON c.id = t.case_id
		WHERE t.connector = ? AND t.external_id = ?`, connector, t.ID)
	if errors.Is(err, sql.ErrNoRows) {
		a.log.Debug("status of a ticket that is not ours", "connector", connector, "ticket", t.ID)
		return OutcomeUnknown, nil
	}
	if err != nil {
		return "", fmt.Errorf("finding ticket %s/%s: %w", connector, t.ID, err)
	}
	at := t.Updated.UTC()
	if at.IsZero() {
		at = now
	}
	// Out of order: a state older than the newest we know changes nothing.
	// Helpdesks give seconds; our own changes carry microseconds, so compare
	// at the helpdesk's precision.
	if !t.Updated.IsZero() {
		if r.ExtUpdated.Valid && t.Updated.Before(r.ExtUpdated.Time) {
			return OutcomeStale, nil
		}
		if r.LastChanged.Valid && t.Updated.Before(r.LastChanged.Time.Truncate(time.Second)) {
			// Older than a change we made or recorded (a reopen abusegw
			// requested that the helpdesk has not carried out yet).
			a.touch(ctx, tx, r.ID, t, now)
			return OutcomeStale, nil
		}
	}
	if t.Canonical == "" || !t.Canonical.Valid() {
		a.log.Warn("helpdesk status not in the status map: extend status_map", "connector", connector, "ticket", t.ID, "status", t.Status)
		a.touch(ctx, tx, r.ID, t, now)
		return OutcomeUnknown, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET external_status = ?, status = ?, closure_reason = ?,
			external_updated_at = ?, last_synced_at = ?, updated_at = ? WHERE id = ?`,
		t.Status, string(t.Canonical), t.ClosureReason, nullTime(t.Updated), now, now, r.ID); err != nil {
		return "", fmt.Errorf("updating ticket %s/%s: %w", connector, t.ID, err)
	}
	newState := caseState(t.Canonical)
	if newState == r.CaseState && string(t.Canonical) == r.CaseStatus {
		return OutcomeUnchanged, nil
	}
	wasDone := r.CaseState == "resolved" || r.CaseState == "closed"
	isDone := newState == "resolved" || newState == "closed"
	set := `state = ?, status = ?, updated_at = ?, version = version + 1`
	args := []any{newState, string(t.Canonical), now}
	switch {
	case isDone:
		set += `, resolved_at = ?, closure_reason = ?`
		args = append(args, at, t.ClosureReason)
	case wasDone:
		// A desk member or the customer reopened the ticket.
		set += `, resolved_at = NULL, closure_reason = '', reopen_count = reopen_count + 1`
	}
	if !r.FirstResp.Valid {
		// The first move by the desk or the customer after the ticket opened.
		set += `, first_response_at = ?`
		args = append(args, at)
	}
	args = append(args, r.CaseID)
	if _, err := tx.ExecContext(ctx, `UPDATE cases SET `+set+` WHERE id = ?`, args...); err != nil {
		return "", fmt.Errorf("updating case %s: %w", r.CaseKey, err)
	}
	reason := t.ClosureReason
	if wasDone && !isDone {
		reason = "reopened in the helpdesk"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO status_history (case_id, ticket_id, from_status, to_status, at, source, reason, external_event_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.CaseID, r.ID, r.CaseStatus, string(t.Canonical), at, string(src), reason, deliveryID, now); err != nil {
		return "", fmt.Errorf("recording status of case %s: %w", r.CaseKey, err)
	}
	a.log.Info("case status changed", "case", r.CaseKey, "from", r.CaseStatus, "to", t.Canonical, "source", src, "ticket", t.ID, "reason", t.ClosureReason)
	return OutcomeChanged, nil
}

// touch records that the ticket was seen, without changing the case.
func (a *Applier) touch(ctx context.Context, tx *store.TxStmts, id int64, t connectors.Ticket, now time.Time) {
	_, err := tx.ExecContext(ctx, `UPDATE tickets SET external_status = ?, last_synced_at = ? WHERE id = ?`, t.Status, now, id)
	if err != nil {
		a.log.Warn("recording ticket sync time", "ticket", t.ID, "err", err)
	}
}

// MarkGone closes the case of a ticket that no longer exists in the helpdesk
// (deleted, or moved where abusegw's credentials cannot see it), loudly.
func (a *Applier) MarkGone(ctx context.Context, connector, ticketID string, cause error) error {
	now := store.Time(a.now())
	return a.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var r ticketRow
		err := tx.GetContext(ctx, &r, tx.Rebind(`SELECT t.id, t.case_id, t.status, t.external_updated_at, c.state, c.status AS case_status,
				c.case_key, c.notified_at, c.first_response_at, NULL AS last_changed
			FROM tickets t JOIN cases c ON c.id = t.case_id WHERE t.connector = ? AND t.external_id = ?`), connector, ticketID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("finding ticket %s/%s: %w", connector, ticketID, err)
		}
		if r.Status == "deleted" {
			return nil
		}
		reason := "ticket no longer in the helpdesk (deleted or moved out of reach)"
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE tickets SET status = 'deleted', last_synced_at = ?, updated_at = ? WHERE id = ?`), now, now, r.ID); err != nil {
			return fmt.Errorf("marking ticket %s/%s gone: %w", connector, ticketID, err)
		}
		if r.CaseState != "resolved" && r.CaseState != "closed" {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE cases SET state = 'closed', status = 'closed', resolved_at = ?, closure_reason = ?,
					updated_at = ?, version = version + 1 WHERE id = ?`), now, reason, now, r.CaseID); err != nil {
				return fmt.Errorf("closing case %s: %w", r.CaseKey, err)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO status_history (case_id, ticket_id, from_status, to_status, at, source, reason, created_at)
					VALUES (?, ?, ?, 'closed', ?, 'reconcile', ?, ?)`), r.CaseID, r.ID, r.CaseStatus, now, reason, now); err != nil {
				return fmt.Errorf("recording status of case %s: %w", r.CaseKey, err)
			}
		}
		a.log.Warn("ticket is gone from the helpdesk; its case is closed", "connector", connector, "ticket", ticketID, "case", r.CaseKey, "cause", cause)
		return nil
	})
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Time(t)
}
