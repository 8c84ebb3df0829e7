package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync/atomic"
	"time"
)

// checkpointer copies SQLite's write-ahead log back into the database file
// beside the writers. Left to itself, SQLite checkpoints inside the commit
// that takes the log past wal_autocheckpoint pages: with the write lock
// held, and with two fsyncs. Under four API clients that was a third of the
// time the lock was held (commits took 31% of the wall time; 12% without).
// A passive checkpoint on another connection does the same copying without
// blocking writers or readers, and is not blocked by them.
//
// Commits kick it; kicks that arrive while it works coalesce, and it
// checkpoints at most once per interval, so a steady stream of writes costs
// a few checkpoints a second, an idle database none.
type checkpointer struct {
	db       *sql.DB
	log      *slog.Logger
	interval time.Duration
	kick     chan struct{} // buffered 1: a commit happened
	stop     context.CancelFunc
	done     chan struct{} // closed when run returns
	// observe, when set (tests), sees the outcome of every checkpoint.
	observe atomic.Pointer[func(Checkpoint)]
}

// Checkpoint is the outcome of one checkpoint: PRAGMA wal_checkpoint's
// three values, or the error that stopped it.
type Checkpoint struct {
	Busy         bool // another checkpoint ran, or a reader held a frame
	Frames       int  // frames in the write-ahead log
	Checkpointed int  // of which are now in the database file
	Err          error
}

// checkpointInterval is the shortest time between two background
// checkpoints. The autocheckpoint backstop (walBackstopPages) is far enough
// above what the fastest writer here adds in that time.
const checkpointInterval = 250 * time.Millisecond

// walBackstopPages is the wal_autocheckpoint the connections keep: should the
// background checkpoints fall behind (a reader holding an old snapshot for
// long), SQLite checkpoints in the committing transaction again, as by
// default, once the log holds this many pages (4 KiB each).
const walBackstopPages = 10000

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, log: log, interval: checkpointInterval,
		kick: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// committed tells the checkpointer that a transaction committed. It never
// blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default: // a kick is pending already
	}
}

// close stops the checkpointer and waits for it. The last connection to
// close checkpoints what is left.
func (c *checkpointer) close() {
	c.stop()
	<-c.done
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		if wait := c.interval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		res := c.checkpoint(ctx)
		if res.Err != nil && ctx.Err() == nil {
			// Harmless for the data: the log keeps the frames, the next
			// commit kicks another try, and SQLite's backstop remains.
			c.log.Warn("checkpointing the SQLite write-ahead log failed", "err", res.Err)
		}
		if f := c.observe.Load(); f != nil {
			(*f)(res)
		}
	}
}

func (c *checkpointer) checkpoint(ctx context.Context) Checkpoint {
	var busy int
	var res Checkpoint
	res.Err = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &res.Frames, &res.Checkpointed)
	res.Busy = busy != 0
	return res
}
