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
	d    store.Dialect
}

func newStmtCache(tx *sqlx.Tx, kept *store.TxStmts, d store.Dialect) *stmtCache {
	return &stmtCache{tx: tx, kept: kept, d: d}
}

func (c *stmtCache) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.kept.ExecContext(ctx, q, args...)
}

// rows is how many of n remaining rows the next multi-row statement of at
// most max rows takes: a size of the few whose statements are kept
// (store.Dialect.BatchRows).
func (c *stmtCache) rows(n, max int) int { return c.d.BatchRows(n, max) }

// batchSel runs a multi-row statement of rows rows (from rows) with its kept
// statement where that is worth it (store.Dialect.KeptBatch), once
// otherwise.
func (c *stmtCache) batchSel(ctx context.Context, rows, max int, dest any, q string, args ...any) error {
	if !c.d.KeptBatch(rows, max) {
		return c.tx.SelectContext(ctx, dest, c.tx.Rebind(q), args...)
	}
	return c.sel(ctx, dest, q, args...)
}

// batchExec is batchSel for statements without results.
func (c *stmtCache) batchExec(ctx context.Context, rows, max int, q string, args ...any) (sql.Result, error) {
	if !c.d.KeptBatch(rows, max) {
		return c.tx.ExecContext(ctx, c.tx.Rebind(q), args...)
	}
	return c.exec(ctx, q, args...)
}

func (c *stmtCache) sel(ctx context.Context, dest any, q string, args ...any) error {
	return c.kept.SelectContext(ctx, dest, q, args...)
}
