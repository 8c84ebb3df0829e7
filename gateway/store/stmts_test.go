package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// TestKeptStatements runs a kept statement in several transactions: it
// works in each, survives a schema change, does not wait for a connection
// of its own when the transaction holds the only one, and on PostgreSQL
// stays prepared on the server, not only for one transaction.
func TestKeptStatements(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// The transaction takes one connection, the pool prepares on the
		// other: each then holds the statement once.
		db.SetMaxOpenConns(2)
		db.SetMaxIdleConns(2)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const q = `SELECT count(*) FROM customers WHERE key <> ?`
		count := func() int {
			t.Helper()
			var n int
			err := db.InTx(ctx, func(tx *sqlx.Tx) error {
				return db.Stmts(tx).GetContext(ctx, &n, q, "nobody")
			})
			if err != nil {
				t.Fatalf("kept statement: %v", err)
			}
			return n
		}
		for i := range 3 {
			if n := count(); n != i {
				t.Fatalf("run %d: %d customers, want %d", i, n, i)
			}
			if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO customers (key, name, emails, created_at, updated_at) VALUES (?, '', '[]', ?, ?)`),
				i, time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		// Outside a transaction the pool keeps the statement; afterwards
		// it is still right after the schema changed under it.
		if err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			st, err := db.Stmts(tx).Stmt(ctx, q)
			if err != nil {
				return err
			}
			var n int
			return st.GetContext(ctx, &n)
		}); err == nil {
			t.Error("a kept statement ran without its argument")
		}
		if _, err := db.ExecContext(ctx, `CREATE INDEX customers_name_test_idx ON customers (name)`); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 3 {
			t.Fatalf("after a schema change: %d customers, want 3", n)
		}
		if db.Dialect() == store.Postgres {
			var prepared int
			if err := db.GetContext(ctx, &prepared, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%key <> $1%'`); err != nil {
				t.Fatal(err)
			}
			if prepared != 1 {
				t.Errorf("the statement is prepared %d times on the connection, want once", prepared)
			}
		}

		// From several goroutines at once, on a larger pool.
		db.SetMaxOpenConns(4)
		const q3 = `SELECT count(*) FROM customers WHERE key <> ? AND name = ''`
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for range 10 {
					var n int
					if err := db.InTx(ctx, func(tx *sqlx.Tx) error {
						return db.Stmts(tx).GetContext(ctx, &n, q3, "nobody")
					}); err != nil || n != 3 {
						errs <- fmt.Errorf("concurrent use: %d customers, %v", n, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		// One connection: the transaction holds it, so preparing on the pool
		// would wait forever (the deadline turns that into a failure). The
		// statement is prepared in the transaction instead.
		db.SetMaxOpenConns(1)
		const q2 = `SELECT count(*) FROM customers WHERE name <> ?`
		for range 2 {
			var n int
			if err := db.InTx(ctx, func(tx *sqlx.Tx) error {
				return db.Stmts(tx).GetContext(ctx, &n, q2, "nobody")
			}); err != nil || n != 3 {
				t.Fatalf("with the only connection taken: %d customers, %v", n, err)
			}
		}
	})
}
