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
// block and never touch the file: a background goroutine checks the file's
// size, mtime and identity every reload interval, loads a changed file and
// swaps the new table in whole (an atomic pointer). A file that fails to
// load leaves the previous table in place and is logged. Write the file
// elsewhere and rename it into place; a file that changes while it is read
// is read again at the next check.
//
// CSV: a header names the columns in any order: network (CIDR or one
// address, v4 or v6), asn (64496 or AS64496) or domain (matches its
// subdomains too), each row setting exactly one of them; customer, name and
// email; optionally connector, queue, language and tags. E-mails and tags
// are separated by ";" or "," in a cell, and a row repeated for the same
// network adds its e-mails. Lines starting with # are comments.
//
//	network,customer,name,email,connector,queue,language,tags
//	192.0.2.0/24,c-1001,Example GmbH,abuse@example.com;noc@example.com,rt,abuse,de,dsl
//	2001:db8::/32,c-1002,Example AG,abuse@example.org,,,,
//
// YAML: a list of entries with the same keys; email and tags may be lists.
//
//   - network: 192.0.2.0/24
//     customer: c-1001
//     name: Example GmbH
//     email: [abuse@example.com, noc@example.com]
//
// The longest matching prefix wins. A bad row is a [*ParseError] naming
// the file, line and column; up to 20 are reported at once.
type FileSource struct {
	name   string
	path   string
	format string
	log    *slog.Logger

	cur atomic.Pointer[table]

	loadMu sync.Mutex // serializes Reload
	mu     sync.Mutex // guards stamp
	stamp  os.FileInfo

	cancel context.CancelFunc
	done   chan struct{} // closed when the watcher has stopped
}

var _ source = (*FileSource)(nil)

// NewFileSource loads the file at path ("csv" or "yaml" format) and
// watches it for changes every reload (reload <= 0: never). log may be nil.
// Tests move the watcher's clock with testing/synctest.
func NewFileSource(ctx context.Context, name, path, format string, reload time.Duration, log *slog.Logger) (*FileSource, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if format != "yaml" {
		format = "csv"
	}
	s := &FileSource{name: name, path: path, format: format, log: log, done: make(chan struct{})}
	if _, err := s.Reload(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if reload <= 0 {
		close(s.done)
		return s, nil
	}
	go s.watch(wctx, reload)
	return s, nil
}

// watch reloads the file when it changed, every interval, until ctx ends.
func (s *FileSource) watch(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = s.Reload(ctx) // logs its own errors
		}
	}
}

// Name returns the source's name.
func (s *FileSource) Name() string { return s.name }

// Remote is false: the table is faster than a cache.
func (s *FileSource) Remote() bool { return false }

// Len returns the number of networks, ASNs and domains loaded.
func (s *FileSource) Len() int { return s.cur.Load().entries }

// Lookup answers q from the table in memory. It never fails.
func (s *FileSource) Lookup(_ context.Context, q Query) (Customer, bool, error) {
	c, ok := s.cur.Load().lookup(q)
	return c, ok, nil
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
		err = fmt.Errorf("contacts source %s: file unreadable: %w", s.name, err)
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

// Close stops the watcher and waits for a running reload.
func (s *FileSource) Close() error {
	s.cancel()
	<-s.done
	return nil
}
