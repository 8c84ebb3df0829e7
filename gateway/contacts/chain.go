package contacts

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrIncomplete is returned (wrapped, with the sources' errors) by
// [Chain.Lookup] when no source owns the query and at least one source
// failed: the answer might have been different, so it is neither a "not
// ours" nor cached. Callers may retry later or treat it as unowned.
var ErrIncomplete = errors.New("no source owns it, and some sources failed")

// Options tunes a Chain. The zero value works.
type Options struct {
	// Dir is the directory relative file paths are resolved against (the
	// configuration file's directory); "" is the working directory.
	Dir string
	// CacheTTL is how long answers of sql and http sources are kept
	// (0: DefaultCacheTTL; negative: no cache).
	CacheTTL time.Duration
	// NegativeTTL is how long "nobody owns it" is kept (0: CacheTTL).
	NegativeTTL time.Duration
	// CacheSize bounds the cache's entries (0: DefaultCacheSize); the
	// least recently used go first.
	CacheSize int
	// Unowned says what to do with what nobody owns: its catch-all customer
	// is what CatchAll returns.
	Unowned UnownedConfig
	// Now is the cache's clock (nil: time.Now).
	Now func() time.Time
	// Logger receives source errors and reloads (nil: discarded).
	Logger *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// HTTPClient makes the http sources' requests (nil: a new client; each
	// source applies its own timeout).
	HTTPClient *http.Client
}

// Chain asks its sources in order and answers with the first that owns the
// query. A source that fails is counted (metric
// abusegw_contacts_source_errors_total{source}), logged and skipped. Answers
// from sql and http sources and "nobody owns it" are cached; answers given
// while a source failed are not. Changes in a file source are seen at once
// for what the file answers, and within the negative TTL for what nobody
// owned before.
type Chain struct {
	sources  []source
	cache    *cache
	now      func() time.Time
	log      *slog.Logger
	catchAll Customer
	hasCatch bool

	sourceErrors *prometheus.CounterVec
	cacheResults *prometheus.CounterVec
}

var _ Resolver = (*Chain)(nil)

// New builds the sources of cfgs in order: it loads files, resolves
// secrets and opens database pools (without connecting: see Check). On
// error, whatever was built is closed again.
func New(ctx context.Context, cfgs []SourceConfig, opts Options) (*Chain, error) {
	if err := ValidateSources(cfgs); err != nil {
		return nil, err
	}
	if err := opts.Unowned.Validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	names := sourceNames(cfgs)
	sources := make([]source, 0, len(cfgs))
	var errs []error
	for i := range cfgs {
		s, err := newSource(ctx, names[i], &cfgs[i], &opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sources = append(sources, s)
	}
	if len(errs) > 0 {
		for _, s := range sources {
			_ = s.Close()
		}
		return nil, errors.Join(errs...)
	}
	return newChain(sources, opts)
}

func newSource(ctx context.Context, name string, c *SourceConfig, opts *Options) (source, error) {
	switch c.Type {
	case TypeFile:
		path := c.Path
		if !filepath.IsAbs(path) && opts.Dir != "" {
			path = filepath.Join(opts.Dir, path)
		}
		format, _ := c.fileFormat()
		reload := c.Reload
		switch {
		case reload == 0:
			reload = DefaultReload
		case reload < 0:
			reload = 0
		}
		return NewFileSource(ctx, name, path, format, reload, opts.Logger)
	case TypeSQL:
		return newSQLSource(name, c)
	case TypeHTTP:
		return newHTTPSource(name, c, opts.HTTPClient)
	}
	return nil, fmt.Errorf("contacts source %s: unknown type %q", name, c.Type)
}

// newChain puts built sources together.
func newChain(sources []source, opts Options) (*Chain, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Chain{sources: sources, now: opts.Now, log: opts.Logger}
	if opts.Unowned.Action == ActionCatchAll {
		cu, err := opts.Unowned.Customer.customer("catch_all")
		if err != nil {
			return nil, fmt.Errorf("unowned.customer.%w", err)
		}
		c.catchAll, c.hasCatch = cu, true
	}
	remote := false
	for _, s := range sources {
		remote = remote || s.Remote()
	}
	if remote && opts.CacheTTL >= 0 {
		ttl, neg, size := opts.CacheTTL, opts.NegativeTTL, opts.CacheSize
		if ttl == 0 {
			ttl = DefaultCacheTTL
		}
		if neg == 0 {
			neg = ttl
		}
		if size <= 0 {
			size = DefaultCacheSize
		}
		c.cache = newCache(ttl, neg, size)
	}
	c.sourceErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "abusegw_contacts_source_errors_total",
		Help: "Contact lookups that failed in a source and fell through to the next, by source.",
	}, []string{"source"})
	c.cacheResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "abusegw_contacts_cache_requests_total",
		Help: "Contact lookups answered from the cache (hit) or not (miss).",
	}, []string{"result"})
	var err error
	if c.sourceErrors, err = register(opts.Registerer, c.sourceErrors); err != nil {
		return nil, err
	}
	if c.cacheResults, err = register(opts.Registerer, c.cacheResults); err != nil {
		return nil, err
	}
	for _, s := range sources {
		c.sourceErrors.WithLabelValues(s.Name()) // exported at zero
	}
	return c, nil
}

// register registers v, or returns the collector already registered under
// its name (a second Chain in the same process, after a reload).
func register(r prometheus.Registerer, v *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if r == nil {
		return v, nil
	}
	if err := r.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("registering contacts metrics: %w", err)
	}
	return v, nil
}

// Lookup asks the sources in order. It answers (Customer{}, false, nil)
// when nobody owns q, and an ErrIncomplete error when nobody owns it but a
// source failed. The catch-all customer is not applied here: see CatchAll.
func (c *Chain) Lookup(ctx context.Context, q Query) (Customer, bool, error) {
	q = q.normalize()
	if q.empty() {
		return Customer{}, false, nil
	}
	if c.cache != nil {
		if cu, ok, hit := c.cache.get(q, c.now()); hit {
			c.cacheResults.WithLabelValues("hit").Inc()
			return cu, ok, nil
		}
		c.cacheResults.WithLabelValues("miss").Inc()
	}
	var errs []error
	for _, s := range c.sources {
		if err := ctx.Err(); err != nil {
			return Customer{}, false, fmt.Errorf("looking up the contact: %w", err)
		}
		cu, ok, err := s.Lookup(ctx, q)
		if err != nil {
			if ctx.Err() != nil { // the caller gave up: not the source's fault
				return Customer{}, false, fmt.Errorf("looking up the contact: %w", err)
			}
			c.sourceErrors.WithLabelValues(s.Name()).Inc()
			c.log.WarnContext(ctx, "contact source failed, trying the next", "source", s.Name(), "error", err)
			errs = append(errs, err)
			continue
		}
		if ok {
			if c.cache != nil && len(errs) == 0 && s.Remote() {
				c.cache.put(q, cu, true, c.now())
			}
			return cu, true, nil
		}
	}
	if len(errs) > 0 {
		return Customer{}, false, fmt.Errorf("%w: %w", ErrIncomplete, errors.Join(errs...))
	}
	if c.cache != nil {
		c.cache.put(q, Customer{}, false, c.now())
	}
	return Customer{}, false, nil
}

// CatchAll returns the customer that unowned events go to, and false when
// they are dropped (unowned.action: drop).
func (c *Chain) CatchAll() (Customer, bool) { return c.catchAll, c.hasCatch }

// Check asks every source whether it works (the file loads, the database
// connects and the query prepares, the URL answers) and returns one error
// per failing source, nil when all work.
func (c *Chain) Check(ctx context.Context) []error {
	var errs []error
	for _, s := range c.sources {
		if err := s.Check(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Close releases the sources: database pools, background file reloads.
func (c *Chain) Close() error {
	var errs []error
	for _, s := range c.sources {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cache is a bounded LRU cache of answers with an expiry.
type cache struct {
	mu     sync.Mutex
	ttl    time.Duration
	negTTL time.Duration
	size   int
	m      map[Query]*list.Element
	lru    list.List // front: most recently used
}

type cacheEntry struct {
	q       Query
	c       Customer
	ok      bool
	expires time.Time
}

func newCache(ttl, negTTL time.Duration, size int) *cache {
	return &cache{ttl: ttl, negTTL: negTTL, size: size, m: map[Query]*list.Element{}}
}

// get returns a live entry; hit is false when there is none.
func (c *cache) get(q Query, now time.Time) (cu Customer, ok, hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.m[q]
	if !found {
		return Customer{}, false, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.m, q)
		return Customer{}, false, false
	}
	c.lru.MoveToFront(el)
	return e.c, e.ok, true
}

func (c *cache) put(q Query, cu Customer, ok bool, now time.Time) {
	ttl := c.ttl
	if !ok {
		ttl = c.negTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, found := c.m[q]; found {
		e := el.Value.(*cacheEntry)
		e.c, e.ok, e.expires = cu, ok, now.Add(ttl)
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).q)
	}
	c.m[q] = c.lru.PushFront(&cacheEntry{q: q, c: cu, ok: ok, expires: now.Add(ttl)})
}

// len returns the number of entries, live or not.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
