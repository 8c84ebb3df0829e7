package shadowserver

import "unsafe"

// Boxing a string or an int64 into an interface allocates its value on the
// heap, one allocation per field; a scan report row has thirty fields, and
// those allocations were the largest cost of parsing. A boxer instead copies
// the values of one row into two slabs, allocated once per row, and makes
// interface values that point into them, exactly as the runtime's own
// convTstring and convT64 do for a single value. The slabs are never written
// again once a value points into them, and the interface's data pointer
// keeps its slab alive for as long as the Event uses it.
type boxer struct {
	strs []string
	ints []int64
	// Slab sizes: the most values one row has needed so far, so that one
	// allocation per row is usually enough.
	nStrs, nInts int
}

// eface is the layout of an empty interface (runtime.eface).
type eface struct {
	typ, data unsafe.Pointer
}

var (
	stringType = typeOf("")
	int64Type  = typeOf(int64(0))
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

// reset starts a new row: values already handed out keep their slabs.
func (b *boxer) reset() {
	b.nStrs = max(b.nStrs, len(b.strs))
	b.nInts = max(b.nInts, len(b.ints))
	b.strs = make([]string, 0, max(b.nStrs, 8))
	b.ints = nil
}

func (b *boxer) string(s string) any {
	if s == "" {
		return "" // the runtime boxes "" without allocating
	}
	if len(b.strs) == cap(b.strs) {
		b.nStrs = max(b.nStrs, 2*cap(b.strs))
		b.strs = make([]string, 0, b.nStrs)
	}
	b.strs = append(b.strs, s)
	var v any
	*(*eface)(unsafe.Pointer(&v)) = eface{stringType, unsafe.Pointer(&b.strs[len(b.strs)-1])}
	return v
}

func (b *boxer) int64(n int64) any {
	if n >= 0 && n < 256 {
		return n // small values are boxed by the runtime without allocating
	}
	if len(b.ints) == cap(b.ints) {
		b.ints = make([]int64, 0, max(b.nInts, 4))
	}
	b.ints = append(b.ints, n)
	var v any
	*(*eface)(unsafe.Pointer(&v)) = eface{int64Type, unsafe.Pointer(&b.ints[len(b.ints)-1])}
	return v
}
