package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abusegw/abusegw/gateway/store"
)

// ResolveBuckets are the time-to-resolve histogram's upper bounds: 1 h,
// 4 h, 12 h, 1, 2, 3, 7, 14, 30 and 90 days.
var ResolveBuckets = []float64{3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400}

// CollectorOptions tune a Collector.
type CollectorOptions struct {
	// TTL is how long figures read from the database are served before
	// they are read again. Default 30 s.
	TTL time.Duration
	// Timeout bounds one reading. Default 20 s.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Collector serves the gateway's state from the database as Prometheus
// series, read on scrape and cached for a short while. Its labels are
// bounded: classification, connector, states; never a customer or an
// address.
type Collector struct {
	db   *store.DB
	cfg  Config
	opts CollectorOptions

	mu      sync.Mutex
	at      time.Time
	cached  []prometheus.Metric
	lastErr error

	descs collectorDescs
}

type collectorDescs struct {
	up, events, reports, cases, opened, resolved, age, ttr, outbox, oldest, webhooks, syncOK *prometheus.Desc
}

// NewCollector builds a Collector; register it with a prometheus.Registerer.
func NewCollector(db *store.DB, cfg Config, opts CollectorOptions) *Collector {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{db: db, cfg: cfg.WithDefaults(), opts: opts, descs: collectorDescs{
		up:       d("abusegw_metrics_db_up", "1 if the last reading of the database for these metrics succeeded, else 0."),
		events:   d("abusegw_events", "Events stored, by disposition (case, unowned, ignored).", "disposition"),
		reports:  d("abusegw_reports", "Reports stored, by processing status.", "status"),
		cases:    d("abusegw_cases", "Cases, by state.", "state"),
		opened:   d("abusegw_cases_opened", "Cases ever opened, by classification and connector.", "classification", "connector"),
		resolved: d("abusegw_cases_resolved", "Cases resolved or closed now, by classification, connector and whether the closure reason counts as acted on.", "classification", "connector", "acted_on"),
		age:      d("abusegw_cases_open_by_age", "Cases not resolved, by time since receipt (lt_1d, 1d_3d, 3d_7d, 7d_30d, gt_30d).", "age"),
		ttr:      d("abusegw_case_time_to_resolve_seconds", "Time from receipt to resolution of the cases resolved or closed now, by classification and connector.", "classification", "connector"),
		outbox:   d("abusegw_outbox_operations", "Helpdesk operations in the outbox, by connector and state (available, running, retryable: the depth; dead: failed for good).", "connector", "state"),
		oldest:   d("abusegw_outbox_oldest_pending_age_seconds", "Age of the oldest operation waiting to be done, by connector.", "connector"),
		webhooks: d("abusegw_webhook_deliveries", "Webhook deliveries recorded, by connector and state.", "connector", "state"),
		syncOK:   d("abusegw_sync_last_success_timestamp_seconds", "When the last reconcile of a connector succeeded (Unix time).", "connector"),
	}}
}

var _ prometheus.Collector = (*Collector)(nil)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, x := range []*prometheus.Desc{d.up, d.events, d.reports, d.cases, d.opened, d.resolved, d.age, d.ttr, d.outbox, d.oldest, d.webhooks, d.syncOK} {
		ch <- x
	}
}

// Collect implements prometheus.Collector: the cached figures, read again
// when older than the TTL. A failed reading serves abusegw_metrics_db_up 0
// and nothing else, so that a stale figure is never taken for a fresh one.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.opts.Now()
	if c.at.IsZero() || now.Sub(c.at) >= c.opts.TTL || now.Before(c.at) {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		ms, err := c.read(ctx, now)
		cancel()
		c.at, c.cached, c.lastErr = now, ms, err
		if err != nil {
			c.opts.Logger.Warn("reading metrics from the database", "err", err)
		}
	}
	ms, err := c.cached, c.lastErr
	c.mu.Unlock()
	up := 1.0
	if err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.descs.up, prometheus.GaugeValue, up)
	for _, m := range ms {
		ch <- m
	}
}

// read queries the database for every series.
func (c *Collector) read(ctx context.Context, now time.Time) ([]prometheus.Metric, error) {
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	s := sqlFor{c.db.Dialect()}
	now = store.Time(now)
	nowSQL := "?"
	if c.db.Dialect() == store.Postgres {
		nowSQL = "CAST(? AS TIMESTAMPTZ)"
	}
	type labelled struct {
		q      string
		args   []any
		desc   *prometheus.Desc
		labels int
	}
	for _, l := range []labelled{
		// Kept per report (reports.*_count), not counted over the events.
		{`SELECT 'case', COALESCE(sum(events_count - unowned_count - ignored_count), 0) FROM reports
			UNION ALL SELECT 'unowned', COALESCE(sum(unowned_count), 0) FROM reports
			UNION ALL SELECT 'ignored', COALESCE(sum(ignored_count), 0) FROM reports`, nil, c.descs.events, 1},
		{`SELECT status, count(*) FROM reports GROUP BY status`, nil, c.descs.reports, 1},
		{`SELECT state, count(*) FROM cases GROUP BY state`, nil, c.descs.cases, 1},
		{`SELECT classification_identifier, connector, count(*) FROM cases GROUP BY classification_identifier, connector`, nil, c.descs.opened, 2},
		{`SELECT connector, state, count(*) FROM outbox GROUP BY connector, state`, nil, c.descs.outbox, 2},
		{`SELECT connector, ` + s.ms(nowSQL, "min(created_at)") + ` / 1000.0 FROM outbox
			WHERE state IN ('available', 'running', 'retryable') GROUP BY connector`, []any{now}, c.descs.oldest, 1},
		{`SELECT connector, state, count(*) FROM webhook_deliveries GROUP BY connector, state`, nil, c.descs.webhooks, 2},
	} {
		if err := c.rows(ctx, l.q, l.args, l.labels, func(labels []string, v float64) { gauge(l.desc, v, labels...) }); err != nil {
			return nil, err
		}
	}
	var watermarks []struct {
		Connector string         `db:"connector"`
		At        store.NullTime `db:"last_success_at"`
	}
	if err := c.db.SelectContext(ctx, &watermarks, `SELECT connector, last_success_at FROM sync_watermarks WHERE last_success_at IS NOT NULL`); err != nil {
		return nil, fmt.Errorf("reading sync watermarks: %w", err)
	}
	for _, w := range watermarks {
		if w.At.Valid {
			gauge(c.descs.syncOK, float64(w.At.Time.UnixMilli())/1000, w.Connector)
		}
	}

	// Resolved cases: acted on or not, and the time-to-resolve histogram.
	na := make([]string, len(c.cfg.NotActedReasons))
	args := []any{}
	for i, r := range c.cfg.NotActedReasons {
		na[i] = "?"
		args = append(args, r)
	}
	acted := "CASE WHEN lower(trim(closure_reason)) NOT IN (" + strings.Join(na, ", ") + ") THEN 'true' ELSE 'false' END"
	err := c.rows(ctx, `SELECT classification_identifier, connector, `+acted+`, count(*) FROM cases
		WHERE state IN ('resolved', 'closed') GROUP BY 1, 2, 3`, args, 3,
		func(labels []string, v float64) { gauge(c.descs.resolved, v, labels...) })
	if err != nil {
		return nil, err
	}
	bucketCols := make([]string, len(ResolveBuckets))
	for i, b := range ResolveBuckets {
		bucketCols[i] = fmt.Sprintf("sum(CASE WHEN ttr <= %d THEN 1 ELSE 0 END)", int64(b*1000))
	}
	q := `SELECT cls, conn, count(*), COALESCE(sum(ttr), 0), ` + strings.Join(bucketCols, ", ") + ` FROM (
		SELECT classification_identifier AS cls, connector AS conn, ` + s.ms("resolved_at", "created_at") + ` AS ttr
		FROM cases WHERE state IN ('resolved', 'closed') AND resolved_at IS NOT NULL) r GROUP BY cls, conn`
	rows, err := c.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("reading times to resolve: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cls, conn string
		var count uint64
		var sumMS float64
		counts := make([]uint64, len(ResolveBuckets))
		dest := []any{&cls, &conn, &count, &sumMS}
		for i := range counts {
			dest = append(dest, &counts[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("reading times to resolve: %w", err)
		}
		buckets := make(map[float64]uint64, len(ResolveBuckets))
		for i, b := range ResolveBuckets {
			buckets[b] = counts[i]
		}
		h, err := prometheus.NewConstHistogram(c.descs.ttr, count, sumMS/1000, buckets, cls, conn)
		if err != nil {
			return nil, fmt.Errorf("building the time-to-resolve histogram: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading times to resolve: %w", err)
	}

	// Open cases by age, now.
	var a struct{ B0, B1, B2, B3, B4 int64 }
	ageSQL := s.ms(nowSQL, "created_at")
	err = c.db.QueryRowxContext(ctx, c.db.Rebind(`SELECT
		COALESCE(sum(CASE WHEN age < ? THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN age >= ? AND age < ? THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN age >= ? AND age < ? THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN age >= ? AND age < ? THEN 1 ELSE 0 END), 0),
		COALESCE(sum(CASE WHEN age >= ? THEN 1 ELSE 0 END), 0)
		FROM (SELECT `+ageSQL+` AS age FROM cases WHERE state NOT IN ('resolved', 'closed')) o`),
		bucket1, bucket1, bucket2, bucket2, bucket3, bucket3, bucket4, bucket4, now).Scan(&a.B0, &a.B1, &a.B2, &a.B3, &a.B4)
	if err != nil {
		return nil, fmt.Errorf("reading open cases by age: %w", err)
	}
	for i, v := range []int64{a.B0, a.B1, a.B2, a.B3, a.B4} {
		gauge(c.descs.age, float64(v), []string{"lt_1d", "1d_3d", "3d_7d", "7d_30d", "gt_30d"}[i])
	}
	return out, nil
}

// rows runs q and hands each row's first n columns (as text) and its last
// column (a number) to fn.
func (c *Collector) rows(ctx context.Context, q string, args []any, n int, fn func([]string, float64)) error {
	rows, err := c.db.QueryContext(ctx, c.db.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("reading metrics (%s): %w", strings.Fields(q)[1], err)
	}
	defer rows.Close()
	for rows.Next() {
		labels := make([]string, n)
		var v float64
		dest := make([]any, 0, n+1)
		for i := range labels {
			dest = append(dest, &labels[i])
		}
		dest = append(dest, &v)
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reading metrics: %w", err)
		}
		fn(labels, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading metrics: %w", err)
	}
	return nil
}
