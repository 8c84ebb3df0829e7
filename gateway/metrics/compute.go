package metrics

import (
	"bytes"
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
	"sync"
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

// Case values the report reads (README, "Compliance metrics"): when case c
// counts as notified (the first reply sent when the customer is notified,
// else when the ticket was created) and first responded to (the recorded
// first response, else the first status change not made by abusegw), the
// whole milliseconds from receipt to each and to resolution, and from the
// prior resolution of the customer's classification to receipt; on SQLite
// also the receipt in whole milliseconds. On PostgreSQL the times are
// columns a trigger keeps; on SQLite expressions of cases_report_idx and
// cases_customer_idx (migration 00008_case_facts), written exactly as there,
// so that the report reads those indexes alone.
const (
	notificationAt   = "notification_at"
	responseAt       = "response_at"
	timeToNotifyMS   = "time_to_notify_ms"
	timeToResponseMS = "time_to_response_ms"
	timeToResolveMS  = "time_to_resolve_ms"
	relapseGapMS     = "relapse_gap_ms"
	receivedMS       = "received_ms"
)

// c is the SQL of case c's value name (one of the constants above).
func (s sqlFor) c(name string) string {
	if s.d == store.Postgres && name != notificationAt && name != responseAt {
		return "c." + name
	}
	switch name {
	case notificationAt:
		return "CASE WHEN c.notify THEN c.first_reply_at ELSE c.notified_at END"
	case responseAt:
		return "COALESCE(c.first_response_at, c.first_outside_change_at)"
	case timeToNotifyMS:
		return s.ms(s.c(notificationAt), "c.created_at")
	case timeToResponseMS:
		return s.ms(s.c(responseAt), "c.created_at")
	case timeToResolveMS:
		return s.ms("c.resolved_at", "c.created_at")
	case relapseGapMS:
		return s.ms("c.created_at", "c.prior_resolved_at")
	case receivedMS:
		return "CAST(round(julianday(c.created_at) * 86400000.0) AS INTEGER)"
	}
	panic("metrics: no case value " + name)
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
		return "c.customer_id" // NULL read as "0", as eventGroup has it
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
		return "e.customer_id" // NULL read as "0"
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

// groupKey is a group's key as read: NULL only for the customer of cases and
// events that have none, as customer id 0.
func groupKey(k sql.NullString) string {
	if !k.Valid {
		return "0"
	}
	return k.String
}

// querier is what the report's queries run on: a transaction (PostgreSQL:
// one snapshot) or one connection (SQLite).
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
	if err := c.compute(ctx, rep); err != nil {
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

// run runs the report's queries: each fn on a querier of its own, at the
// same time, when the pool has connections enough (else all on one, one
// after the other). On PostgreSQL these are repeatable-read transactions
// that share one snapshot (one state of the database for the whole
// report); on SQLite connections (a transaction there would take the
// write lock).
func (c *computation) run(ctx context.Context, fns ...func(context.Context, querier) error) error {
	n := len(fns)
	if most := c.db.Stats().MaxOpenConnections; most > 0 && most < n {
		n = 1
	}
	xs := make([]querier, 0, n)
	if c.db.Dialect() == store.Postgres {
		snapshot := ""
		for range n {
			tx, err := c.begin(ctx, snapshot)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }() // read only
			if snapshot == "" && n > 1 {
				if err := tx.GetContext(ctx, &snapshot, `SELECT pg_export_snapshot()`); err != nil {
					return fmt.Errorf("preparing the report: %w", err)
				}
			}
			xs = append(xs, tx)
		}
	} else {
		for range n {
			conn, err := c.db.Connx(ctx)
			if err != nil {
				return fmt.Errorf("reserving a connection for the report: %w", err)
			}
			defer conn.Close()
			xs = append(xs, conn)
		}
	}
	if n == 1 {
		for _, fn := range fns {
			if err := fn(ctx, xs[0]); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx, xs[i]); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// begin begins a report transaction on PostgreSQL, in the snapshot another
// one exported when snapshot is not "".
func (c *computation) begin(ctx context.Context, snapshot string) (*sqlx.Tx, error) {
	tx, err := c.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("beginning the report's transaction: %w", err)
	}
	// JIT compilation costs more than it saves on these queries, and the
	// sorts and hashes of a large period should stay in memory (a million
	// cases grouped by customer sort in about 130 MB).
	stmts := []string{`SET LOCAL jit = off`, `SET LOCAL work_mem = '256MB'`}
	if snapshot != "" {
		stmts = append([]string{`SET TRANSACTION SNAPSHOT '` + strings.ReplaceAll(snapshot, "'", "''") + `'`}, stmts...)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("preparing the report: %w", err)
		}
	}
	return tx, nil
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

// slaSQL is the SLA of case c in milliseconds.
func (c *computation) slaSQL(extra map[string]any) string {
	extra["sla_ms"] = c.cfg.SLA.Milliseconds()
	if len(c.cfg.SLAByClassification) == 0 {
		return "CAST(:sla_ms AS BIGINT)"
	}
	keys := slices.Sorted(maps.Keys(c.cfg.SLAByClassification))
	var b strings.Builder
	b.WriteString("CASE c.classification_identifier")
	for i, k := range keys {
		fmt.Fprintf(&b, " WHEN :sla_k%d THEN CAST(:sla_v%d AS BIGINT)", i, i)
		extra["sla_k"+strconv.Itoa(i)] = k
		extra["sla_v"+strconv.Itoa(i)] = c.cfg.SLAByClassification[k].Milliseconds()
	}
	b.WriteString(" ELSE CAST(:sla_ms AS BIGINT) END")
	return b.String()
}

// ageAtLeast is true when case c was received at least d before the end of
// the period, its age in whole milliseconds as ms() counts it.
func (c *computation) ageAtLeast(d time.Duration, extra map[string]any) string {
	name := "age"
	for i := 0; extra[name] != nil; i++ {
		name = "age" + strconv.Itoa(i)
	}
	if c.s.d == store.Postgres {
		// A comparison of times: round(a ms) >= n exactly when
		// a >= n ms - 500 µs (times have microsecond precision).
		extra[name] = c.args["to"].(time.Time).Add(-(d - 500*time.Microsecond))
		return "c.created_at <= CAST(:" + name + " AS TIMESTAMPTZ)"
	}
	// julianday keeps milliseconds exactly: ms(a, b) is the difference of
	// the two times in whole milliseconds.
	extra[name] = d.Milliseconds()
	return c.s.c(receivedMS) + " <= CAST(round(julianday(:to) * 86400000.0) AS INTEGER) - CAST(:" + name + " AS BIGINT)"
}

// agedSQL is true when case c is at least as old as its SLA at the end of
// the period.
func (c *computation) agedSQL(extra map[string]any) string {
	if c.s.d == store.SQLite {
		return c.s.c(receivedMS) + " <= CAST(round(julianday(:to) * 86400000.0) AS INTEGER) - " + c.slaSQL(extra)
	}
	// On PostgreSQL, by classification: the SLA's time before the end.
	keys := slices.Sorted(maps.Keys(c.cfg.SLAByClassification))
	if len(keys) == 0 {
		return c.ageAtLeast(c.cfg.SLA, extra)
	}
	var b strings.Builder
	b.WriteString("CASE c.classification_identifier")
	for i, k := range keys {
		name := "sla_k" + strconv.Itoa(i)
		extra[name] = k
		fmt.Fprintf(&b, " WHEN :%s THEN %s", name, c.ageAtLeast(c.cfg.SLAByClassification[k], extra))
	}
	b.WriteString(" ELSE " + c.ageAtLeast(c.cfg.SLA, extra) + " END")
	return b.String()
}

// casesPart is a part of the cases received before the end of the period,
// by receipt: from (when not zero) up to to (when not zero, else the end).
type casesPart struct{ from, to time.Time }

// casesSQL is the pass over the cases received before the end of the
// period, or over a part of them (on SQLite, over cases_report_idx alone). Per case (inner query,
// computed once): its group; whether it is of the period's cohort (k),
// resolved before the end (r), notified and first responded to before the
// end, a relapse, at least as old as its SLA and resolved within it; its
// times to notification, first response and resolution (sqlFor.c). Per
// group: how many of the cohort were opened, reopened, relapsed, due and
// resolved within their SLA; the open cases by age (cumulative: younger
// than each bound, then all); and, to be counted and ranked in Go, the
// cohort's times (comma-separated milliseconds) and closure reasons (each
// as its length in bytes, a colon and the reason).
func (c *computation) casesSQL(part casesPart) (string, map[string]any) {
	s := c.s
	from, to := s.t("from"), s.t("to")
	extra := map[string]any{"relapse_ms": c.cfg.RelapseWindow.Milliseconds()}
	where := "c.created_at < " + to
	if !part.to.IsZero() {
		where = "c.created_at < " + s.t("part_to")
		extra["part_to"] = part.to
	}
	if !part.from.IsZero() {
		where = "c.created_at >= " + s.t("part_from") + " AND " + where
		extra["part_from"] = part.from
	}
	list := "string_agg(CAST(%s AS TEXT), ',')"
	reasons := "string_agg(CAST(octet_length(reason) AS TEXT) || '::' || reason, '')"
	// On SQLite, TIMESTAMP columns have numeric affinity: compared as they
	// are (+), they are not first tried as numbers, row after row.
	plain, fence, key, group := "c.", " OFFSET 0", "g", "GROUP BY g"
	if s.d == store.SQLite {
		list = "group_concat(%s)"
		reasons = "group_concat(length(CAST(reason AS BLOB)) || '::' || reason, '')"
		plain, fence = "+c.", " LIMIT -1"
	}
	if c.group == GroupNone {
		key, group = "''", "HAVING count(*) > 0" // no sort for the one group
	}
	resolved := "c.state IN ('resolved', 'closed') AND c.resolved_at IS NOT NULL AND " + plain + "resolved_at < " + to
	var younger, ages []string
	for i, b := range []int64{bucket1, bucket2, bucket3, bucket4} {
		younger = append(younger, fmt.Sprintf("sum(CASE WHEN NOT r AND NOT a%d THEN 1 ELSE 0 END)", i+1))
		ages = append(ages, c.ageAtLeast(time.Duration(b)*time.Millisecond, extra)+fmt.Sprintf(" AS a%d", i+1))
	}
	q := `SELECT ` + key + `, sum(CASE WHEN k THEN 1 ELSE 0 END),
	sum(CASE WHEN k AND reopen_count > 0 THEN 1 ELSE 0 END), sum(CASE WHEN k THEN reopen_count ELSE 0 END),
	sum(CASE WHEN k AND relapse THEN 1 ELSE 0 END),
	sum(CASE WHEN k AND (r OR aged) THEN 1 ELSE 0 END),
	sum(CASE WHEN k AND r AND within THEN 1 ELSE 0 END),
	` + fmt.Sprintf(list, "CASE WHEN k AND notified THEN to_notify END") + `,
	` + fmt.Sprintf(list, "CASE WHEN k AND responded THEN to_response END") + `,
	` + fmt.Sprintf(list, "CASE WHEN k AND r THEN to_resolve END") + `,
	` + strings.ReplaceAll(reasons, "reason", "CASE WHEN k AND r THEN reason END") + `,
	` + strings.Join(younger, ",\n\t") + `,
	sum(CASE WHEN r THEN 0 ELSE 1 END)
FROM (SELECT ` + caseGroup(c.group) + ` AS g, ` + plain + `created_at >= ` + from + ` AS k, ` + resolved + ` AS r,
		c.reopen_count, c.closure_reason AS reason,
		` + s.c(notificationAt) + ` < ` + to + ` AS notified, ` + s.c(timeToNotifyMS) + ` AS to_notify,
		` + s.c(responseAt) + ` < ` + to + ` AS responded, ` + s.c(timeToResponseMS) + ` AS to_response,
		` + s.c(timeToResolveMS) + ` AS to_resolve,
		` + s.c(relapseGapMS) + ` <= CAST(:relapse_ms AS BIGINT) AS relapse,
		` + c.agedSQL(extra) + ` AS aged,
		` + s.c(timeToResolveMS) + ` <= ` + c.slaSQL(extra) + ` AS within,
		` + strings.Join(ages, ", ") + `
	FROM cases c WHERE ` + where + fence + `) cs
` + group
	return q, extra
}

// values are the durations of a group's cases, in milliseconds, for the
// percentiles.
type values struct{ notify, response, resolve []int64 }

// compute fills rep: the pass over the cases, the events and reports, and
// the repeat offenders at the same time (run), then the percentiles and the
// totals.
func (c *computation) compute(ctx context.Context, rep *Report) error {
	parts, err := c.split(ctx)
	if err != nil {
		return err
	}
	var (
		cases   = make([]*casesResult, len(parts))
		events  map[string]eventCounts
		reports int64
		labels  map[string][2]string
	)
	tasks := []func(context.Context, querier) error{
		func(ctx context.Context, x querier) (err error) {
			if events, err = c.events(ctx, x); err != nil {
				return err
			}
			reports, err = c.reports(ctx, x)
			return err
		},
		func(ctx context.Context, x querier) (err error) {
			if rep.TopOffenders, err = c.offenders(ctx, x); err != nil {
				return err
			}
			labels, err = c.labels(ctx, x)
			return err
		},
	}
	for i, part := range parts {
		tasks = append(tasks, func(ctx context.Context, x querier) (err error) {
			cases[i], err = c.cases(ctx, x, part)
			return err
		})
	}
	if err := c.run(ctx, tasks...); err != nil {
		return err
	}
	for _, part := range cases[1:] {
		cases[0].add(part)
	}
	groups, vals := cases[0].groups, cases[0].vals
	if err := c.closureReasons(ctx, c.db, groups, cases[0].reasons); err != nil {
		return err
	}
	get := func(k string) *Group {
		g := groups[k]
		if g == nil {
			g = &Group{Key: k}
			groups[k] = g
		}
		return g
	}
	for k, e := range events {
		g := get(k)
		g.EventsReceived, g.EventsUnowned, g.EventsIgnored, g.ReportsReceived = e.events, e.unowned, e.ignored, e.reports
	}
	totals := &rep.Totals
	totals.ReportsReceived = reports
	// Percentiles per group, then of all cases (they do not add up).
	keys := slices.Sorted(maps.Keys(groups))
	all := &values{}
	for _, k := range keys {
		v := vals[k]
		switch {
		case v == nil:
			continue
		case c.group == GroupNone:
			all = v
			continue
		}
		setPercentiles(&groups[k].Figures, v)
		all.notify = append(all.notify, v.notify...)
		all.response = append(all.response, v.response...)
		all.resolve = append(all.resolve, v.resolve...)
	}
	setPercentiles(totals, all)
	// Totals of the additive figures are the sums of the groups'.
	reasons := map[ClosureReason]int64{}
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
	addAges(&t.OpenByAge, &g.OpenByAge)
	for _, p := range [][2]*Durations{
		{&t.TimeToNotify, &g.TimeToNotify}, {&t.TimeToFirstResponse, &g.TimeToFirstResponse}, {&t.TimeToResolve, &g.TimeToResolve},
	} {
		p[0].Count += p[1].Count
		maxSeconds(&p[0].MaxSeconds, p[1].MaxSeconds)
	}
}

func addAges(t, g *AgeBuckets) {
	t.Under1Day += g.Under1Day
	t.Days1To3 += g.Days1To3
	t.Days3To7 += g.Days3To7
	t.Days7To30 += g.Days7To30
	t.Over30Days += g.Over30Days
	t.Total += g.Total
}

// maxSeconds sets *t to m when m is larger (or *t is nil).
func maxSeconds(t **float64, m *float64) {
	if m != nil && (*t == nil || *m > **t) {
		v := *m
		*t = &v
	}
}

func seconds(ms sql.NullInt64) *float64 {
	if !ms.Valid {
		return nil
	}
	v := float64(ms.Int64) / 1000
	return &v
}

// cases reads the one pass over the cases (casesSQL): the cohort's figures
// and durations per group, and the open cases of every group.
func (c *computation) cases(ctx context.Context, x querier, part casesPart) (*casesResult, error) {
	groups, vals := map[string]*Group{}, map[string]*values{}
	q, extra := c.casesSQL(part)
	q, args, err := c.named(q, extra)
	if err != nil {
		return nil, err
	}
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the cases of the period: %w", err)
	}
	defer rows.Close()
	reasons := map[string]map[string]int64{} // group → raw closure reason → resolved cases
	for rows.Next() {
		var (
			key                  sql.NullString
			f                    Figures
			ln, lr, ls, lreasons sql.RawBytes
			younger              [4]int64
			open                 int64
		)
		if err := rows.Scan(&key, &f.CasesOpened, &f.CasesReopened, &f.Reopens, &f.Relapses, &f.SLADue, &f.SLAMet,
			&ln, &lr, &ls, &lreasons, &younger[0], &younger[1], &younger[2], &younger[3], &open); err != nil {
			return nil, fmt.Errorf("reading the cases of the period: %w", err)
		}
		k := groupKey(key)
		if f.CasesOpened == 0 && open == 0 {
			continue // cases received before the period, none open
		}
		v := &values{}
		if v.notify, err = appendList(nil, ln); err == nil {
			if v.response, err = appendList(nil, lr); err == nil {
				v.resolve, err = appendList(nil, ls)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("reading the durations of the period: %w", err)
		}
		vals[k] = v
		f.CasesNotified, f.CasesResponded, f.CasesResolved = int64(len(v.notify)), int64(len(v.response)), int64(len(v.resolve))
		f.TimeToNotify = Durations{Count: f.CasesNotified, MaxSeconds: maxOf(v.notify)}
		f.TimeToFirstResponse = Durations{Count: f.CasesResponded, MaxSeconds: maxOf(v.response)}
		f.TimeToResolve = Durations{Count: f.CasesResolved, MaxSeconds: maxOf(v.resolve)}
		f.OpenByAge = AgeBuckets{Under1Day: younger[0], Days1To3: younger[1] - younger[0], Days3To7: younger[2] - younger[1],
			Days7To30: younger[3] - younger[2], Over30Days: open - younger[3], Total: open}
		groups[k] = &Group{Key: k, Figures: f}
		if len(lreasons) > 0 {
			m := map[string]int64{}
			if err := countReasons(m, lreasons); err != nil {
				return nil, fmt.Errorf("reading the closure reasons of the period: %w", err)
			}
			reasons[k] = m
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the cases of the period: %w", err)
	}
	return &casesResult{groups, vals, reasons}, nil
}

// casesResult is what cases read: the groups, the durations and the raw
// closure reasons (group → reason → resolved cases).
type casesResult struct {
	groups  map[string]*Group
	vals    map[string]*values
	reasons map[string]map[string]int64
}

// add adds the groups, durations and reasons of another part.
func (r *casesResult) add(o *casesResult) {
	for k, g := range o.groups {
		if mine := r.groups[k]; mine != nil {
			addFigures(&mine.Figures, &g.Figures)
		} else {
			r.groups[k] = g
		}
	}
	for k, v := range o.vals {
		if mine := r.vals[k]; mine != nil {
			mine.notify = append(mine.notify, v.notify...)
			mine.response = append(mine.response, v.response...)
			mine.resolve = append(mine.resolve, v.resolve...)
		} else {
			r.vals[k] = v
		}
	}
	for k, m := range o.reasons {
		mine := r.reasons[k]
		if mine == nil {
			mine = map[string]int64{}
			r.reasons[k] = mine
		}
		for reason, n := range m {
			mine[reason] += n
		}
	}
}

// split divides the cases received before the end of the period in two
// parts of equal time (from the earliest case, or the period's start), read
// at the same time on SQLite. PostgreSQL reads them in one: its pass is
// quicker than the other queries together, and each part would aggregate
// every customer.
func (c *computation) split(ctx context.Context) ([]casesPart, error) {
	if c.db.Dialect() == store.Postgres {
		return []casesPart{{}}, nil
	}
	var first store.NullTime
	if err := c.db.GetContext(ctx, &first, c.db.Rebind(`SELECT min(created_at) FROM cases`)); err != nil {
		return nil, fmt.Errorf("reading the cases of the period: %w", err)
	}
	from, to := c.args["from"].(time.Time), c.args["to"].(time.Time)
	if first.Valid && first.Time.After(from) {
		from = first.Time
	}
	if !from.Before(to) {
		return []casesPart{{}}, nil
	}
	mid := store.Time(from.Add(to.Sub(from) / 2))
	return []casesPart{{to: mid}, {from: mid}}, nil
}

// countReasons counts the closure reasons in b: each is its length in
// bytes, a colon, and the reason.
func countReasons(m map[string]int64, b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, ':')
		if i < 0 {
			return errors.New("malformed list of closure reasons")
		}
		n, err := parseInt(b[:i])
		if err != nil || n < 0 || int64(len(b)-i-1) < n {
			return errors.New("malformed list of closure reasons")
		}
		r := b[i+1 : i+1+int(n)]
		m[string(r)]++
		b = b[i+1+int(n):]
	}
	return nil
}

// closureReasons sets the groups' closure reasons and acted-on counts from
// the resolved cases per group and raw reason: the reasons trimmed, and
// judged acted on or not, by the database (lower() is the database's).
func (c *computation) closureReasons(ctx context.Context, x querier, groups map[string]*Group, reasons map[string]map[string]int64) error {
	raw := map[string]bool{}
	for _, m := range reasons {
		for r := range m {
			raw[r] = true
		}
	}
	type judged struct {
		reason string
		acted  bool
	}
	verdict := map[string]judged{}
	all := slices.Sorted(maps.Keys(raw))
	for len(all) > 0 {
		chunk := all[:min(len(all), 200)]
		all = all[len(chunk):]
		extra := map[string]any{}
		sel := make([]string, len(chunk))
		for i, r := range chunk {
			name := "r" + strconv.Itoa(i)
			extra[name] = r
			sel[i] = "SELECT CAST(:" + name + " AS TEXT) AS closure_reason"
		}
		names := make([]string, len(c.cfg.NotActedReasons))
		for i, r := range c.cfg.NotActedReasons {
			names[i] = ":na" + strconv.Itoa(i)
			extra["na"+strconv.Itoa(i)] = r
		}
		q, args, err := c.named(`SELECT closure_reason, trim(closure_reason),
			CASE WHEN lower(trim(closure_reason)) NOT IN (`+strings.Join(names, ", ")+`) THEN 1 ELSE 0 END
			FROM (`+strings.Join(sel, " UNION ALL ")+`) r`, extra)
		if err != nil {
			return err
		}
		rows, err := x.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("judging closure reasons: %w", err)
		}
		for rows.Next() {
			var r string
			var j judged
			if err := rows.Scan(&r, &j.reason, &j.acted); err != nil {
				rows.Close()
				return fmt.Errorf("judging closure reasons: %w", err)
			}
			verdict[r] = j
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("judging closure reasons: %w", err)
		}
	}
	for k, m := range reasons {
		g := groups[k]
		byReason := map[judged]int64{}
		for r, n := range m {
			j, ok := verdict[r]
			if !ok {
				return fmt.Errorf("judging closure reasons: no verdict on %q", r)
			}
			byReason[j] += n
		}
		for j, n := range byReason {
			g.ClosureReasons = append(g.ClosureReasons, ClosureReason{Reason: j.reason, ActedOn: j.acted, Cases: n})
			if j.acted {
				g.CasesActedOn += n
			}
		}
	}
	return nil
}

// appendList appends the comma-separated integers of b to vs.
func appendList(vs []int64, b []byte) ([]int64, error) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			i = len(b)
		}
		v, err := parseInt(b[:i])
		if err != nil {
			return vs, err
		}
		vs = append(vs, v)
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return vs, nil
}

// parseInt is strconv.ParseInt(string(b), 10, 64) without the string.
func parseInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var v int64
	for _, ch := range d {
		if ch < '0' || ch > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		v = v*10 + int64(ch-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}

// maxOf is the largest of vs in seconds, nil when there is none.
func maxOf(vs []int64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	return seconds(sql.NullInt64{Int64: slices.Max(vs), Valid: true})
}

// eventCounts are the events of a group, and the reports they came in.
type eventCounts struct{ events, unowned, ignored, reports int64 }

// events counts the period's events per group, and the reports they came
// in (for the groups; the total counts reports directly).
func (c *computation) events(ctx context.Context, x querier) (map[string]eventCounts, error) {
	join, reports, group := "", "count(DISTINCT e.report_id)", "GROUP BY 1"
	switch c.group {
	case GroupConnector:
		join = " LEFT JOIN cases c ON c.id = e.case_id"
	case GroupNone:
		// The total counts reports directly; no sort for the one group.
		reports, group = "0", "HAVING count(*) > 0"
	}
	q, args, err := c.named(`SELECT `+eventGroup(c.group)+` AS g, count(*),
		sum(CASE WHEN e.disposition = 'unowned' THEN 1 ELSE 0 END),
		sum(CASE WHEN e.disposition = 'ignored' THEN 1 ELSE 0 END),
		`+reports+`
		FROM events e`+join+`
		WHERE e.created_at >= `+c.s.t("from")+` AND e.created_at < `+c.s.t("to")+`
		`+group, nil)
	if err != nil {
		return nil, err
	}
	rows, err := x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("counting events: %w", err)
	}
	defer rows.Close()
	out := map[string]eventCounts{}
	for rows.Next() {
		var k sql.NullString
		var e eventCounts
		if err := rows.Scan(&k, &e.events, &e.unowned, &e.ignored, &e.reports); err != nil {
			return nil, fmt.Errorf("reading event counts: %w", err)
		}
		out[groupKey(k)] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading event counts: %w", err)
	}
	return out, nil
}

// reports counts the reports received in the period.
func (c *computation) reports(ctx context.Context, x querier) (int64, error) {
	q, args, err := c.named(`SELECT count(*) FROM reports WHERE received_at >= `+c.s.t("from")+` AND received_at < `+c.s.t("to"), nil)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := sqlx.GetContext(ctx, x, &n, q, args...); err != nil {
		return 0, fmt.Errorf("counting reports: %w", err)
	}
	return n, nil
}

// setPercentiles sets the medians and 90th percentiles of f's three
// durations from v (whose slices it sorts).
func setPercentiles(f *Figures, v *values) {
	for _, m := range []struct {
		d  *Durations
		vs []int64
	}{{&f.TimeToNotify, v.notify}, {&f.TimeToFirstResponse, v.response}, {&f.TimeToResolve, v.resolve}} {
		slices.Sort(m.vs)
		m.d.MedianSeconds = msSeconds(percentileCont(0.5, m.vs))
		m.d.P90Seconds = msSeconds(percentileCont(0.9, m.vs))
	}
}

// percentileCont interpolates the p-th percentile of the sorted values
// exactly as PostgreSQL's percentile_cont does.
func percentileCont(p float64, sorted []int64) sql.NullFloat64 {
	if len(sorted) == 0 {
		return sql.NullFloat64{}
	}
	pos := p * float64(len(sorted)-1)
	first, second := math.Floor(pos), math.Ceil(pos)
	lo, hi := float64(sorted[int(first)]), float64(sorted[int(second)])
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

// offendersSQL lists the customers with the most cases in the period (in
// customer order from cases_customer_idx alone: no sort, no table).
func (c *computation) offendersSQL() (string, map[string]any) {
	return `SELECT cu.key AS customer, cu.name AS name, o.cases, o.relapses, o.classifications
		FROM (SELECT c.customer_id, count(*) AS cases,
				sum(CASE WHEN ` + c.s.c(relapseGapMS) + ` <= CAST(:relapse_ms AS BIGINT) THEN 1 ELSE 0 END) AS relapses,
				count(DISTINCT c.classification_identifier) AS classifications
			FROM cases c
			WHERE c.customer_id IS NOT NULL AND c.created_at >= ` + c.s.t("from") + ` AND c.created_at < ` + c.s.t("to") + `
			GROUP BY c.customer_id HAVING count(*) >= 2) o
		JOIN customers cu ON cu.id = o.customer_id
		ORDER BY o.cases DESC, o.relapses DESC, cu.key LIMIT CAST(:top AS BIGINT)`,
		map[string]any{"top": c.cfg.TopOffenders, "relapse_ms": c.cfg.RelapseWindow.Milliseconds()}
}

// offenders reads offendersSQL.
func (c *computation) offenders(ctx context.Context, x querier) ([]Offender, error) {
	q, args, err := c.named(c.offendersSQL())
	if err != nil {
		return nil, err
	}
	out := []Offender{}
	if err := sqlx.SelectContext(ctx, x, &out, q, args...); err != nil {
		return nil, fmt.Errorf("listing repeat offenders: %w", err)
	}
	return out, nil
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
