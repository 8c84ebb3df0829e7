package sync

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/store"
)

// ErrBusy is returned when another process is reconciling the connector.
var ErrBusy = errors.New("another abusegw is reconciling this connector")

// Reconciler lists tickets changed in a helpdesk since the last successful
// run and applies what the webhooks missed.
type Reconciler struct {
	db         *store.DB
	connectors map[string]connectors.Connector
	applier    *Applier
	overlap    time.Duration
	now        func() time.Time
	log        *slog.Logger
	holder     string
	runs       *prometheus.CounterVec
}

// ReconcilerOptions tune a Reconciler.
type ReconcilerOptions struct {
	// Overlap is how far before the watermark a run starts listing, for
	// clocks that disagree and helpdesks that round. Default 5 minutes.
	Overlap    time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// NewReconciler builds a Reconciler.
func NewReconciler(db *store.DB, conns map[string]connectors.Connector, applier *Applier, o ReconcilerOptions) (*Reconciler, error) {
	if o.Overlap <= 0 {
		o.Overlap = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	r := &Reconciler{
		db: db, connectors: conns, applier: applier, overlap: o.Overlap, now: o.Now, log: o.Logger,
		// One holder per Reconciler, not per process: a holder that took
		// over an expired lease must not lose it to the old holder's unlock.
		holder: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), rand.Text()[:8]),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abusegw_sync_runs_total",
			Help: "Reconcile runs, by connector and result (ok, failed, busy).",
		}, []string{"connector", "result"}),
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(r.runs); err != nil {
			return nil, fmt.Errorf("registering sync metrics: %w", err)
		}
	}
	return r, nil
}

// Options of one reconcile run.
type Options struct {
	// Since overrides the watermark.
	Since time.Time
	// Full also reads every ticket of an open case, one by one, and marks
	// the cases of tickets that are gone.
	Full bool
}

// Stats count what a run did.
type Stats struct {
	Connector string `json:"connector"`
	Tickets   int    `json:"tickets"`
	Changed   int    `json:"changed"`
	Stale     int    `json:"stale"`
	Unknown   int    `json:"unknown"`
	Gone      int    `json:"gone"`
	Pages     int    `json:"pages"`
}

// Run reconciles one connector. The watermark advances only when the whole
// run succeeded. On PostgreSQL an advisory lock makes sure one replica at a
// time reconciles a connector; on SQLite a lease row does.
func (r *Reconciler) Run(ctx context.Context, connector string, o Options) (st Stats, err error) {
	st.Connector = connector
	conn, ok := r.connectors[connector]
	if !ok {
		return st, fmt.Errorf("no connector %q", connector)
	}
	unlock, err := r.lock(ctx, connector)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			r.runs.WithLabelValues(connector, "busy").Inc()
		}
		return st, err
	}
	defer unlock()
	defer func() {
		result := "ok"
		if err != nil {
			result = "failed"
		}
		r.runs.WithLabelValues(connector, result).Inc()
	}()

	start := store.Time(r.now())
	since := o.Since
	if since.IsZero() {
		var wm store.NullTime
		err := r.db.GetContext(ctx, &wm, r.db.Rebind(`SELECT watermark FROM sync_watermarks WHERE connector = ?`), connector)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return st, fmt.Errorf("reading the watermark of %s: %w", connector, err)
		}
		if wm.Valid {
			since = wm.Time.Add(-r.overlap)
		}
	}
	runErr := r.run(ctx, conn, connector, since, o.Full, &st)
	if rerr := r.recordRun(ctx, connector, start, runErr); rerr != nil && runErr == nil {
		runErr = rerr
	}
	if runErr == nil {
		r.log.Info("reconciled", "connector", connector, "since", since, "tickets", st.Tickets, "changed", st.Changed, "gone", st.Gone)
	}
	return st, runErr
}

func (r *Reconciler) run(ctx context.Context, conn connectors.Connector, connector string, since time.Time, full bool, st *Stats) error {
	var cursor connectors.Cursor
	for {
		page, err := conn.ListUpdated(ctx, since, cursor)
		if err != nil {
			return fmt.Errorf("listing %s tickets updated since %s: %w", connector, since.Format(time.RFC3339), err)
		}
		st.Pages++
		outs, err := r.applier.ApplyPage(ctx, connector, page.Tickets, SourceReconcile)
		if err != nil {
			return err
		}
		st.Tickets += len(page.Tickets)
		for _, out := range outs {
			r.count(st, out)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if !full {
		return nil
	}
	var open []string
	if err := r.db.SelectContext(ctx, &open, r.db.Rebind(`SELECT t.external_id FROM tickets t JOIN cases c ON c.id = t.case_id
		WHERE t.connector = ? AND t.status NOT IN ('resolved', 'closed', 'deleted') ORDER BY t.id`), connector); err != nil {
		return fmt.Errorf("listing open tickets of %s: %w", connector, err)
	}
	for _, id := range open {
		t, err := conn.Get(ctx, id)
		if errors.Is(err, connectors.ErrNotFound) {
			if err := r.applier.MarkGone(ctx, connector, id, err); err != nil {
				return err
			}
			st.Gone++
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s ticket %s: %w", connector, id, err)
		}
		st.Tickets++
		out, err := r.applier.Apply(ctx, connector, t, SourceReconcile, "")
		if err != nil {
			return err
		}
		r.count(st, out)
	}
	return nil
}

func (r *Reconciler) count(st *Stats, out Outcome) {
	switch out {
	case OutcomeChanged:
		st.Changed++
	case OutcomeStale:
		st.Stale++
	case OutcomeUnknown:
		st.Unknown++
	}
}

// recordRun keeps the outcome; the watermark moves to the run's start only
// when it succeeded.
func (r *Reconciler) recordRun(ctx context.Context, connector string, start time.Time, runErr error) error {
	now := store.Time(r.now())
	var err error
	if runErr == nil {
		_, err = r.db.ExecContext(ctx, r.db.Rebind(`INSERT INTO sync_watermarks (connector, watermark, last_run_at, last_success_at, last_error)
			VALUES (?, ?, ?, ?, '')
			ON CONFLICT (connector) DO UPDATE SET watermark = excluded.watermark, last_run_at = excluded.last_run_at,
				last_success_at = excluded.last_success_at, last_error = ''`), connector, start, now, now)
	} else {
		_, err = r.db.ExecContext(context.WithoutCancel(ctx), r.db.Rebind(`INSERT INTO sync_watermarks (connector, last_run_at, last_error)
			VALUES (?, ?, ?)
			ON CONFLICT (connector) DO UPDATE SET last_run_at = excluded.last_run_at, last_error = excluded.last_error`),
			connector, now, runErr.Error())
	}
	if err != nil {
		return fmt.Errorf("recording the reconcile of %s: %w", connector, err)
	}
	return nil
}

// lock takes the connector's reconcile lock.
func (r *Reconciler) lock(ctx context.Context, connector string) (func(), error) {
	if r.db.Dialect() == store.Postgres {
		h := fnv.New64a()
		h.Write([]byte("abusegw-reconcile:" + connector))
		key := int64(h.Sum64())
		c, err := r.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("taking the reconcile lock: %w", err)
		}
		var ok bool
		if err := c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			c.Close()
			return nil, fmt.Errorf("taking the reconcile lock: %w", err)
		}
		if !ok {
			c.Close()
			return nil, ErrBusy
		}
		return func() {
			_, _ = c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
			c.Close()
		}, nil
	}
	// SQLite: a lease row, taken when free or expired. The lease outlives
	// a crashed holder by at most an hour.
	name := "reconcile:" + connector
	now := store.Time(r.now())
	res, err := r.db.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.expires_at < ?`, name, r.holder, now.Add(time.Hour), now)
	if err != nil {
		return nil, fmt.Errorf("taking the reconcile lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, ErrBusy
	}
	return func() {
		_, _ = r.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM leases WHERE name = ? AND holder = ?`, name, r.holder)
	}, nil
}
