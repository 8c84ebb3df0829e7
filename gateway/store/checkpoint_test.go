package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// TestBackgroundCheckpoint writes more than SQLite's default autocheckpoint
// (1,000 pages) and less than the backstop the connections keep: only the
// background checkpointer can have copied the log into the database file.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	seen := make(chan store.Checkpoint, 64)
	db.ObserveCheckpoints(func(c store.Checkpoint) {
		select {
		case seen <- c:
		default:
		}
	})
	value := strings.Repeat("x", 2000)
	now := store.Time(time.Now())
	for tx := range 10 {
		err := db.InTx(ctx, func(tx2 *sqlx.Tx) error {
			for i := range 300 {
				if _, err := tx2.ExecContext(ctx, `INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)`,
					fmt.Sprintf("c%d-%d", tx, i), value, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// 3,000 rows of 2 kB: about 1,500 pages of 4 KiB.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case c := <-seen:
			if c.Err != nil {
				t.Fatalf("checkpoint: %v", c.Err)
			}
			if c.Frames >= 1000 && c.Checkpointed == c.Frames {
				return
			}
		case <-deadline.C:
			t.Fatal("no background checkpoint copied the log within 30 s")
		}
	}
}
