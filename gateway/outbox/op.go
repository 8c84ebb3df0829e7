// Package outbox holds the helpdesk operations that case changes cause. An
// operation is written in the same transaction as the case change that
// caused it, so that a crash can lose neither; the dispatcher then executes
// operations against the connectors, durably and exactly once in effect.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
)

// Kind is what an operation does in the helpdesk.
type Kind string

// The operation kinds.
const (
	// KindCreate opens the case's ticket.
	KindCreate Kind = "create"
	// KindComment adds an internal note to the case's ticket.
	KindComment Kind = "comment"
	// KindReply writes to the customer through the case's ticket.
	KindReply Kind = "reply"
	// KindReopen sets the case's ticket back to open and adds the new
	// evidence (as a reply when Payload.Notify, else as a comment).
	KindReopen Kind = "reopen"
)

// Payload is everything an operation needs besides the case's ticket, which
// the dispatcher looks up when the operation runs (a comment enqueued with
// the create does not know the ticket's id yet).
type Payload struct {
	CaseKey     string   `json:"case_key"`
	Queue       string   `json:"queue,omitempty"`
	Requestors  []string `json:"requestors,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	Body        string   `json:"body,omitempty"`
	ContentType string   `json:"content_type,omitempty"`
	// RefersTo are ticket ids of earlier cases of the same problem.
	RefersTo []string `json:"refers_to,omitempty"`
	// Notify, for reopen: the evidence goes to the customer.
	Notify bool `json:"notify,omitempty"`
	// Compose marks an operation enqueued without its text: the
	// dispatcher's Composer writes it when the operation first runs (see
	// Composer).
	Compose bool `json:"compose,omitempty"`
}

// Composer writes the text of operations enqueued with Payload.Compose.
//
// Rendering a ticket costs far more than recording that one is due, and a
// report can open thousands of cases at once while the helpdesk takes them a
// few per second; so ingest enqueues new cases' operations without text and
// they are written when dispatched, from the case as it then is (with the
// events that arrived meanwhile).
type Composer interface {
	// Compose returns the operations of case caseID that carry
	// Payload.Compose, with their text. It runs in tx, which the dispatcher
	// commits with the new payloads; the composer may record in tx what the
	// text now tells (the case's events are announced).
	Compose(ctx context.Context, tx *sqlx.Tx, caseID int64) ([]Op, error)
}

// Op is one operation to enqueue.
type Op struct {
	CaseID    int64
	Connector string
	Kind      Kind
	Payload   Payload
	// Key makes the operation idempotent: enqueuing the same key twice keeps
	// the first. It is also the marker carried in comments.
	Key string
	// NotBefore delays the first attempt; zero means now.
	NotBefore time.Time
	// MaxAttempts before the dead letter; zero means the default (25).
	MaxAttempts int
}

// Enqueue writes op in tx. It reports whether a new row was written (false:
// an operation with the same key already exists).
func Enqueue(ctx context.Context, tx *sqlx.Tx, op Op, now time.Time) (int64, bool, error) {
	if op.Key == "" || op.Connector == "" || op.Kind == "" {
		return 0, false, errors.New("enqueuing operation: key, connector and kind are required")
	}
	payload, err := json.Marshal(op.Payload)
	if err != nil {
		return 0, false, fmt.Errorf("encoding %s payload: %w", op.Kind, err)
	}
	at := op.NotBefore
	if at.IsZero() || at.Before(now) {
		at = now
	}
	maxAttempts := op.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 25
	}
	var caseID any
	if op.CaseID != 0 {
		caseID = op.CaseID
	}
	var id int64
	err = tx.GetContext(ctx, &id, tx.Rebind(`INSERT INTO outbox
		(case_id, connector, kind, payload, idempotency_key, max_attempts, scheduled_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id`),
		caseID, op.Connector, string(op.Kind), string(payload), op.Key, maxAttempts, store.Time(at), store.Time(now))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("enqueuing %s operation %s: %w", op.Kind, op.Key, err)
	}
	return id, true, nil
}

// enqueueBatchRows is how many operations one statement of EnqueueBatch
// writes (8 parameters each).
const enqueueBatchRows = 500

// EnqueueBatch writes ops in tx, in order, with multi-row statements: the
// same rows as Enqueue of each in turn. It returns how many new rows were
// written (an operation whose key exists is kept as it is).
func EnqueueBatch(ctx context.Context, tx *sqlx.Tx, ops []Op, now time.Time) (int, error) {
	args := make([]any, 0, 8*min(len(ops), enqueueBatchRows))
	created := 0
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), enqueueBatchRows)]
		ops = ops[len(chunk):]
		args = args[:0]
		for _, op := range chunk {
			if op.Key == "" || op.Connector == "" || op.Kind == "" {
				return created, errors.New("enqueuing operation: key, connector and kind are required")
			}
			payload, err := json.Marshal(op.Payload)
			if err != nil {
				return created, fmt.Errorf("encoding %s payload: %w", op.Kind, err)
			}
			at := op.NotBefore
			if at.IsZero() || at.Before(now) {
				at = now
			}
			maxAttempts := op.MaxAttempts
			if maxAttempts <= 0 {
				maxAttempts = 25
			}
			var caseID any
			if op.CaseID != 0 {
				caseID = op.CaseID
			}
			args = append(args, caseID, op.Connector, string(op.Kind), string(payload), op.Key, maxAttempts, store.Time(at), store.Time(now))
		}
		var b strings.Builder
		b.WriteString(`INSERT INTO outbox (case_id, connector, kind, payload, idempotency_key, max_attempts, scheduled_at, created_at) VALUES `)
		for i := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		}
		b.WriteString(` ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`)
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, tx.Rebind(b.String()), args...); err != nil {
			return created, fmt.Errorf("enqueuing %d operations: %w", len(chunk), err)
		}
		created += len(ids)
	}
	return created, nil
}
