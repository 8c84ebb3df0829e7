// Package storetest gives tests a fresh, migrated database of each dialect:
// a temporary SQLite file, and a throwaway schema on the PostgreSQL that
// ABUSEGW_TEST_POSTGRES_URL names.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/abusegw/abusegw/gateway/store"
)

// PostgresEnv is the variable that names the PostgreSQL server for tests.
const PostgresEnv = "ABUSEGW_TEST_POSTGRES_URL"

// Dialects lists the dialects every store test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Open returns a fresh migrated database of the given dialect, closed and
// removed when the test ends. Without ABUSEGW_TEST_POSTGRES_URL the
// PostgreSQL variant skips, saying so; with CI=true it fails instead, so CI
// can never pass without PostgreSQL.
func Open(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db := OpenEmpty(t, d)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return db
}

// OpenEmpty is Open without migrations.
func OpenEmpty(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	ctx := context.Background()
	switch d {
	case store.SQLite:
		return mustOpen(t, "sqlite://"+filepath.Join(t.TempDir(), "test.db"))
	case store.Postgres:
		base := PostgresURL(t)
		admin := mustOpen(t, base)
		schema := "t_" + randomHex(t, 8)
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("creating schema %s: %v", schema, err)
		}
		t.Cleanup(func() {
			if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				t.Errorf("dropping schema %s: %v", schema, err)
			}
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parsing %s: %v", PostgresEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return mustOpen(t, u.String())
	}
	t.Fatalf("unknown dialect %q", d)
	return nil
}

// PostgresURL returns the test server's URL, or skips (fails in CI).
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, and CI must run the PostgreSQL tests", PostgresEnv)
		}
		t.Skipf("PostgreSQL tests skipped: %s is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", PostgresEnv)
	}
	return u
}

// Each runs fn as a subtest once per dialect.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, d))
		})
	}
}

func mustOpen(t testing.TB, u string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), u, store.Options{})
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
