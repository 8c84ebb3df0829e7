package contacts

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
)

const (
	benchPrefixes  = 1_000_000
	benchCustomers = 10_000
)

// benchCSV is a contacts file of 1,000,000 random prefixes (70 % IPv4 /8–/32,
// 30 % IPv6 /20–/64 in 2001::/16) for 10,000 customers, and some addresses to look up:
// half inside a listed prefix, half anywhere.
var benchCSV = sync.OnceValues(func() ([]byte, []netip.Addr) {
	r := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	buf.WriteString("network,customer,name,email,tags\n")
	addrs := make([]netip.Addr, 0, 1<<16)
	seen := make(map[netip.Prefix]struct{}, benchPrefixes)
	for i := 0; i < benchPrefixes; {
		var p netip.Prefix
		if r.IntN(10) < 7 {
			var b [4]byte
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			p = netip.PrefixFrom(netip.AddrFrom4(b), 8+r.IntN(25))
		} else {
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			for j := 2; j < 8; j++ {
				b[j] = byte(r.Uint32())
			}
			p = netip.PrefixFrom(netip.AddrFrom16(b), 20+r.IntN(45))
		}
		p = p.Masked()
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		i++
		c := r.IntN(benchCustomers)
		fmt.Fprintf(&buf, "%s,c%d,Customer %d,abuse@c%d.example,dsl\n", p, c, c, c)
		if i%32 == 0 && len(addrs) < cap(addrs) {
			addrs = append(addrs, p.Addr())
			// and a random address of the same family
			if p.Addr().Is4() {
				addrs = append(addrs, netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}))
			} else {
				var b [16]byte
				for j := range b {
					b[j] = byte(r.Uint32())
				}
				b[0], b[1] = 0x20, 0x01
				addrs = append(addrs, netip.AddrFrom16(b))
			}
		}
	}
	return buf.Bytes(), addrs
})

var benchSource = sync.OnceValues(func() (*FileSource, error) {
	data, _ := benchCSV()
	dir, err := os.MkdirTemp("", "contacts-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "bench.csv")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return nil, err
	}
	return NewFileSource(context.Background(), "file", p, "csv", DefaultReload, nil)
})

// BenchmarkFileLookup looks up addresses in a file source of 1,000,000
// prefixes, from all CPUs (b.RunParallel) and from one, in random order
// (the worst case: nearly every lookup misses the CPU caches) and sorted
// (as in a report sorted by address).
func BenchmarkFileLookup(b *testing.B) {
	s, err := benchSource()
	if err != nil {
		b.Fatal(err)
	}
	_, addrs := benchCSV()
	sorted := slices.Clone(addrs)
	slices.SortFunc(sorted, netip.Addr.Compare)
	ctx := context.Background()
	b.Run("parallel", func(b *testing.B) {
		var found, total int64
		var mu sync.Mutex
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var f, n int64
			i := 0
			for pb.Next() {
				if _, ok, _ := s.Lookup(ctx, Query{IP: addrs[i]}); ok {
					f++
				}
				n++
				if i++; i == len(addrs) {
					i = 0
				}
			}
			mu.Lock()
			found += f
			total += n
			mu.Unlock()
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		b.ReportMetric(float64(found)/float64(max(total, 1)), "hit-ratio")
	})
	b.Run("single", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s.Lookup(ctx, Query{IP: addrs[i]})
			if i++; i == len(addrs) {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})
	b.Run("parallel-sorted", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				s.Lookup(ctx, Query{IP: sorted[i]})
				if i++; i == len(sorted) {
					i = 0
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})
}

// BenchmarkFileLoad parses and indexes the 1,000,000-row file; run it with
// -benchtime=3x.
func BenchmarkFileLoad(b *testing.B) {
	data, _ := benchCSV()
	ctx := context.Background()
	var t *table
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		var err error
		t, err = parseCSV(ctx, bytes.NewReader(data), "bench.csv", "file")
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchPrefixes)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "table-MiB")
	if t.entries != t.nets.Size() {
		b.Fatalf("%d entries, %d prefixes", t.entries, t.nets.Size())
	}
	runtime.KeepAlive(t)
}
