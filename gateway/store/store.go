// Package store is abusegw's database: sqlx over the embedded SQLite
// (modernc.org/sqlite, pure Go) or PostgreSQL (lib/pq), with the schema kept
// as embedded goose migrations per dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"  // PostgreSQL driver "postgres"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"
)

// Dialect names the SQL dialect of a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Name returns the dialect's name.
func (d Dialect) Name() string { return string(d) }

// Placeholder returns the bind variable for the n-th (1-based) parameter.
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// TimeArg is t as a statement argument, stored exactly as t itself would
// be. On SQLite it is the text the driver would write: formatting it where
// the value is made takes the work off the goroutine that holds the write
// transaction (a large report's events carry two times each).
func (d Dialect) TimeArg(t time.Time) any {
	if d == SQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// Options tune Open. The zero value is right for almost everyone.
type Options struct {
	// BusyTimeout is how long a SQLite writer waits for the write lock
	// before giving up. Default 30 s.
	BusyTimeout time.Duration
	// MaxOpenConns bounds the pool. Default 8 for SQLite, 16 for PostgreSQL.
	MaxOpenConns int
	// ConnectTimeout bounds the first connection. Default 10 s.
	ConnectTimeout time.Duration
	// Logger receives what goes wrong in the background (SQLite's
	// checkpoints); nil discards it.
	Logger *slog.Logger
}

// DB is an open database. Write queries with ? placeholders and pass them
// through Rebind, so one query serves both dialects.
type DB struct {
	*sqlx.DB
	dialect Dialect
	where   string // the database, for messages; never contains a password
	stmts   stmts  // kept prepared statements (Stmts)
	// writeLock queues this process's SQLite transactions (each takes the
	// database's write lock at BEGIN): a Go channel wakes the next one as
	// soon as the lock is free, where SQLite's busy handler would poll it
	// with sleeps of up to 100 ms. nil on PostgreSQL.
	writeLock chan struct{}
	busy      time.Duration // how long a writer waits for writeLock
	ckpt      *checkpointer // SQLite only
}

// Close closes the kept statements and the pool.
func (db *DB) Close() error {
	if db.ckpt != nil {
		db.ckpt.close()
	}
	db.closeStmts()
	return db.DB.Close()
}

// Dialect returns the DB's dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// String names the database without credentials.
func (db *DB) String() string { return db.where }

// Open connects to the database named by rawURL ("sqlite://path",
// "sqlite:path", "postgres://…" or "postgresql://…") and checks that it
// answers. It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 30 * time.Second
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	dialect, dsn, where, err := parseURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	var db *sqlx.DB
	switch dialect {
	case SQLite:
		if dir := filepath.Dir(strings.SplitN(dsn, "?", 2)[0]); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("creating directory for %s: %w", where, err)
			}
		}
		sqlDB, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", where, err)
		}
		// sqlx learns the bind style from the driver name; modernc's "sqlite"
		// is not in its table, "sqlite3" is and means "?".
		db = sqlx.NewDb(sqlDB, "sqlite3")
		if opts.MaxOpenConns <= 0 {
			opts.MaxOpenConns = 8
		}
	case Postgres:
		sqlDB, err := sql.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", where, err)
		}
		db = sqlx.NewDb(sqlDB, "postgres")
		if opts.MaxOpenConns <= 0 {
			opts.MaxOpenConns = 16
		}
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)

	pctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to %s: %w", where, err)
	}
	out := &DB{DB: db, dialect: dialect, where: where, busy: opts.BusyTimeout}
	if dialect == SQLite {
		out.writeLock = make(chan struct{}, 1)
		out.ckpt = newCheckpointer(db.DB, opts.Logger.With("database", where))
	}
	return out, nil
}

// parseURL turns the configured URL into a driver DSN and a description that
// is safe to print.
func parseURL(rawURL string, opts Options) (Dialect, string, string, error) {
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		if path == "" {
			return "", "", "", errors.New("database.url: sqlite URL names no file (want sqlite://abusegw.db)")
		}
		if strings.Contains(path, "#") {
			return "", "", "", errors.New("database.url: sqlite file names may not contain '#'")
		}
		params := url.Values{}
		// WAL lets readers run beside the writer; BEGIN IMMEDIATE plus a busy
		// timeout makes concurrent writers queue for the lock instead of
		// failing with SQLITE_BUSY when a read transaction tries to upgrade.
		params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
		params.Add("_pragma", "journal_mode(WAL)")
		params.Add("_pragma", "foreign_keys(1)")
		params.Add("_pragma", "synchronous(NORMAL)")
		// Checkpoints run in the background (checkpointer); SQLite's own,
		// in the committing transaction, are the backstop.
		params.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages))
		params.Set("_txlock", "immediate")
		params.Set("_time_format", "sqlite") // sqliteTimeLayout
		if query != "" {
			extra, err := url.ParseQuery(query)
			if err != nil {
				return "", "", "", fmt.Errorf("database.url: bad sqlite options: %w", err)
			}
			for k, vs := range extra {
				for _, v := range vs {
					params.Add(k, v)
				}
			}
		}
		return SQLite, path + "?" + params.Encode(), "sqlite database " + path, nil
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			// url.Error quotes the URL, which may carry a password.
			return "", "", "", errors.New("database.url: not a valid postgres URL")
		}
		host := u.Hostname()
		port := u.Port()
		if host == "" {
			host = "localhost"
		}
		if port == "" {
			port = "5432"
		}
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", fmt.Sprint(int(opts.ConnectTimeout.Seconds())))
			u.RawQuery = q.Encode()
		}
		where := fmt.Sprintf("postgres at %s (database %q)", net.JoinHostPort(host, port), strings.TrimPrefix(u.Path, "/"))
		return Postgres, u.String(), where, nil
	case rawURL == "":
		return "", "", "", errors.New("database.url is empty")
	default:
		return "", "", "", errors.New("database.url: unsupported scheme (want sqlite://FILE or postgres://USER@HOST:PORT/DB)")
	}
}

// lockWrites waits for this process's turn to write (SQLite; on PostgreSQL
// it returns at once) and returns the function that ends it.
func (db *DB) lockWrites(ctx context.Context) (release func(), err error) {
	if db.writeLock == nil {
		return func() {}, nil
	}
	// As long as SQLite's busy timeout, after which SQLite would have failed
	// too (a write begun inside a transaction of the same goroutine ends
	// here).
	t := time.NewTimer(db.busy)
	defer t.Stop()
	select {
	case db.writeLock <- struct{}{}:
		return func() {
			<-db.writeLock
			// The receive made the next writer runnable on this P, where it
			// would wait until this goroutine blocks (answering its request,
			// opening its next report: milliseconds). Yield, so that it
			// takes the lock now: under four API clients the lock stood
			// idle a quarter of the time without this.
			runtime.Gosched()
		}, nil
	case <-t.C:
		return nil, fmt.Errorf("database is locked by this process for more than %v", db.busy)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ExecContext runs one statement outside a transaction. On SQLite it waits
// for its turn with InTx's transactions (see writeLock).
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	release, err := db.lockWrites(ctx)
	if err != nil {
		return nil, fmt.Errorf("running a statement: %w", err)
	}
	defer release()
	res, err := db.DB.ExecContext(ctx, query, args...)
	if err == nil && db.ckpt != nil {
		db.ckpt.committed()
	}
	return res, err
}

// InTx runs fn in a transaction and commits it, or rolls it back when fn
// returns an error or panics.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	release, err := db.lockWrites(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer release()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return canceled(ctx, err)
	}
	if err = tx.Commit(); err != nil {
		return canceled(ctx, fmt.Errorf("committing transaction: %w", err))
	}
	if db.ckpt != nil {
		db.ckpt.committed()
	}
	return nil
}

// canceled says that ctx ended when err is what that did to the statement
// it interrupted (lib/pq answers "driver: bad connection"), so that callers
// can tell a cancellation from a database failure.
func canceled(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// Time normalizes t for storage: UTC, microsecond precision (PostgreSQL's),
// so that what is read back equals what was written on both dialects.
func Time(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Placeholders is "?, ?, …" n times, for IN lists and VALUES rows (Rebind
// turns them into $n on PostgreSQL).
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
