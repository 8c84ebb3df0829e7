package contacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// source is one place that may know the owner.
type source interface {
	// Name is the source's configured name, used in logs and metrics.
	Name() string
	// Lookup answers a normalized, non-empty query.
	Lookup(ctx context.Context, q Query) (Customer, bool, error)
	// Check reports whether the source works (file loads, database
	// answers, URL answers).
	Check(ctx context.Context) error
	// Remote reports whether answers are worth caching.
	Remote() bool
	// Close releases what the source holds.
	Close() error
}

// FileSource answers from a CSV or YAML file held in memory. Lookups never
// block: a changed file is loaded in the background and swapped in whole;
// a file that fails to load leaves the previous table in place and is
// logged.
type FileSource struct {
	name   string
	path   string
	format string
	reload time.Duration // <= 0: never
	now    func() time.Time
	log    *slog.Logger

	cur       atomic.Pointer[table]
	nextCheck atomic.Int64 // UnixNano of the next change check

	loadMu sync.Mutex // serializes Reload

	mu        sync.Mutex // guards the fields below
	stamp     os.FileInfo
	reloading bool
	closed    bool
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

var _ source = (*FileSource)(nil)

// NewFileSource loads the file at path ("csv" or "yaml" format) and returns
// a source that checks it for changes (mtime, size, identity) at most every
// reload, on lookup; reload <= 0 turns that off. now and log may be nil.
func NewFileSource(ctx context.Context, name, path, format string, reload time.Duration, now func() time.Time, log *slog.Logger) (*FileSource, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if format != "yaml" {
		format = "csv"
	}
	s := &FileSource{name: name, path: path, format: format, reload: reload, now: now, log: log}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if _, err := s.Reload(ctx); err != nil {
		s.cancel()
		return nil, err
	}
	s.nextCheck.Store(now().Add(reload).UnixNano())
	return s, nil
}

// Name returns the source's name.
func (s *FileSource) Name() string { return s.name }

// Remote is false: the table is faster than a cache.
func (s *FileSource) Remote() bool { return false }

// Len returns the number of networks, ASNs and domains loaded.
func (s *FileSource) Len() int { return s.cur.Load().entries }

// Lookup answers q from the table in memory. It never fails. Every reload
// interval, one lookup checks whether the file changed and, if so, starts
// loading it in the background.
func (s *FileSource) Lookup(_ context.Context, q Query) (Customer, bool, error) {
	t := s.cur.Load()
	if s.reload > 0 {
		s.maybeReload()
	}
	c, ok := t.lookup(q)
	return c, ok, nil
}

// maybeReload checks for a change when one is due and starts a background
// load when there is one.
func (s *FileSource) maybeReload() {
	next := s.nextCheck.Load()
	now := s.now().UnixNano()
	if now < next || !s.nextCheck.CompareAndSwap(next, now+int64(s.reload)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.reloading {
		return
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		s.log.Warn("contacts file unreadable, keeping the loaded table", "source", s.name, "path", s.path, "error", err)
		return
	}
	if sameFile(s.stamp, fi) {
		return
	}
	s.reloading = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, _ = s.Reload(s.ctx) // logs its own errors
		s.mu.Lock()
		s.reloading = false
		s.mu.Unlock()
	}()
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Reload loads the file now if it changed since it was last loaded (or last
// failed to load), and reports whether it swapped in a new table. A file
// that fails to load keeps the previous table; the error is logged and
// returned.
func (s *FileSource) Reload(ctx context.Context) (bool, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	before, err := os.Stat(s.path)
	if err != nil {
		err = fmt.Errorf("contacts source %s: %w", s.name, err)
		s.logFailure(err)
		return false, err
	}
	s.mu.Lock()
	unchanged := sameFile(s.stamp, before) && s.cur.Load() != nil
	s.mu.Unlock()
	if unchanged {
		return false, nil
	}
	start := time.Now()
	t, err := loadFile(ctx, s.path, s.format, s.name)
	after, serr := os.Stat(s.path)
	if serr == nil && !sameFile(before, after) {
		// Written while we read it: try again at the next check.
		err = fmt.Errorf("contacts source %s: %s changed while it was read; will retry", s.name, s.path)
		s.logFailure(err)
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return false, err
		}
		// Don't parse the same broken file again; err names the file.
		s.stamp = before
		err = fmt.Errorf("contacts source %s: %w", s.name, err)
		s.logFailure(err)
		return false, err
	}
	s.stamp = before
	first := s.cur.Load() == nil
	s.cur.Store(t)
	if !first {
		s.log.Info("contacts file reloaded", "source", s.name, "path", s.path, "entries", t.entries, "customers", len(t.customers), "took", time.Since(start).Round(time.Millisecond))
	}
	return true, nil
}

func (s *FileSource) logFailure(err error) {
	if s.cur.Load() != nil {
		s.log.Error("contacts file not reloaded, keeping the loaded table", "source", s.name, "error", err)
	}
}

// Check loads the file afresh (without swapping it in) to see that it
// parses.
func (s *FileSource) Check(ctx context.Context) error {
	if _, err := loadFile(ctx, s.path, s.format, s.name); err != nil {
		return fmt.Errorf("contacts source %s: %w", s.name, err)
	}
	return nil
}

// Close stops background reloads and waits for a running one.
func (s *FileSource) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}
