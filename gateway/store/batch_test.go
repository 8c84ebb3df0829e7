package store_test

import (
	"testing"

	"github.com/abusegw/abusegw/gateway/store"
)

func TestBatchRows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d        store.Dialect
		n, max   int
		want     int
		wantKept bool
	}{
		{store.SQLite, 1200, 500, 500, true},
		{store.SQLite, 500, 500, 500, true},
		{store.SQLite, 499, 500, 256, true},
		{store.SQLite, 256, 500, 256, true},
		{store.SQLite, 255, 500, 128, true},
		{store.SQLite, 3, 500, 2, true},
		{store.SQLite, 1, 500, 1, true},
		{store.SQLite, 0, 500, 0, true},
		{store.Postgres, 1200, 500, 500, true},
		{store.Postgres, 499, 500, 499, false},
		{store.Postgres, 1, 500, 1, false},
	} {
		got := c.d.BatchRows(c.n, c.max)
		if got != c.want || c.d.KeptBatch(got, c.max) != c.wantKept {
			t.Errorf("%s: BatchRows(%d, %d) = %d (kept %v), want %d (kept %v)", c.d, c.n, c.max, got, c.d.KeptBatch(got, c.max), c.want, c.wantKept)
		}
	}
	// Every n is covered by few statements of few sizes.
	sizes := map[int]bool{}
	for n := 1; n <= 2000; n++ {
		stmts := 0
		for rest := n; rest > 0; stmts++ {
			k := store.SQLite.BatchRows(rest, 500)
			sizes[k] = true
			rest -= k
		}
		if stmts > 4+9 {
			t.Errorf("%d rows take %d statements", n, stmts)
		}
	}
	if len(sizes) > 10 {
		t.Errorf("%d statement sizes, want at most 10", len(sizes))
	}
}
