package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.OpenEmpty(t, d)
			if err := db.Ready(ctx); err == nil {
				t.Fatal("Ready on an empty database: want an error naming the missing migrations")
			}
			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("first Migrate: %v", err)
			}
			if len(applied) == 0 {
				t.Fatal("first Migrate applied nothing")
			}
			tables := tableNames(t, db)
			again, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if len(again) != 0 {
				t.Fatalf("second Migrate applied %v, want nothing", again)
			}
			if got := tableNames(t, db); strings.Join(got, ",") != strings.Join(tables, ",") {
				t.Fatalf("tables changed on the second run: %v -> %v", tables, got)
			}
			if err := db.Ready(ctx); err != nil {
				t.Fatalf("Ready after Migrate: %v", err)
			}
			for _, want := range []string{"reports", "events", "customers", "customer_networks", "cases", "case_ips",
				"tickets", "status_history", "outbox", "sync_watermarks", "webhook_deliveries", "leases", "cursors"} {
				if !contains(tables, want) {
					t.Errorf("table %s missing; have %v", want, tables)
				}
			}
		})
	}
}

func tableNames(t *testing.T, db *store.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if db.Dialect() == store.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	var names []string
	if err := db.SelectContext(context.Background(), &names, q); err != nil {
		t.Fatalf("listing tables: %v", err)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSchemaRoundTrip writes one row of each concept through one set of
// queries and reads it back the same on both dialects.
func TestSchemaRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := store.Time(time.Date(2026, 11, 27, 14, 0, 0, 123456789, time.UTC))
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			var reportID, customerID, caseID, ticketID int64
			steps := []struct {
				q    string
				dest *int64
				args []any
			}{
				{`INSERT INTO reports (sha256, channel, source_name, size, raw, received_at) VALUES (?, 'file', 'x.csv', 3, ?, ?) RETURNING id`,
					&reportID, []any{"abc", []byte("a,b"), now}},
				{`INSERT INTO customers (key, name, emails, created_at, updated_at) VALUES ('c1', 'Customer 1', '["a@example.net"]', ?, ?) RETURNING id`,
					&customerID, []any{now, now}},
			}
			for _, s := range steps {
				if err := tx.GetContext(ctx, s.dest, tx.Rebind(s.q), s.args...); err != nil {
					return fmt.Errorf("%s: %w", s.q, err)
				}
			}
			if err := tx.GetContext(ctx, &caseID, tx.Rebind(`INSERT INTO cases (case_key, customer_id, classification_identifier, first_seen, last_seen, created_at, updated_at)
				VALUES ('c1/open-dns', ?, 'open-dns', ?, ?, ?, ?) RETURNING id`), customerID, now, now, now, now); err != nil {
				return fmt.Errorf("inserting case: %w", err)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO events (report_id, seq, line, source_ip, source_port, customer_id, case_id, fields, created_at, time_source)
				VALUES (?, 0, 2, '192.0.2.1', 53, ?, ?, ?, ?, ?)`), reportID, customerID, caseID, `{"source.ip":"192.0.2.1"}`, now, now); err != nil {
				return fmt.Errorf("inserting event: %w", err)
			}
			if err := tx.GetContext(ctx, &ticketID, tx.Rebind(`INSERT INTO tickets (case_id, connector, external_id, url, created_at, updated_at)
				VALUES (?, 'rt', '17', 'http://rt/17', ?, ?) RETURNING id`), caseID, now, now); err != nil {
				return fmt.Errorf("inserting ticket: %w", err)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO status_history (case_id, ticket_id, from_status, to_status, at, source, created_at)
				VALUES (?, ?, 'new', 'resolved', ?, 'webhook', ?)`), caseID, ticketID, now, now); err != nil {
				return fmt.Errorf("inserting status: %w", err)
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO outbox (case_id, connector, kind, payload, idempotency_key, scheduled_at, created_at)
				VALUES (?, 'rt', 'create', '{"subject":"x"}', 'case-1-create', ?, ?)`), caseID, now, now); err != nil {
				return fmt.Errorf("inserting outbox op: %w", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		var got struct {
			Received time.Time `db:"received_at"`
			Raw      []byte    `db:"raw"`
		}
		if err := db.GetContext(ctx, &got, `SELECT received_at, raw FROM reports WHERE sha256 = 'abc'`); err != nil {
			t.Fatalf("reading report: %v", err)
		}
		if !got.Received.Equal(now) || string(got.Raw) != "a,b" {
			t.Fatalf("report read back as %v %q, want %v %q", got.Received, got.Raw, now, "a,b")
		}

		// The constraints hold on both dialects.
		bad := []struct{ name, q string }{
			{"duplicate report", `INSERT INTO reports (sha256, channel, received_at) VALUES ('abc', 'file', CURRENT_TIMESTAMP)`},
			{"unknown case state", `UPDATE cases SET state = 'bogus'`},
			{"completed without finalized_at", `UPDATE outbox SET state = 'completed'`},
			{"duplicate idempotency key", `INSERT INTO outbox (connector, kind, idempotency_key, scheduled_at, created_at) VALUES ('rt', 'create', 'case-1-create', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`},
			// Events keep their references without foreign keys (00006), but
			// not without a report.
			{"event without a report", `INSERT INTO events (seq, fields, created_at) VALUES (0, '{}', CURRENT_TIMESTAMP)`},
		}
		for _, b := range bad {
			if _, err := db.ExecContext(ctx, b.q); err == nil {
				t.Errorf("%s: accepted, want a constraint error", b.name)
			}
		}
	})
}

// TestSQLiteConcurrentWriters checks that writers queue for SQLite's lock
// instead of failing with SQLITE_BUSY.
func TestSQLiteConcurrentWriters(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	const writers, writes = 8, 500
	now := store.Time(time.Now())
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				var err error
				if i%2 == 0 {
					_, err = db.ExecContext(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)`,
						fmt.Sprintf("w%d-%d", w, i), "v", now)
				} else {
					// A read-then-write transaction: the shape that fails with
					// SQLITE_BUSY under deferred transactions.
					err = db.InTx(ctx, func(tx *sqlx.Tx) error {
						var n int
						if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM cursors`); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)`,
							fmt.Sprintf("w%d-%d", w, i), fmt.Sprint(n), now)
						return err
					})
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM cursors`); err != nil {
		t.Fatal(err)
	}
	if n != writers*writes {
		t.Fatalf("have %d rows, want %d", n, writers*writes)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name, url, want string
	}{
		{"empty", "", "database.url is empty"},
		{"scheme", "mysql://x", "unsupported scheme"},
		{"sqlite without file", "sqlite://", "names no file"},
		{"postgres down names host and port", "postgres://nobody:secret@127.0.0.1:1/x?sslmode=disable", "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := store.Open(ctx, tt.url, store.Options{ConnectTimeout: 5 * time.Second})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open(%q) = %v, want an error containing %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestInTxRollsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO cursors (name, value, updated_at) VALUES ('x', 'y', ?)`), store.Time(time.Now())); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		var n int
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM cursors`); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("rolled-back insert is visible (%d rows)", n)
		}
	})
}

// TestSQLiteNestedTxFails: a transaction begun inside another one on SQLite
// cannot get the write lock; InTx (and ExecContext) say so after the busy
// timeout, from this process's queue of writers, instead of waiting for
// ever.
func TestSQLiteNestedTxFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "nested.db"), store.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var inner, exec error
	if err := db.InTx(ctx, func(*sqlx.Tx) error {
		inner = db.InTx(ctx, func(*sqlx.Tx) error { return nil })
		_, exec = db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{inner, exec} {
		if err == nil || !strings.Contains(err.Error(), "locked by this process") {
			t.Errorf("write inside a transaction gave %v, want a locked error", err)
		}
	}
	// The lock is free again.
	if err := db.InTx(ctx, func(*sqlx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
