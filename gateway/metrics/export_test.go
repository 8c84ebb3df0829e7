package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
)

// CaseValue is the SQL of a value the report reads of case c (see sqlFor.c).
func CaseValue(d store.Dialect, name string) string { return sqlFor{d}.c(name) }

// CasesPlans are the database's plans of the report's passes over the
// cases (casesSQL, offendersSQL, and casesSQL of a part), one line per
// step.
func CasesPlans(ctx context.Context, db *store.DB, cfg Config, q Query) ([]string, error) {
	from := beginning
	if !q.From.IsZero() {
		from = store.Time(q.From)
	}
	c := &computation{db: db, s: sqlFor{db.Dialect()}, cfg: cfg.WithDefaults(), group: q.GroupBy,
		args: map[string]any{"from": from, "to": store.Time(q.To)}}
	explain := "EXPLAIN QUERY PLAN "
	if db.Dialect() == store.Postgres {
		explain = "EXPLAIN "
	}
	var plans []string
	whole := func() (string, map[string]any) { return c.casesSQL(casesPart{}) }
	part := func() (string, map[string]any) {
		return c.casesSQL(casesPart{from: from.Add(time.Hour), to: store.Time(q.To).Add(-time.Hour)})
	}
	for _, build := range []func() (string, map[string]any){whole, c.offendersSQL, part} {
		query, args, err := c.named(build())
		if err != nil {
			return nil, err
		}
		rows, err := db.QueryContext(ctx, explain+query, args...)
		if err != nil {
			return nil, fmt.Errorf("explaining: %w", err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		plans = append(plans, strings.Join(lines, "\n"))
	}
	return plans, nil
}

// CasesFunctions are SQLite's program of the report's pass over the cases
// (casesSQL, bound) and the functions that program calls.
func CasesFunctions(ctx context.Context, db *store.DB, cfg Config, q Query) (string, []string, error) {
	c := &computation{db: db, s: sqlFor{db.Dialect()}, cfg: cfg.WithDefaults(), group: q.GroupBy,
		args: map[string]any{"from": beginning, "to": store.Time(q.To)}}
	query, args, err := c.named(c.casesSQL(casesPart{}))
	if err != nil {
		return "", nil, err
	}
	rows, err := db.QueryContext(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		return "", nil, fmt.Errorf("explaining: %w", err)
	}
	defer rows.Close()
	var funcs []string
	for rows.Next() {
		var addr, p1, p2, p3, p5 any
		var opcode string
		var p4, comment any
		if err := rows.Scan(&addr, &opcode, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			return "", nil, err
		}
		if strings.Contains(opcode, "Function") {
			funcs = append(funcs, fmt.Sprint(p4))
		}
	}
	return query, funcs, rows.Err()
}
