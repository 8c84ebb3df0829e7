package contacts

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSource answers from a map and counts its calls.
type fakeSource struct {
	name   string
	remote bool
	mu     sync.Mutex
	owners map[netip.Addr]string
	err    error
	calls  int
}

func (f *fakeSource) Name() string                  { return f.name }
func (f *fakeSource) Remote() bool                  { return f.remote }
func (f *fakeSource) Close() error                  { return nil }
func (f *fakeSource) Check(context.Context) error   { return f.err }
func (f *fakeSource) setErr(err error)              { f.mu.Lock(); f.err = err; f.mu.Unlock() }
func (f *fakeSource) set(ip netip.Addr, key string) { f.mu.Lock(); f.owners[ip] = key; f.mu.Unlock() }

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeSource) Lookup(_ context.Context, q Query) (Customer, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return Customer{}, false, f.err
	}
	if k, ok := f.owners[q.IP]; ok {
		return Customer{Key: k, Source: f.name}, true, nil
	}
	return Customer{}, false, nil
}

func newFake(name string, remote bool, owners map[string]string) *fakeSource {
	m := map[netip.Addr]string{}
	for ip, k := range owners {
		m[netip.MustParseAddr(ip)] = k
	}
	return &fakeSource{name: name, remote: remote, owners: m}
}

func q(ip string) Query { return Query{IP: netip.MustParseAddr(ip)} }

func TestChainOrderAndFallThrough(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection refused")
	tests := []struct {
		name     string
		sources  func() []source
		query    Query
		want     string // owner key, "" = none
		wantErr  error
		errCount map[string]float64
	}{
		{
			name: "first source wins",
			sources: func() []source {
				return []source{newFake("a", false, map[string]string{"192.0.2.1": "from-a"}), newFake("b", true, map[string]string{"192.0.2.1": "from-b"})}
			},
			query: q("192.0.2.1"), want: "from-a",
		},
		{
			name: "falls through a miss",
			sources: func() []source {
				return []source{newFake("a", false, nil), newFake("b", true, map[string]string{"192.0.2.1": "from-b"})}
			},
			query: q("192.0.2.1"), want: "from-b",
		},
		{
			name: "falls through an error and counts it",
			sources: func() []source {
				a := newFake("a", true, map[string]string{"192.0.2.1": "from-a"})
				a.err = boom
				return []source{a, newFake("b", true, map[string]string{"192.0.2.1": "from-b"})}
			},
			query: q("192.0.2.1"), want: "from-b", errCount: map[string]float64{"a": 1, "b": 0},
		},
		{
			name:    "nobody owns it",
			sources: func() []source { return []source{newFake("a", false, nil), newFake("b", true, nil)} },
			query:   q("192.0.2.1"),
		},
		{
			name: "nobody owns it and a source failed",
			sources: func() []source {
				b := newFake("b", true, nil)
				b.err = boom
				return []source{newFake("a", false, nil), b}
			},
			query: q("192.0.2.1"), wantErr: ErrIncomplete, errCount: map[string]float64{"b": 1},
		},
		{
			name:    "empty query asks nobody",
			sources: func() []source { return []source{newFake("a", false, map[string]string{"192.0.2.1": "x"})} },
			query:   Query{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewPedanticRegistry()
			c, err := newChain(tt.sources(), Options{Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := c.Lookup(t.Context(), tt.query)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got.Key != tt.want || ok != (tt.want != "") {
				t.Fatalf("Lookup = %q %v, want %q", got.Key, ok, tt.want)
			}
			for src, n := range tt.errCount {
				if v := testutil.ToFloat64(c.sourceErrors.WithLabelValues(src)); v != n {
					t.Errorf("errors{source=%s} = %v, want %v", src, v, n)
				}
			}
			if n, err := testutil.GatherAndCount(reg, "abusegw_contacts_source_errors_total"); err != nil || n == 0 {
				t.Errorf("source error metric not registered: %d, %v", n, err)
			}
		})
	}
}

func TestChainLogsSourceErrorsWithoutSecrets(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	a := newFake("crm", true, nil)
	a.err = errors.New("status 500")
	c, err := newChain([]source{a}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Lookup(t.Context(), q("192.0.2.1")); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err = %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "source=crm") || !strings.Contains(l, "status 500") {
		t.Errorf("log: %s", l)
	}
}

func TestChainCache(t *testing.T) {
	t.Parallel()
	type bundle struct {
		clock *fakeClock
		src   *fakeSource
		chain *Chain
	}
	setup := func(t *testing.T, opts Options) bundle {
		clock := newFakeClock()
		src := newFake("crm", true, map[string]string{"192.0.2.1": "owner"})
		opts.Now = clock.Now
		c, err := newChain([]source{src}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return bundle{clock, src, c}
	}
	look := func(t *testing.T, b bundle, ip string) string {
		t.Helper()
		c, _, err := b.chain.Lookup(t.Context(), q(ip))
		if err != nil && !errors.Is(err, ErrIncomplete) {
			t.Fatal(err)
		}
		return c.Key
	}

	t.Run("hit then expiry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{CacheTTL: time.Minute})
		look(t, b, "192.0.2.1")
		b.src.set(netip.MustParseAddr("192.0.2.1"), "changed")
		b.clock.Advance(59 * time.Second)
		if got := look(t, b, "192.0.2.1"); got != "owner" || b.src.count() != 1 {
			t.Fatalf("within TTL: %q after %d calls, want cached owner after 1", got, b.src.count())
		}
		b.clock.Advance(time.Second)
		if got := look(t, b, "192.0.2.1"); got != "changed" || b.src.count() != 2 {
			t.Fatalf("after TTL: %q after %d calls, want changed after 2", got, b.src.count())
		}
		if v := testutil.ToFloat64(b.chain.cacheResults.WithLabelValues("hit")); v != 1 {
			t.Errorf("hits = %v, want 1", v)
		}
	})
	t.Run("negative answers cached with their own TTL", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{CacheTTL: time.Hour, NegativeTTL: time.Minute})
		if got := look(t, b, "192.0.2.9"); got != "" {
			t.Fatalf("got %q", got)
		}
		b.src.set(netip.MustParseAddr("192.0.2.9"), "new")
		if got := look(t, b, "192.0.2.9"); got != "" || b.src.count() != 1 {
			t.Fatalf("negative not cached: %q, %d calls", got, b.src.count())
		}
		b.clock.Advance(time.Minute)
		if got := look(t, b, "192.0.2.9"); got != "new" {
			t.Fatalf("negative entry outlived its TTL: %q", got)
		}
	})
	t.Run("errors not cached", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{})
		b.src.setErr(errors.New("down"))
		look(t, b, "192.0.2.1")
		b.src.setErr(nil)
		if got := look(t, b, "192.0.2.1"); got != "owner" || b.src.count() != 2 {
			t.Fatalf("after recovery: %q, %d calls", got, b.src.count())
		}
	})
	t.Run("bounded size, least recently used go", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{CacheSize: 2})
		look(t, b, "192.0.2.1")
		look(t, b, "192.0.2.2")
		look(t, b, "192.0.2.1") // hit: .2 is now the oldest
		look(t, b, "192.0.2.3") // evicts .2
		if n := b.chain.cache.len(); n != 2 {
			t.Fatalf("cache holds %d, want 2", n)
		}
		calls := b.src.count()
		look(t, b, "192.0.2.1")
		if b.src.count() != calls {
			t.Error(".1 was evicted, want .2")
		}
		look(t, b, "192.0.2.2")
		if b.src.count() != calls+1 {
			t.Error(".2 still cached")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{CacheTTL: -1})
		look(t, b, "192.0.2.1")
		look(t, b, "192.0.2.1")
		if b.src.count() != 2 || b.chain.cache != nil {
			t.Fatalf("cache used: %d calls", b.src.count())
		}
	})
	t.Run("v4-mapped queries share the entry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Options{})
		look(t, b, "192.0.2.1")
		if got := look(t, b, "::ffff:192.0.2.1"); got != "owner" || b.src.count() != 1 {
			t.Fatalf("%q after %d calls", got, b.src.count())
		}
	})
	t.Run("local answers are not cached", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		local := newFake("file", false, map[string]string{"192.0.2.1": "local"})
		c, err := newChain([]source{local, newFake("crm", true, nil)}, Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, _, err := c.Lookup(t.Context(), q("192.0.2.1")); err != nil {
				t.Fatal(err)
			}
		}
		if local.count() != 2 || c.cache.len() != 0 {
			t.Fatalf("local answer cached: %d calls, %d entries", local.count(), c.cache.len())
		}
	})
}

func TestChainCatchAll(t *testing.T) {
	t.Parallel()
	c, err := newChain(nil, Options{Unowned: UnownedConfig{Action: ActionCatchAll, Customer: CustomerConfig{
		Customer: "abuse-desk", Name: "Our abuse desk", Email: List{"abuse@example.net"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := c.CatchAll()
	if !ok || !equalCustomer(got, Customer{Key: "abuse-desk", Name: "Our abuse desk", Emails: []string{"abuse@example.net"}, Source: "catch_all"}) {
		t.Fatalf("CatchAll = %+v, %v", got, ok)
	}
	if _, found, err := c.Lookup(t.Context(), q("192.0.2.1")); found || err != nil {
		t.Fatalf("Lookup with no sources = %v, %v; want not found: the caller applies the catch-all", found, err)
	}
	drop, err := newChain(nil, Options{Unowned: UnownedConfig{Action: ActionDrop}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := drop.CatchAll(); ok {
		t.Fatal("drop has a catch-all")
	}
}

func TestChainMetricsTwice(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for range 2 { // a config reload builds a second Chain
		if _, err := newChain([]source{newFake("a", true, nil)}, Options{Registerer: reg}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChainConcurrent(t *testing.T) {
	t.Parallel()
	src := newFake("crm", true, map[string]string{"192.0.2.1": "owner"})
	c, err := newChain([]source{src}, Options{CacheSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				ip := netip.AddrFrom4([4]byte{192, 0, 2, byte((i + j) % 5)})
				if _, _, err := c.Lookup(t.Context(), Query{IP: ip}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
