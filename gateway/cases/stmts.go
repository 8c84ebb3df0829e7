package cases

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// stmtCache prepares each statement of a session once and reuses it for
// the rest of its transaction: a report that opens thousands of cases runs
// the same few statements thousands of times, and parsing them again each
// time (SQLite) or a round trip to prepare them (PostgreSQL) was a large
// part of the cost. Statements are closed with the transaction.
type stmtCache struct {
	tx *sqlx.Tx
	m  map[string]*sqlx.Stmt
}

func newStmtCache(tx *sqlx.Tx) *stmtCache {
	return &stmtCache{tx: tx, m: map[string]*sqlx.Stmt{}}
}

// stmt returns the prepared statement of q (written with ? placeholders).
func (c *stmtCache) stmt(ctx context.Context, q string) (*sqlx.Stmt, error) {
	if s, ok := c.m[q]; ok {
		return s, nil
	}
	s, err := c.tx.PreparexContext(ctx, c.tx.Rebind(q))
	if err != nil {
		return nil, fmt.Errorf("preparing statement: %w", err)
	}
	c.m[q] = s
	return s, nil
}

func (c *stmtCache) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// batchSel runs a multi-row statement: prepared and kept when it is a full
// batch (it will come again), run once otherwise (a prepared statement for
// every remainder size would cost a round trip each on PostgreSQL and be
// kept for nothing).
func (c *stmtCache) batchSel(ctx context.Context, full bool, dest any, q string, args ...any) error {
	if !full {
		return c.tx.SelectContext(ctx, dest, c.tx.Rebind(q), args...)
	}
	return c.sel(ctx, dest, q, args...)
}

// batchExec is batchSel for statements without results.
func (c *stmtCache) batchExec(ctx context.Context, full bool, q string, args ...any) (sql.Result, error) {
	if !full {
		return c.tx.ExecContext(ctx, c.tx.Rebind(q), args...)
	}
	return c.exec(ctx, q, args...)
}

func (c *stmtCache) sel(ctx context.Context, dest any, q string, args ...any) error {
	s, err := c.stmt(ctx, q)
	if err != nil {
		return err
	}
	return s.SelectContext(ctx, dest, args...)
}

// close closes the statements; the transaction's end would close them too.
func (c *stmtCache) close() {
	for q, s := range c.m {
		_ = s.Close()
		delete(c.m, q)
	}
}
