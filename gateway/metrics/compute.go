package metrics

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
)

// beginning stands for "no lower bound" in queries.
var beginning = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// The bounds of the open-case age buckets, in milliseconds.
const (
	day     = int64(24 * time.Hour / time.Millisecond)
	bucket1 = 1 * day
	bucket2 = 3 * day
	bucket3 = 7 * day
	bucket4 = 30 * day
)

// sqlFor builds the dialect-specific pieces of the report's queries.
type sqlFor struct{ d store.Dialect }

// ms is the whole milliseconds from b to a (both timestamps).
func (s sqlFor) ms(a, b string) string {
	if s.d == store.Postgres {
		return fmt.Sprintf("CAST(round(EXTRACT(EPOCH FROM (%s - %s)) * 1000) AS BIGINT)", a, b)
	}
	// julianday keeps milliseconds exactly; rounding removes the binary noise.
	return fmt.Sprintf("CAST(round((julianday(%s) - julianday(%s)) * 86400000.0) AS INTEGER)", a, b)
}

// t is a timestamp parameter.
func (s sqlFor) t(name string) string {
	if s.d == store.Postgres {
		return "CAST(:" + name + " AS TIMESTAMPTZ)"
	}
	return ":" + name
}

// caseGroup is the grouping expression over cases c.
func caseGroup(g GroupBy) string {
	switch g {
	case GroupCustomer:
		return "CAST(COALESCE(c.customer_id, 0) AS TEXT)"
	case GroupClassification:
		return "c.classification_identifier"
	case GroupFeed:
		return "c.feed_name"
	case GroupConnector:
		return "c.connector"
	}
	return "''"
}

// eventGroup is the grouping expression over events e (LEFT JOIN cases c).
func eventGroup(g GroupBy) string {
	switch g {
	case GroupCustomer:
		return "CAST(COALESCE(e.customer_id, 0) AS TEXT)"
	case GroupClassification:
		// A case's classification is its first event's identifier, else type.
		return "CASE WHEN e.classification_identifier = '' THEN e.classification_type ELSE e.classification_identifier END"
	case GroupFeed:
		return "e.feed_name"
	case GroupConnector:
		return "COALESCE(c.connector, '')"
	}
	return "''"
}

// querier is what the report's queries run on: a transaction (PostgreSQL)
// or one connection (SQLite), so that the temporary table is visible.
type querier interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// Compute computes the compliance report of q. now is the clock, used when
// q.To is zero.
func Compute(ctx context.Context, db *store.DB, cfg Config, q Query, now time.Time) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if _, err := ParseGroupBy(string(q.GroupBy)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	from, to := q.From, q.To
	if to.IsZero() {
		to = now
	}
	from, to = store.Time(from), store.Time(to)
	if !q.From.IsZero() && !from.Before(to) {
		return nil, fmt.Errorf("%w: the period is empty: from %s is not before to %s", ErrBadQuery, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if q.From.IsZero() {
		from = beginning
	}
	rep := &Report{To: to, GroupBy: string(q.GroupBy), Settings: settings(cfg), Groups: []Group{}, TopOffenders: []Offender{}}
	if !q.From.IsZero() {
		f := from
		rep.From = &f
	}
	c := &computation{db: db, s: sqlFor{db.Dialect()}, cfg: cfg, group: q.GroupBy, args: map[string]any{"from": from, "to": to}}
	err := c.run(ctx, func(x querier) error { return c.compute(ctx, x, rep) })
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func settings(cfg Config) Settings {
	s := Settings{SLASeconds: cfg.SLA.Seconds(), RelapseWindowSecs: cfg.RelapseWindow.Seconds(), NotActedReasons: cfg.NotActedReasons}
	if len(cfg.SLAByClassification) > 0 {
		s.SLAByClassification = map[string]float64{}
		for k, v := range cfg.SLAByClassification {
			s.SLAByClassification[k] = v.Seconds()
		}
	}
	return s
}

// computation is one report being computed.
type computation struct {
	db    *store.DB
	s     sqlFor
	cfg   Config
	group GroupBy
	args  map[string]any
}

// run gives fn a querier where a temporary table lives for the report: a
// repeatable-read transaction on PostgreSQL (one snapshot), one connection
// on SQLite (a transaction there would take the write lock).
func (c *computation) run(ctx context.Context, fn func(querier) error) error {
	if c.db.Dialect() == store.Postgres {
		tx, err := c.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			return fmt.Errorf("beginning the report's transaction: %w", err)
		}
		defer func() { _ = tx.Rollback() }() // read only, apart from the temporary table
		// JIT compilation costs more than it saves on these queries (it
		// took half of the facts query's time), and the sorts and hashes of
		// a large period should stay in memory.
		if _, err := tx.ExecContext(ctx, `SET LOCAL jit = off`); err != nil {
			return fmt.Errorf("preparing the report: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
			return fmt.Errorf("preparing the report: %w", err)
		}
		return fn(tx)
	}
	conn, err := c.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("reserving a connection for the report: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS temp.metrics_facts`); err != nil {
		return fmt.Errorf("preparing the report: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.metrics_facts`)
	}()
	return fn(conn)
}

// named binds named arguments and rebinds for the dialect.
func (c *computation) named(q string, extra map[string]any) (string, []any, error) {
	args := maps.Clone(c.args)
	maps.Copy(args, extra)
	q, list, err := sqlx.Named(q, args)
	if err != nil {
		return "", nil, fmt.Errorf("binding report query: %w", err)
	}
	return c.db.Rebind(q), list, nil
}

// factsSQL builds the per-case facts of the period's cohort: durations in
// milliseconds from receipt to notification, first response and
// resolution (each only when reached before the end of the period), the age
// at the end of the period, the SLA, and whether the case is a relapse.
func (c *computation) factsSQL() (string, map[string]any) {
	s := c.s
	to := s.t("to")
	extra := map[string]any{"relapse_ms": c.cfg.RelapseWindow.Milliseconds(), "sla_ms": c.cfg.SLA.Milliseconds()}
	sla := "CAST(:sla_ms AS BIGINT)"
	if len(c.cfg.SLAByClassification) > 0 {
		keys := slices.Sorted(maps.Keys(c.cfg.SLAByClassification))
		var b strings.Builder
		b.WriteString("CASE c.classification_identifier")
		for i, k := range keys {
			fmt.Fprintf(&b, " WHEN :sla_k%d THEN CAST(:sla_v%d AS BIGINT)", i, i)
			extra["sla_k"+strconv.Itoa(i)] = k
			extra["sla_v"+strconv.Itoa(i)] = c.cfg.SLAByClassification[k].Milliseconds()
		}
		b.WriteString(" ELSE CAST(:sla_ms AS BIGINT) END")
		sla = b.String()
	}
	// The first completed reply; the relapse window: an earlier case's
	// resolution at most relapse_window before this case's receipt, in whole
	// milliseconds rounded as ms() does.
	reply := `(SELECT ` + s.ms("min(o.finalized_at)", "c.created_at") + ` FROM outbox o
			WHERE o.case_id = c.id AND o.kind = 'reply' AND o.state = 'completed' AND o.finalized_at < ` + to + `)`
	within := s.ms("c.created_at", "p.resolved_at") + ` <= CAST(:relapse_ms AS BIGINT)`
	join, onCommit := "", ""
	if c.db.Dialect() == store.Postgres {
		onCommit = " ON COMMIT DROP"
		// One hash join with the first replies of all cases instead of an
		// index probe per case.
		join = `
LEFT JOIN (SELECT o.case_id, min(o.finalized_at) AS at FROM outbox o
	WHERE o.kind = 'reply' AND o.state = 'completed' AND o.finalized_at < ` + to + ` GROUP BY o.case_id) r ON r.case_id = c.id`
		reply = s.ms("r.at", "c.created_at")
		// Natively, so that the index on (customer, classification,
		// resolved_at) bounds the probe: round(d ms) <= W ms exactly when
		// d <= W ms + 499 µs (times have microsecond precision).
		within = `p.resolved_at >= c.created_at - CAST(:relapse_us AS BIGINT) * INTERVAL '1 microsecond'`
		extra["relapse_us"] = c.cfg.RelapseWindow.Milliseconds()*1000 + 499
	}
	q := `CREATE TEMP TABLE metrics_facts` + onCommit + ` AS
SELECT ` + caseGroup(c.group) + ` AS g,
	c.customer_id AS customer_id,
	c.classification_identifier AS cls,
	c.closure_reason AS closure_reason,
	c.reopen_count AS reopen_count,
	CASE WHEN c.notify
		THEN ` + reply + `
		ELSE CASE WHEN c.notified_at < ` + to + ` THEN ` + s.ms("c.notified_at", "c.created_at") + ` END
	END AS t_notify,
	CASE WHEN c.first_response_at IS NOT NULL
		THEN CASE WHEN c.first_response_at < ` + to + ` THEN ` + s.ms("c.first_response_at", "c.created_at") + ` END
		ELSE (SELECT ` + s.ms("min(h.at)", "c.created_at") + ` FROM status_history h
			WHERE h.case_id = c.id AND h.source <> 'gateway' AND h.at < ` + to + `)
	END AS t_response,
	CASE WHEN c.state IN ('resolved', 'closed') AND c.resolved_at < ` + to + `
		THEN ` + s.ms("c.resolved_at", "c.created_at") + ` END AS t_resolve,
	` + s.ms(to, "c.created_at") + ` AS t_age,
	` + sla + ` AS sla_ms,
	CASE WHEN EXISTS (SELECT 1 FROM cases p
		WHERE p.customer_id = c.customer_id AND p.classification_identifier = c.classification_identifier
			AND p.resolved_at <= c.created_at AND p.id <> c.id
			AND ` + within + `)
		THEN 1 ELSE 0 END AS relapse
FROM cases c` + join + `
WHERE c.created_at >= ` + s.t("from") + ` AND c.created_at < ` + to
	return q, extra
}

// actedSQL is true for a resolved fact whose reason counts as acted on.
func (c *computation) actedSQL(extra map[string]any) string {
	names := make([]string, len(c.cfg.NotActedReasons))
	for i, r := range c.cfg.NotActedReasons {
		names[i] = ":na" + strconv.Itoa(i)
		extra["na"+strconv.Itoa(i)] = r
	}
	return "lower(trim(closure_reason)) NOT IN (" + strings.Join(names, ", ") + ")"
}

func (c *computation) compute(ctx context.Context, x querier, rep *Report) error {
	q, extra := c.factsSQL()
	q, args, err := c.named(q, extra)
	if err != nil {
		return err
	}
	if _, err := x.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("collecting the cases of the period: %w", err)
	}
	groups := map[string]*Group{}
	get := func(k string) *Group {
		g := groups[k]
		if g == nil {
			g = &Group{Key: k}
			groups[k] = g
		}
		return g
	}
	if err := c.counts(ctx, x, get); err != nil {
		return err
	}
	if err := c.reasons(ctx, x, get); err != nil {
		return err
	}
	if err := c.backlog(ctx, x, get); err != nil {
		return err
	}
	if err := c.events(ctx, x, get); err != nil {
		return err
	}
	// Percentiles per group, then of all cases (they do not add up).
	if c.group != GroupNone {
		if err := c.percentiles(ctx, x, "g", func(k string) *Figures { return &get(k).Figures }); err != nil {
			return err
		}
	}
	totals := &rep.Totals
	if err := c.percentiles(ctx, x, "''", func(string) *Figures { return totals }); err != nil {
		return err
	}
	if err := c.reports(ctx, x, totals); err != nil {
		return err
	}
	if err := c.offenders(ctx, x, rep); err != nil {
		return err
	}
	// Totals of the additive figures are the sums of the groups'.
	reasons := map[ClosureReason]int64{}
	keys := slices.Sorted(maps.Keys(groups))
	for _, k := range keys {
		g := groups[k]
		addFigures(totals, &g.Figures)
		for _, r := range g.ClosureReasons {
			reasons[ClosureReason{Reason: r.Reason, ActedOn: r.ActedOn}] += r.Cases
		}
		g.finish()
		sortReasons(g.ClosureReasons)
	}
	for r, n := range reasons {
		r.Cases = n
		totals.ClosureReasons = append(totals.ClosureReasons, r)
	}
	sortReasons(totals.ClosureReasons)
	totals.finish()
	if c.group == GroupNone {
		return nil
	}
	labels, err := c.labels(ctx, x)
	if err != nil {
		return err
	}
	for _, k := range keys {
		g := groups[k]
		if c.group == GroupCustomer {
			if l, ok := labels[g.Key]; ok {
				g.Key, g.Label = l[0], l[1]
			} else {
				g.Key = "" // cases and events of no customer
			}
		}
		rep.Groups = append(rep.Groups, *g)
	}
	slices.SortStableFunc(rep.Groups, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
	return nil
}

func sortReasons(rs []ClosureReason) {
	slices.SortFunc(rs, func(a, b ClosureReason) int {
		return cmp.Or(cmp.Compare(b.Cases, a.Cases), strings.Compare(a.Reason, b.Reason))
	})
}

// addFigures adds the additive figures of g to t (maxima take the larger).
func addFigures(t, g *Figures) {
	t.EventsReceived += g.EventsReceived
	t.EventsUnowned += g.EventsUnowned
	t.EventsIgnored += g.EventsIgnored
	t.CasesOpened += g.CasesOpened
	t.CasesNotified += g.CasesNotified
	t.CasesResponded += g.CasesResponded
	t.CasesResolved += g.CasesResolved
	t.CasesActedOn += g.CasesActedOn
	t.CasesReopened += g.CasesReopened
	t.Reopens += g.Reopens
	t.SLADue += g.SLADue
	t.SLAMet += g.SLAMet
	t.Relapses += g.Relapses
	t.OpenByAge.Under1Day += g.OpenByAge.Under1Day
	t.OpenByAge.Days1To3 += g.OpenByAge.Days1To3
	t.OpenByAge.Days3To7 += g.OpenByAge.Days3To7
	t.OpenByAge.Days7To30 += g.OpenByAge.Days7To30
	t.OpenByAge.Over30Days += g.OpenByAge.Over30Days
	t.OpenByAge.Total += g.OpenByAge.Total
	for _, p := range [][2]*Durations{
		{&t.TimeToNotify, &g.TimeToNotify}, {&t.TimeToFirstResponse, &g.TimeToFirstResponse}, {&t.TimeToResolve, &g.TimeToResolve},
	} {
		p[0].Count += p[1].Count
		if m := p[1].MaxSeconds; m != nil && (p[0].MaxSeconds == nil || *m > *p[0].MaxSeconds) {
			v := *m
			p[0].MaxSeconds = &v
		}
	}
}

func seconds(ms sql.NullInt64) *float64 {
	if !ms.Valid {
		return nil
	}
	v := float64(ms.Int64) / 1000
	return &v
}

// counts reads the cohort's counts per group.
func (c *computation) counts(ctx context.Context, x querier, get func(string) *Group) error {
	extra := map[string]any{}
	acted := c.actedSQL(extra)
	q, args, err := c.named(`SELECT g, count(*),
		count(t_notify), count(t_response), count(t_resolve),
		sum(CASE WHEN t_resolve IS NOT NULL AND `+acted+` THEN 1 ELSE 0 END),
		sum(CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END), sum(reopen_count), sum(relapse),
		sum(CASE WHEN t_resolve IS NOT NULL OR t_age >= sla_ms THEN 1 ELSE 0 END),
		sum(CASE WHEN t_resolve IS NOT NULL AND t_resolve <= sla_ms THEN 1 ELSE 0 END),
		max(t_notify), max(t_response), max(t_resolve)
		FROM metrics_facts GROUP BY g`, extra)
	if err != nil {
		return err
	}
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("counting the cases of the period: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var f Figures
		var mn, mr, ms sql.NullInt64
		if err := rows.Scan(&k, &f.CasesOpened, &f.CasesNotified, &f.CasesResponded, &f.CasesResolved, &f.CasesActedOn,
			&f.CasesReopened, &f.Reopens, &f.Relapses, &f.SLADue, &f.SLAMet, &mn, &mr, &ms); err != nil {
			return fmt.Errorf("reading case counts: %w", err)
		}
		g := get(k)
		f.ReportsReceived, f.EventsReceived, f.EventsUnowned, f.EventsIgnored = g.ReportsReceived, g.EventsReceived, g.EventsUnowned, g.EventsIgnored
		f.OpenByAge, f.ClosureReasons = g.OpenByAge, g.ClosureReasons
		f.TimeToNotify = Durations{Count: f.CasesNotified, MaxSeconds: seconds(mn)}
		f.TimeToFirstResponse = Durations{Count: f.CasesResponded, MaxSeconds: seconds(mr)}
		f.TimeToResolve = Durations{Count: f.CasesResolved, MaxSeconds: seconds(ms)}
		g.Figures = f
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading case counts: %w", err)
	}
	return nil
}

// reasons reads the closure reasons of the cohort's resolved cases.
func (c *computation) reasons(ctx context.Context, x querier, get func(string) *Group) error {
	extra := map[string]any{}
	acted := c.actedSQL(extra)
	q, args, err := c.named(`SELECT g, trim(closure_reason) AS reason, CASE WHEN `+acted+` THEN 1 ELSE 0 END AS acted, count(*)
		FROM metrics_facts WHERE t_resolve IS NOT NULL GROUP BY g, reason, acted`, extra)
	if err != nil {
		return err
	}
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("counting closure reasons: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var r ClosureReason
		if err := rows.Scan(&k, &r.Reason, &r.ActedOn, &r.Cases); err != nil {
			return fmt.Errorf("reading closure reasons: %w", err)
		}
		g := get(k)
		g.ClosureReasons = append(g.ClosureReasons, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading closure reasons: %w", err)
	}
	return nil
}

// backlog counts the cases open at the end of the period by age: all cases
// received before it and not resolved by then, whenever received.
func (c *computation) backlog(ctx context.Context, x querier, get func(string) *Group) error {
	to := c.s.t("to")
	q, args, err := c.named(`SELECT g,
		sum(CASE WHEN age < CAST(:b1 AS BIGINT) THEN 1 ELSE 0 END),
		sum(CASE WHEN age >= CAST(:b1 AS BIGINT) AND age < CAST(:b2 AS BIGINT) THEN 1 ELSE 0 END),
		sum(CASE WHEN age >= CAST(:b2 AS BIGINT) AND age < CAST(:b3 AS BIGINT) THEN 1 ELSE 0 END),
		sum(CASE WHEN age >= CAST(:b3 AS BIGINT) AND age < CAST(:b4 AS BIGINT) THEN 1 ELSE 0 END),
		sum(CASE WHEN age >= CAST(:b4 AS BIGINT) THEN 1 ELSE 0 END),
		count(*)
		FROM (SELECT `+caseGroup(c.group)+` AS g, `+c.s.ms(to, "c.created_at")+` AS age FROM cases c
			WHERE c.created_at < `+to+` AND NOT (c.state IN ('resolved', 'closed') AND c.resolved_at IS NOT NULL AND c.resolved_at < `+to+`)) open_cases
		GROUP BY g`, map[string]any{"b1": bucket1, "b2": bucket2, "b3": bucket3, "b4": bucket4})
	if err != nil {
		return err
	}
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("counting open cases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var a AgeBuckets
		if err := rows.Scan(&k, &a.Under1Day, &a.Days1To3, &a.Days3To7, &a.Days7To30, &a.Over30Days, &a.Total); err != nil {
			return fmt.Errorf("reading open cases: %w", err)
		}
		get(k).OpenByAge = a
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading open cases: %w", err)
	}
	return nil
}

// events counts the period's events per group, and the reports they came
// in (for the groups; the total counts reports directly).
func (c *computation) events(ctx context.Context, x querier, get func(string) *Group) error {
	join := ""
	if c.group == GroupConnector {
		join = " LEFT JOIN cases c ON c.id = e.case_id"
	}
	q, args, err := c.named(`SELECT `+eventGroup(c.group)+` AS g, count(*),
		sum(CASE WHEN e.disposition = 'unowned' THEN 1 ELSE 0 END),
		sum(CASE WHEN e.disposition = 'ignored' THEN 1 ELSE 0 END),
		count(DISTINCT e.report_id)
		FROM events e`+join+`
		WHERE e.created_at >= `+c.s.t("from")+` AND e.created_at < `+c.s.t("to")+`
		GROUP BY 1`, nil)
	if err != nil {
		return err
	}
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("counting events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n, unowned, ignored, reports int64
		if err := rows.Scan(&k, &n, &unowned, &ignored, &reports); err != nil {
			return fmt.Errorf("reading event counts: %w", err)
		}
		g := get(k)
		g.EventsReceived, g.EventsUnowned, g.EventsIgnored, g.ReportsReceived = n, unowned, ignored, reports
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading event counts: %w", err)
	}
	return nil
}

// reports counts the reports received in the period.
func (c *computation) reports(ctx context.Context, x querier, t *Figures) error {
	q, args, err := c.named(`SELECT count(*) FROM reports WHERE received_at >= `+c.s.t("from")+` AND received_at < `+c.s.t("to"), nil)
	if err != nil {
		return err
	}
	if err := sqlx.GetContext(ctx, x, &t.ReportsReceived, q, args...); err != nil {
		return fmt.Errorf("counting reports: %w", err)
	}
	return nil
}

// percentiles sets the medians and 90th percentiles of the three durations,
// grouped by the expression group ("g", or "”" for all cases).
func (c *computation) percentiles(ctx context.Context, x querier, group string, fig func(string) *Figures) error {
	type measure struct {
		col string
		d   func(*Figures) *Durations
	}
	measures := []measure{
		{"t_notify", func(f *Figures) *Durations { return &f.TimeToNotify }},
		{"t_response", func(f *Figures) *Durations { return &f.TimeToFirstResponse }},
		{"t_resolve", func(f *Figures) *Durations { return &f.TimeToResolve }},
	}
	if c.db.Dialect() == store.Postgres {
		var cols []string
		for _, m := range measures {
			cols = append(cols, fmt.Sprintf("percentile_cont(0.5) WITHIN GROUP (ORDER BY %s), percentile_cont(0.9) WITHIN GROUP (ORDER BY %s)", m.col, m.col))
		}
		rows, err := x.QueryContext(ctx, `SELECT `+group+` AS k, `+strings.Join(cols, ", ")+` FROM metrics_facts GROUP BY 1`)
		if err != nil {
			return fmt.Errorf("computing percentiles: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			v := make([]sql.NullFloat64, 2*len(measures))
			dest := []any{&k}
			for i := range v {
				dest = append(dest, &v[i])
			}
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("reading percentiles: %w", err)
			}
			f := fig(k)
			for i, m := range measures {
				d := m.d(f)
				d.MedianSeconds, d.P90Seconds = msSeconds(v[2*i]), msSeconds(v[2*i+1])
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading percentiles: %w", err)
		}
		return nil
	}
	// SQLite: rank the values in SQL and fetch only the rows either side of
	// each percentile; interpolate as percentile_cont does.
	for _, m := range measures {
		pos := func(p string) string {
			fl := "CAST(" + p + " * (n - 1) AS INTEGER)"
			return fl + ", " + fl + " + (" + p + " * (n - 1) > " + fl + ")"
		}
		rows, err := x.QueryContext(ctx, `SELECT k, n, rn, v FROM (
			SELECT `+group+` AS k, `+m.col+` AS v,
				row_number() OVER (PARTITION BY `+group+` ORDER BY `+m.col+`) - 1 AS rn,
				count(*) OVER (PARTITION BY `+group+`) AS n
			FROM metrics_facts WHERE `+m.col+` IS NOT NULL) ranked
			WHERE rn IN (`+pos("0.5")+`, `+pos("0.9")+`)`)
		if err != nil {
			return fmt.Errorf("computing percentiles: %w", err)
		}
		type ranks struct {
			n    int64
			vals map[int64]float64
		}
		byKey := map[string]*ranks{}
		for rows.Next() {
			var k string
			var n, rn int64
			var v float64
			if err := rows.Scan(&k, &n, &rn, &v); err != nil {
				rows.Close()
				return fmt.Errorf("reading percentiles: %w", err)
			}
			r := byKey[k]
			if r == nil {
				r = &ranks{n: n, vals: map[int64]float64{}}
				byKey[k] = r
			}
			r.vals[rn] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("reading percentiles: %w", err)
		}
		for k, r := range byKey {
			d := m.d(fig(k))
			d.MedianSeconds = msSeconds(percentileCont(0.5, r.n, r.vals))
			d.P90Seconds = msSeconds(percentileCont(0.9, r.n, r.vals))
		}
	}
	return nil
}

// percentileCont interpolates the p-th percentile of n ranked values of
// which vals holds the ones it needs (by 0-based rank), exactly as
// PostgreSQL's percentile_cont does.
func percentileCont(p float64, n int64, vals map[int64]float64) sql.NullFloat64 {
	if n == 0 {
		return sql.NullFloat64{}
	}
	pos := p * float64(n-1)
	first, second := math.Floor(pos), math.Ceil(pos)
	lo, ok1 := vals[int64(first)]
	hi, ok2 := vals[int64(second)]
	if !ok1 || !ok2 {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: lo + (hi-lo)*(pos-first), Valid: true}
}

// msSeconds turns milliseconds into seconds, rounded to the millisecond.
func msSeconds(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	s := math.Round(v.Float64) / 1000
	return &s
}

// offenders lists the customers with the most cases in the period.
func (c *computation) offenders(ctx context.Context, x querier, rep *Report) error {
	q, args, err := c.named(`SELECT cu.key AS customer, cu.name AS name, count(*) AS cases, sum(f.relapse) AS relapses, count(DISTINCT f.cls) AS classifications
		FROM metrics_facts f JOIN customers cu ON cu.id = f.customer_id
		GROUP BY cu.key, cu.name HAVING count(*) >= 2
		ORDER BY cases DESC, relapses DESC, cu.key LIMIT CAST(:top AS BIGINT)`, map[string]any{"top": c.cfg.TopOffenders})
	if err != nil {
		return err
	}
	if err := sqlx.SelectContext(ctx, x, &rep.TopOffenders, q, args...); err != nil {
		return fmt.Errorf("listing repeat offenders: %w", err)
	}
	if rep.TopOffenders == nil {
		rep.TopOffenders = []Offender{}
	}
	return nil
}

// labels maps customer ids (as text) to their key and name.
func (c *computation) labels(ctx context.Context, x querier) (map[string][2]string, error) {
	if c.group != GroupCustomer {
		return nil, nil
	}
	rows, err := x.QueryContext(ctx, `SELECT id, key, name FROM customers`)
	if err != nil {
		return nil, fmt.Errorf("reading customers: %w", err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var id int64
		var key, name string
		if err := rows.Scan(&id, &key, &name); err != nil {
			return nil, fmt.Errorf("reading customers: %w", err)
		}
		out[strconv.FormatInt(id, 10)] = [2]string{key, name}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading customers: %w", err)
	}
	return out, nil
}

// ErrBadQuery marks errors in a report's parameters (HTTP 400).
var ErrBadQuery = errors.New("bad report parameters")
