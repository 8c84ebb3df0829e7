package cases

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
)

// stmtCache runs a session's statements: those that come again (fixed
// texts, full batches) with the DB's kept statements, so that a report
// that opens thousands of cases, and the next report, do not parse them
// again each time (SQLite) or pay a round trip to prepare them
// (PostgreSQL).
type stmtCache struct {
	tx   *sqlx.Tx
	kept *store.TxStmts
}

func newStmtCache(tx *sqlx.Tx, kept *store.TxStmts) *stmtCache {
	return &stmtCache{tx: tx, kept: kept}
}

func (c *stmtCache) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.kept.ExecContext(ctx, q, args...)
}

// batchSel runs a multi-row statement: with a kept statement when it is a
// full batch (it will come again), run once otherwise (a prepared
// statement for every remainder size would cost a round trip each on
// PostgreSQL and be kept for nothing).
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
	return c.kept.SelectContext(ctx, dest, q, args...)
}
