package store

// ObserveCheckpoints has f called with the outcome of every background
// checkpoint (SQLite).
func (db *DB) ObserveCheckpoints(f func(Checkpoint)) { db.ckpt.observe.Store(&f) }
