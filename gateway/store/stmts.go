package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// maxStmts bounds the statements a DB keeps prepared. Callers keep only
// statements whose text is fixed (not one per batch size), so this is far
// above what the program uses; past it, statements are prepared per
// transaction as before.
const maxStmts = 256

// stmts keeps prepared statements for the life of the pool: each is
// prepared on a connection the first time that connection runs it, and kept
// there. Preparing per transaction cost a parse each time (on SQLite also
// the compilation of the triggers the statement fires; on PostgreSQL a
// round trip): for a 1,000-event API batch, parsing its 11,000-parameter
// insert cost about as much as running it.
type stmts struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt // by query as written, with ? placeholders
}

// parentStmt returns the pool-level statement of q, preparing it if need be;
// nil when it cannot be kept.
func (db *DB) parentStmt(ctx context.Context, q string) (*sqlx.Stmt, error) {
	db.stmts.mu.Lock()
	st, ok := db.stmts.m[q]
	full := len(db.stmts.m) >= maxStmts
	db.stmts.mu.Unlock()
	if ok {
		return st, nil
	}
	if full {
		return nil, nil
	}
	// Preparing on the pool takes a connection of its own for a moment: do
	// not wait for one when all are taken (their holders may be here too).
	if s := db.Stats(); s.MaxOpenConnections > 0 && s.InUse >= s.MaxOpenConnections {
		return nil, nil
	}
	st, err := db.PreparexContext(ctx, db.Rebind(q))
	if err != nil {
		return nil, fmt.Errorf("preparing %.60q: %w", q, err)
	}
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	if kept, ok := db.stmts.m[q]; ok {
		// Prepared meanwhile by another goroutine: keep one.
		_ = st.Close()
		return kept, nil
	}
	if db.stmts.m == nil {
		db.stmts.m = map[string]*sqlx.Stmt{}
	}
	db.stmts.m[q] = st
	return st, nil
}

// closeStmts closes the kept statements (Close calls it).
func (db *DB) closeStmts() {
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	for q, st := range db.stmts.m {
		_ = st.Close()
		delete(db.stmts.m, q)
	}
}

// TxStmts are the DB's kept statements as used within one transaction. Use
// it for statements that run again and again with a fixed text; a query
// built for one use gains nothing from it. Not safe for concurrent use,
// like the transaction.
type TxStmts struct {
	db *DB
	tx *sqlx.Tx
	m  map[string]*sqlx.Stmt
}

// Stmts returns the DB's kept statements for use in tx, a transaction of
// db.
func (db *DB) Stmts(tx *sqlx.Tx) *TxStmts {
	return &TxStmts{db: db, tx: tx, m: map[string]*sqlx.Stmt{}}
}

// Stmt returns the statement of q (written with ? placeholders) bound to
// the transaction. database/sql closes it when the transaction ends; the
// connection keeps its prepared form for the next transaction.
func (t *TxStmts) Stmt(ctx context.Context, q string) (*sqlx.Stmt, error) {
	if st, ok := t.m[q]; ok {
		return st, nil
	}
	parent, err := t.db.parentStmt(ctx, q)
	if err != nil {
		return nil, err
	}
	var st *sqlx.Stmt
	if parent != nil {
		st = t.tx.StmtxContext(ctx, parent)
	} else if st, err = t.tx.PreparexContext(ctx, t.tx.Rebind(q)); err != nil {
		return nil, fmt.Errorf("preparing %.60q: %w", q, err)
	}
	t.m[q] = st
	return st, nil
}

// ExecContext runs q with its kept statement.
func (t *TxStmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.Stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// GetContext is sqlx's Get with q's kept statement.
func (t *TxStmts) GetContext(ctx context.Context, dest any, q string, args ...any) error {
	st, err := t.Stmt(ctx, q)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// SelectContext is sqlx's Select with q's kept statement.
func (t *TxStmts) SelectContext(ctx context.Context, dest any, q string, args ...any) error {
	st, err := t.Stmt(ctx, q)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}
