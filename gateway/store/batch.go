package store

import "math/bits"

// BatchRows is how many of n remaining rows the next multi-row statement
// takes, at most max. On SQLite it is max or else the largest power of two
// up to n, so that a few statement texts of each shape serve every report
// and stay prepared (KeptBatch): parsing a statement of some hundred rows
// costs about half of running it. On PostgreSQL, where each statement is a
// round trip, it is every row up to max.
func (d Dialect) BatchRows(n, max int) int {
	if n >= max {
		return max
	}
	if d == SQLite && n > 0 {
		return 1 << (bits.Len(uint(n)) - 1)
	}
	return n
}

// KeptBatch says whether a statement of rows rows (from BatchRows, out of
// at most max) is worth keeping prepared (Stmts): on SQLite all are, on
// PostgreSQL the full ones, which come again.
func (d Dialect) KeptBatch(rows, max int) bool {
	return d == SQLite || rows == max
}
