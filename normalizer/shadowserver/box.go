package shadowserver

import (
	"math"
	"unsafe"
)

// Boxing a string, an int64 or a float64 into an interface allocates its
// value on the heap, one allocation per field; a scan report row has thirty
// fields, and those allocations were the largest cost of parsing after the
// map itself. A boxer instead copies the values of one row into two slabs,
// allocated at most once per row, and makes interface values that point into
// them, exactly as the runtime's own convTstring and convT64 do for a single
// value.
//
// Why this is sound:
//   - The layout of an empty interface (type word, data word) is the
//     runtime's eface; for a non-pointer-shaped type the data word points at
//     a read-only copy of the value. A slab element is such a copy: it is
//     written once, before the interface is made, and never again, because
//     reset starts new slabs for the next row instead of reusing the old
//     ones (an Event from an earlier row keeps its values).
//   - strs is a []string, so the garbage collector knows its elements hold
//     pointers and keeps the strings they point at alive; nums holds no
//     pointers. An interior pointer into a slab keeps the whole slab alive
//     for as long as any Event uses one of its values.
//   - The strings themselves are never views of a reused buffer: the CSV
//     reader makes one new string per row and hands out substrings of it
//     (see TestEventsOutliveReader).
//
// TestBoxer checks that the boxed values compare, switch and marshal as
// ordinary ones do.
type boxer struct {
	strs []string
	nums []uint64 // int64 and float64 values, bit for bit
	// Values boxed in the current row, and the most one row has needed
	// so far: a row's first slab has that size, so that one allocation
	// per row is usually enough and none is much too big.
	rowStrs, rowNums int
	nStrs, nNums     int
}

// eface is the layout of an empty interface (runtime.eface).
type eface struct {
	typ, data unsafe.Pointer
}

var (
	stringType  = typeOf("")
	int64Type   = typeOf(int64(0))
	float64Type = typeOf(float64(0))
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

// reset starts a new row: values already handed out keep their slabs.
func (b *boxer) reset() {
	b.nStrs = max(b.nStrs, b.rowStrs)
	b.nNums = max(b.nNums, b.rowNums)
	b.rowStrs, b.rowNums = 0, 0
	b.strs = nil
	b.nums = nil
}

func (b *boxer) string(s string) any {
	if s == "" {
		return "" // the runtime boxes "" without allocating
	}
	if len(b.strs) == cap(b.strs) {
		// The rest of what the biggest row needed, or more than this
		// row has needed so far.
		b.strs = make([]string, 0, max(b.nStrs-b.rowStrs, b.rowStrs, 8))
	}
	b.rowStrs++
	b.strs = append(b.strs, s)
	var v any
	*(*eface)(unsafe.Pointer(&v)) = eface{stringType, unsafe.Pointer(&b.strs[len(b.strs)-1])}
	return v
}

func (b *boxer) int64(n int64) any {
	if n >= 0 && n < 256 {
		return n // small values are boxed by the runtime without allocating
	}
	return b.num(int64Type, uint64(n))
}

func (b *boxer) float64(f float64) any {
	return b.num(float64Type, math.Float64bits(f))
}

func (b *boxer) num(typ unsafe.Pointer, bits uint64) any {
	if len(b.nums) == cap(b.nums) {
		b.nums = make([]uint64, 0, max(b.nNums-b.rowNums, b.rowNums, 4))
	}
	b.rowNums++
	b.nums = append(b.nums, bits)
	var v any
	*(*eface)(unsafe.Pointer(&v)) = eface{typ, unsafe.Pointer(&b.nums[len(b.nums)-1])}
	return v
}
