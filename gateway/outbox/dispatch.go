package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/store"
)

// Limits are one connector's concurrency and rate limit.
type Limits struct {
	Concurrency int     // operations at once; 0 means 1
	RateLimit   float64 // operations per second; 0 means no limit
}

// Config tunes a Dispatcher.
type Config struct {
	// Lease is how long a claimed operation is reserved for its worker; an
	// operation still running after it is taken to have crashed, and is
	// retried with its outcome unknown. Default 5 minutes.
	Lease time.Duration
	// Batch is how many operations one claim takes. Default 32.
	Batch int
	// Poll is how often Run looks for due operations. Default 2 s.
	Poll time.Duration
	// MaxBackoff caps the wait between attempts. Default 6 hours.
	MaxBackoff time.Duration
}

// Dispatcher executes operations against their connectors.
type Dispatcher struct {
	db         *store.DB
	connectors map[string]connectors.Connector
	limits     map[string]*limiter
	cfg        Config
	worker     string
	now        func() time.Time
	jitter     func() float64
	log        *slog.Logger
	ops        *prometheus.CounterVec
	composer   Composer
}

type limiter struct {
	sem  chan struct{}
	rate *rate.Limiter
}

// Options are a Dispatcher's collaborators.
type Options struct {
	Connectors map[string]connectors.Connector
	Limits     map[string]Limits
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Jitter returns a number in [0, 1) that spreads retries; nil means
	// math/rand.
	Jitter func() float64
	// Worker names this process in attempted_by; default host:pid.
	Worker string
	// Composer writes the text of operations enqueued without it
	// (Payload.Compose); without one such operations fail permanently.
	Composer Composer
}

// NewDispatcher builds a Dispatcher.
func NewDispatcher(db *store.DB, cfg Config, o Options) (*Dispatcher, error) {
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 32
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 6 * time.Hour
	}
	d := &Dispatcher{
		db: db, connectors: o.Connectors, limits: map[string]*limiter{}, cfg: cfg,
		worker: o.Worker, now: o.Now, jitter: o.Jitter, log: o.Logger, composer: o.Composer,
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.jitter == nil {
		d.jitter = rand.Float64
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.worker == "" {
		host, _ := os.Hostname()
		d.worker = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	for name := range o.Connectors {
		l := o.Limits[name]
		n := l.Concurrency
		if n <= 0 {
			n = 1
		}
		lim := &limiter{sem: make(chan struct{}, n)}
		if l.RateLimit > 0 {
			lim.rate = rate.NewLimiter(rate.Limit(l.RateLimit), max(1, int(l.RateLimit)))
		}
		d.limits[name] = lim
	}
	d.ops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "abusegw_outbox_operations_total",
		Help: "Outbox operation attempts, by connector, kind and result (completed, retry, unknown, dead).",
	}, []string{"connector", "kind", "result"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(d.ops); err != nil {
			return nil, fmt.Errorf("registering outbox metrics: %w", err)
		}
	}
	return d, nil
}

// Row is an operation as stored.
type Row struct {
	ID             int64          `db:"id" json:"id"`
	CaseID         sql.NullInt64  `db:"case_id" json:"-"`
	Connector      string         `db:"connector" json:"connector"`
	Kind           Kind           `db:"kind" json:"kind"`
	Payload        string         `db:"payload" json:"-"`
	Key            string         `db:"idempotency_key" json:"key"`
	State          string         `db:"state" json:"state"`
	Attempt        int            `db:"attempt" json:"attempt"`
	MaxAttempts    int            `db:"max_attempts" json:"max_attempts"`
	ScheduledAt    time.Time      `db:"scheduled_at" json:"scheduled_at"`
	AttemptedAt    sql.NullTime   `db:"attempted_at" json:"-"`
	OutcomeUnknown bool           `db:"outcome_unknown" json:"outcome_unknown"`
	LastError      string         `db:"last_error" json:"last_error,omitempty"`
	Errors         string         `db:"errors" json:"-"`
	CreatedAt      time.Time      `db:"created_at" json:"created_at"`
	FinalizedAt    sql.NullTime   `db:"finalized_at" json:"-"`
	CaseKey        sql.NullString `db:"case_key" json:"case_key,omitempty"`
}

const rowColumns = `o.id, o.case_id, o.connector, o.kind, o.payload, o.idempotency_key, o.state, o.attempt, o.max_attempts,
	o.scheduled_at, o.attempted_at, o.outcome_unknown, o.last_error, o.errors, o.created_at, o.finalized_at`

// Stats counts what a drain did.
type Stats struct {
	Completed int `json:"completed"`
	Retried   int `json:"retried"`
	Dead      int `json:"dead"`
}

// Drain executes every operation that is due now, including those that
// become due again within the drain (none: retries wait for their backoff),
// and returns when none is left due. It is `abusegw dispatch`.
func (d *Dispatcher) Drain(ctx context.Context) (Stats, error) {
	var total Stats
	for {
		st, n, err := d.round(ctx)
		total.Completed += st.Completed
		total.Retried += st.Retried
		total.Dead += st.Dead
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// Run executes operations as they fall due until ctx ends. It is the
// worker inside `abusegw serve`.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := d.Drain(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("outbox round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// round claims one batch and executes it; n is how many were claimed.
func (d *Dispatcher) round(ctx context.Context) (Stats, int, error) {
	if err := d.rescue(ctx); err != nil {
		return Stats{}, 0, err
	}
	rows, err := d.claim(ctx)
	if err != nil || len(rows) == 0 {
		return Stats{}, 0, err
	}
	var (
		mu    sync.Mutex
		st    Stats
		wg    sync.WaitGroup
		first error
	)
	for _, r := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := d.execute(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			switch res {
			case "completed":
				st.Completed++
			case "dead":
				st.Dead++
			case "retry", "unknown":
				st.Retried++
			}
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return st, len(rows), first
}

// rescue returns operations whose lease expired (their worker died) to the
// queue, with their outcome unknown.
func (d *Dispatcher) rescue(ctx context.Context) error {
	now := store.Time(d.now())
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE outbox SET state = 'retryable', outcome_unknown = TRUE,
		last_error = 'lease expired: the worker stopped while running it', lease_until = NULL
		WHERE state = 'running' AND lease_until < ?`), now)
	if err != nil {
		return fmt.Errorf("rescuing expired outbox leases: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		d.log.Warn("rescued outbox operations whose worker stopped", "count", n)
	}
	return nil
}

// claim takes due operations with a lease. Operations of one case run in
// order: an operation is due only when every earlier operation of its case
// has completed or was dropped.
func (d *Dispatcher) claim(ctx context.Context) ([]Row, error) {
	now := store.Time(d.now())
	names := make([]string, 0, len(d.connectors))
	for n := range d.connectors {
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, nil
	}
	in := store.Placeholders(len(names))
	lock := ""
	if d.db.Dialect() == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	q := `UPDATE outbox SET state = 'running', attempt = attempt + 1, attempted_at = ?, attempted_by = ?, lease_until = ?
		WHERE id IN (SELECT o.id FROM outbox o
			WHERE o.state IN ('available', 'retryable') AND o.scheduled_at <= ? AND o.connector IN (` + in + `)
			AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = o.case_id AND p.id < o.id
				AND p.state NOT IN ('completed', 'cancelled'))
			ORDER BY o.scheduled_at, o.id LIMIT ?` + lock + `)
		RETURNING id`
	args := []any{now, d.worker, store.Time(now.Add(d.cfg.Lease)), now}
	for _, n := range names {
		args = append(args, n)
	}
	args = append(args, d.cfg.Batch)
	var ids []int64
	// In a transaction of its own so that on SQLite it queues with the
	// process's other writers (store.DB.InTx).
	if err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &ids, tx.Rebind(q), args...)
	}); err != nil {
		return nil, fmt.Errorf("claiming outbox operations: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	q2, args2, err := sqlx.In(`SELECT `+rowColumns+`, c.case_key FROM outbox o LEFT JOIN cases c ON c.id = o.case_id WHERE o.id IN (?) ORDER BY o.id`, ids)
	if err != nil {
		return nil, err
	}
	var rows []Row
	if err := d.db.SelectContext(ctx, &rows, d.db.Rebind(q2), args2...); err != nil {
		return nil, fmt.Errorf("loading claimed operations: %w", err)
	}
	return rows, nil
}

// execute runs one claimed operation and records its outcome.
func (d *Dispatcher) execute(ctx context.Context, r Row) (string, error) {
	conn, ok := d.connectors[r.Connector]
	if !ok {
		return d.record(ctx, r, "", connectors.Permanentf(string(r.Kind), "connector %q is not configured", r.Connector))
	}
	lim := d.limits[r.Connector]
	select {
	case lim.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-lim.sem }()
	if lim.rate != nil {
		if err := lim.rate.Wait(ctx); err != nil {
			return "", err
		}
	}
	var p Payload
	if err := json.Unmarshal([]byte(r.Payload), &p); err != nil {
		return d.record(ctx, r, "", connectors.Permanentf(string(r.Kind), "payload is not valid JSON: %v", err))
	}
	if p.Compose {
		var err error
		if p, err = d.compose(ctx, r); err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return d.record(ctx, r, "", err)
		}
	}
	result, err := d.perform(ctx, conn, r, p)
	if ctx.Err() != nil && err != nil {
		// Stopping: leave the lease to expire so the outcome is treated as
		// unknown by the next worker, exactly as after a crash.
		return "", ctx.Err()
	}
	return d.record(ctx, r, result, err)
}

// compose has the Composer write the text of r and of the other operations
// of its case enqueued with it: a retry sends the same text. Nothing has
// reached the helpdesk yet, so a failure here is retryable (or permanent,
// when there is nothing to write the text with).
func (d *Dispatcher) compose(ctx context.Context, r Row) (Payload, error) {
	if d.composer == nil || !r.CaseID.Valid {
		return Payload{}, connectors.Permanentf(string(r.Kind), "operation %s has no text and nothing can write it", r.Key)
	}
	ops, err := Compose(ctx, d.db, d.composer, r.CaseID.Int64)
	if err != nil {
		return Payload{}, &connectors.Error{Op: "compose", Kind: connectors.Retryable, Err: err}
	}
	for _, op := range ops {
		if op.Key == r.Key {
			return op.Payload, nil
		}
	}
	return Payload{}, connectors.Permanentf(string(r.Kind), "operation %s has no text and its case no longer makes one", r.Key)
}

// Compose has c write the text of the operations of a case enqueued
// without it (Payload.Compose) and stores it, in one transaction; it
// returns the operations with their text. The dispatcher does this before
// it sends such an operation; tests and previews may do it beforehand.
func Compose(ctx context.Context, db *store.DB, c Composer, caseID int64) ([]Op, error) {
	var ops []Op
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if ops, err = c.Compose(ctx, tx, caseID); err != nil {
			return err
		}
		for _, op := range ops {
			b, err := json.Marshal(op.Payload)
			if err != nil {
				return fmt.Errorf("encoding %s payload: %w", op.Kind, err)
			}
			// Only operations still waiting for their text: a completed one
			// keeps what it sent.
			if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE outbox SET payload = ? WHERE case_id = ? AND idempotency_key = ?
				AND state NOT IN ('completed', 'cancelled')`), string(b), caseID, op.Key); err != nil {
				return fmt.Errorf("storing the text of operation %s: %w", op.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("writing the text of the operations of case %d: %w", caseID, err)
	}
	return ops, nil
}

// result is what a completed operation leaves for the record.
type result struct {
	TicketID  string `json:"ticket_id,omitempty"`
	TicketURL string `json:"ticket_url,omitempty"`
	Found     bool   `json:"found_existing,omitempty"`
}

// perform calls the helpdesk. An operation whose earlier attempt may have
// taken effect is first looked for, so nothing is done twice.
func (d *Dispatcher) perform(ctx context.Context, conn connectors.Connector, r Row, p Payload) (string, error) {
	if !r.CaseID.Valid {
		return "", connectors.Permanentf(string(r.Kind), "operation has no case")
	}
	caseID := r.CaseID.Int64
	switch r.Kind {
	case KindCreate:
		if t, ok, err := d.ticketOf(ctx, caseID, r.Connector); err != nil {
			return "", err
		} else if ok {
			return encode(result{TicketID: t, Found: true}), nil // recorded by an earlier attempt
		}
		if r.OutcomeUnknown || r.Attempt > 1 {
			found, err := conn.FindByKey(ctx, p.CaseKey)
			if err != nil {
				return "", err
			}
			if len(found) > 0 {
				if len(found) > 1 {
					d.log.Warn("several tickets carry one case key; keeping the first", "case_key", p.CaseKey, "tickets", len(found))
				}
				return d.recordTicket(ctx, r, found[0], true)
			}
		}
		t, err := conn.Create(ctx, connectors.CreateRequest{
			CaseKey: p.CaseKey, Queue: p.Queue, Requestors: p.Requestors, Subject: p.Subject,
			Body: p.Body, ContentType: p.ContentType, RefersTo: p.RefersTo,
		})
		if err != nil {
			return "", err
		}
		return d.recordTicket(ctx, r, t, false)
	case KindComment, KindReply, KindReopen:
		ticket, ok, err := d.ticketOf(ctx, caseID, r.Connector)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", connectors.Permanentf(string(r.Kind), "case %s has no %s ticket (its create operation did not complete)", p.CaseKey, r.Connector)
		}
		if r.Kind == KindReopen {
			if err := conn.SetStatus(ctx, ticket, connectors.StatusOpen); err != nil {
				return "", err
			}
		}
		if r.OutcomeUnknown || r.Attempt > 1 {
			if f, ok := conn.(connectors.CommentFinder); ok {
				landed, err := f.FindOp(ctx, ticket, r.Key)
				if err != nil {
					return "", err
				}
				if landed {
					return encode(result{TicketID: ticket, Found: true}), nil
				}
			}
		}
		msg := connectors.Message{Subject: p.Subject, Body: p.Body, ContentType: p.ContentType, OpKey: r.Key}
		reply := r.Kind == KindReply || (r.Kind == KindReopen && p.Notify)
		if reply {
			err = conn.Reply(ctx, ticket, msg)
		} else {
			err = conn.Comment(ctx, ticket, msg)
		}
		if err != nil {
			return "", err
		}
		if reply {
			if _, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE cases SET notified_at = COALESCE(notified_at, ?) WHERE id = ?`),
				store.Time(d.now()), caseID); err != nil {
				return "", fmt.Errorf("recording notification of case %s: %w", p.CaseKey, err)
			}
		}
		return encode(result{TicketID: ticket}), nil
	}
	return "", connectors.Permanentf(string(r.Kind), "unknown operation kind %q", r.Kind)
}

// ticketOf returns the case's ticket in connector, if one is recorded.
func (d *Dispatcher) ticketOf(ctx context.Context, caseID int64, connector string) (string, bool, error) {
	var id string
	err := d.db.GetContext(ctx, &id, d.db.Rebind(`SELECT external_id FROM tickets WHERE case_id = ? AND connector = ? ORDER BY id DESC LIMIT 1`), caseID, connector)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("finding the ticket of case %d: %w", caseID, err)
	}
	return id, true, nil
}

// recordTicket stores the ticket a create made (or found).
func (d *Dispatcher) recordTicket(ctx context.Context, r Row, t connectors.Ticket, found bool) (string, error) {
	now := store.Time(d.now())
	status := string(t.Canonical)
	if status == "" {
		status = string(connectors.StatusNew)
	}
	err := d.db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO tickets (case_id, connector, external_id, url, external_status, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (connector, external_id) DO NOTHING`),
			r.CaseID.Int64, r.Connector, t.ID, t.URL, t.Status, status, now, now)
		if err != nil {
			return fmt.Errorf("recording ticket %s of case %d: %w", t.ID, r.CaseID.Int64, err)
		}
		// The insert does nothing when the ticket is already recorded: fine
		// for this case (an earlier attempt), but a ticket of another case
		// (RT answers a merged ticket with the one it was merged into) must
		// not complete the create silently and leave this case without one.
		var owner int64
		if err := tx.GetContext(ctx, &owner, tx.Rebind(`SELECT case_id FROM tickets WHERE connector = ? AND external_id = ?`), r.Connector, t.ID); err != nil {
			return fmt.Errorf("reading back ticket %s of case %d: %w", t.ID, r.CaseID.Int64, err)
		}
		if owner != r.CaseID.Int64 {
			return connectors.Permanentf(string(r.Kind), "%s ticket %s is already recorded for case %d, not case %d (merged in the helpdesk?)",
				r.Connector, t.ID, owner, r.CaseID.Int64)
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE cases SET notified_at = COALESCE(notified_at, ?) WHERE id = ?`), now, r.CaseID.Int64)
		return err
	})
	if err != nil {
		return "", err
	}
	return encode(result{TicketID: t.ID, TicketURL: t.URL, Found: found}), nil
}

func encode(r result) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// attemptError is one entry of an operation's error history.
type attemptError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Kind    string    `json:"kind"`
	Error   string    `json:"error"`
}

// record writes the outcome of one attempt and says what it was.
func (d *Dispatcher) record(ctx context.Context, r Row, res string, opErr error) (string, error) {
	now := store.Time(d.now())
	if opErr == nil {
		_, err := d.db.ExecContext(ctx, d.db.Rebind(`UPDATE outbox SET state = 'completed', result = ?, finalized_at = ?,
			lease_until = NULL, outcome_unknown = FALSE WHERE id = ? AND state = 'running' AND attempted_by = ? AND attempt = ?`),
			res, now, r.ID, d.worker, r.Attempt)
		if err != nil {
			return "", fmt.Errorf("recording completion of operation %d: %w", r.ID, err)
		}
		d.ops.WithLabelValues(r.Connector, string(r.Kind), "completed").Inc()
		d.log.Debug("outbox operation completed", "op", r.Key, "kind", r.Kind, "connector", r.Connector, "result", res)
		return "completed", nil
	}
	kind := connectors.KindOf(opErr)
	var history []attemptError
	_ = json.Unmarshal([]byte(r.Errors), &history)
	history = append(history, attemptError{At: now, Attempt: r.Attempt, Kind: kind.String(), Error: opErr.Error()})
	if len(history) > 20 {
		history = history[len(history)-20:]
	}
	hist, _ := json.Marshal(history)

	outcome := "retry"
	attempt := r.Attempt
	next := now.Add(d.backoff(r.Attempt))
	unknown := r.OutcomeUnknown
	switch kind {
	case connectors.Permanent:
		outcome = "dead"
	case connectors.Unknown:
		outcome, unknown = "unknown", true
	case connectors.Retryable:
		if ra := connectors.RetryAfterOf(opErr); ra > 0 {
			// The helpdesk said when: obey it, and don't count the attempt
			// against the operation (River's snooze).
			next, attempt = now.Add(ra), r.Attempt-1
		}
	}
	// attempt, not r.Attempt: a snoozed attempt (Retry-After) was not
	// used up, so it cannot be the last one.
	if outcome != "dead" && attempt >= r.MaxAttempts {
		outcome = "dead"
	}
	var err error
	if outcome == "dead" {
		_, err = d.db.ExecContext(ctx, d.db.Rebind(`UPDATE outbox SET state = 'dead', finalized_at = ?, lease_until = NULL,
			last_error = ?, errors = ?, outcome_unknown = ? WHERE id = ? AND state = 'running' AND attempted_by = ? AND attempt = ?`),
			now, opErr.Error(), string(hist), unknown, r.ID, d.worker, r.Attempt)
		d.log.Error("outbox operation failed for good", "op", r.Key, "kind", r.Kind, "connector", r.Connector, "attempt", r.Attempt, "err", opErr)
	} else {
		_, err = d.db.ExecContext(ctx, d.db.Rebind(`UPDATE outbox SET state = 'retryable', scheduled_at = ?, attempt = ?, lease_until = NULL,
			last_error = ?, errors = ?, outcome_unknown = ? WHERE id = ? AND state = 'running' AND attempted_by = ? AND attempt = ?`),
			store.Time(next), attempt, opErr.Error(), string(hist), unknown, r.ID, d.worker, r.Attempt)
		d.log.Warn("outbox operation will be retried", "op", r.Key, "kind", r.Kind, "connector", r.Connector,
			"attempt", r.Attempt, "next", next, "outcome_unknown", unknown, "err", opErr)
	}
	if err != nil {
		return "", fmt.Errorf("recording failure of operation %d: %w", r.ID, err)
	}
	d.ops.WithLabelValues(r.Connector, string(r.Kind), outcome).Inc()
	return outcome, nil
}

// backoff is River's: attempt⁴ seconds, ±10 % jitter, capped.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	a := float64(max(attempt, 1))
	base := time.Duration(a*a*a*a) * time.Second
	if base > d.cfg.MaxBackoff || base <= 0 {
		base = d.cfg.MaxBackoff
	}
	j := 0.9 + 0.2*d.jitter()
	return time.Duration(float64(base) * j)
}
