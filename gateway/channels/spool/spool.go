// Package spool is the watched-directory channel: reports dropped into a
// directory (by fetchmail, scp, rsync or another tool) are ingested, then
// moved to processed/ or, when nothing could be read from them, to failed/
// beside a NAME.reason file saying why.
//
// Half-written files are left alone. Files whose name starts with "." or
// ends with ".tmp" or ".part" are never taken: write under such a name and
// rename into place when done. Any other file is taken only once its size
// and modification time have stayed the same for StableFor.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
)

// Pipeline is the part of *ingest.Pipeline the watcher uses.
type Pipeline interface {
	Store(ctx context.Context, src ingest.Source, r io.Reader) (ingest.Stored, error)
	Process(ctx context.Context, reportID int64) (ingest.Summary, error)
}

var _ Pipeline = (*ingest.Pipeline)(nil)

// Options configure a Watcher.
type Options struct {
	// Dir is the watched directory; processed/ and failed/ are made in it.
	Dir      string
	Pipeline Pipeline
	// DB is read for the outcome of a report stored before.
	DB *store.DB
	// Interval between scans (Run). Default 30 s.
	Interval time.Duration
	// StableFor is how long a file must keep its size and modification
	// time before it is taken. Default 10 s; negative means at once.
	StableFor time.Duration
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Watcher ingests the files of a spool directory.
type Watcher struct {
	dir       string
	pipe      Pipeline
	db        *store.DB
	interval  time.Duration
	stableFor time.Duration
	log       *slog.Logger
	now       func() time.Time
	// seen is what each waiting file looked like when first seen so.
	seen map[string]observation
}

type observation struct {
	size  int64
	mtime time.Time
	since time.Time
}

// New makes the directory and its processed/ and failed/ subdirectories.
func New(o Options) (*Watcher, error) {
	if o.Dir == "" || o.Pipeline == nil || o.DB == nil {
		return nil, errors.New("spool: Dir, Pipeline and DB are required")
	}
	w := &Watcher{dir: o.Dir, pipe: o.Pipeline, db: o.DB, interval: o.Interval, stableFor: o.StableFor,
		log: o.Logger, now: o.Now, seen: map[string]observation{}}
	if w.interval <= 0 {
		w.interval = 30 * time.Second
	}
	if w.stableFor == 0 {
		w.stableFor = 10 * time.Second
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	for _, d := range []string{w.dir, filepath.Join(w.dir, "processed"), filepath.Join(w.dir, "failed")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	return w, nil
}

// Result says what one scan did.
type Result struct {
	// Processed and Failed are the files moved, by name.
	Processed []string
	Failed    []string
	// Waiting are files not taken yet: too fresh or still changing.
	Waiting []string
}

// Run scans the directory every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		res, err := w.Scan(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("scanning spool directory", "dir", w.dir, "err", err)
		}
		if len(res.Processed)+len(res.Failed) > 0 {
			w.log.Info("spool directory scanned", "dir", w.dir, "processed", len(res.Processed), "failed", len(res.Failed),
				"waiting", len(res.Waiting))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Skipped reports whether a file name follows the rename-into-place
// convention for files still being written.
func Skipped(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part")
}

// Scan takes every file of the directory that has been stable long enough:
// it ingests it and moves it. A file that cannot be stored now (the
// database is down) stays and is tried again by the next scan; the error
// joins such failures.
func (w *Watcher) Scan(ctx context.Context) (Result, error) {
	var res Result
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", w.dir, err)
	}
	now := w.now()
	present := map[string]bool{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || Skipped(name) {
			continue
		}
		present[name] = true
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // moved away meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if !w.stable(name, info, now) {
			res.Waiting = append(res.Waiting, name)
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		failed, err := w.take(ctx, name)
		switch {
		case err != nil:
			errs = append(errs, err)
		case failed:
			res.Failed = append(res.Failed, name)
			delete(w.seen, name)
		default:
			res.Processed = append(res.Processed, name)
			delete(w.seen, name)
		}
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
	return res, errors.Join(errs...)
}

// stable records what a file looks like and reports whether it has looked
// so for StableFor.
func (w *Watcher) stable(name string, info os.FileInfo, now time.Time) bool {
	o, ok := w.seen[name]
	if !ok || o.size != info.Size() || !o.mtime.Equal(info.ModTime()) {
		w.seen[name] = observation{size: info.Size(), mtime: info.ModTime(), since: now}
		return w.stableFor < 0
	}
	return now.Sub(o.since) >= w.stableFor
}

// take ingests one file and moves it; failed says it went to failed/.
func (w *Watcher) take(ctx context.Context, name string) (failed bool, err error) {
	path := filepath.Join(w.dir, name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", path, err)
	}
	st, err := w.pipe.Store(ctx, ingest.Source{Channel: "spool", Name: name}, f)
	f.Close()
	if err != nil {
		return false, fmt.Errorf("storing %s: %w", path, err)
	}
	// The bytes are safe now. Processing errors other than the report's
	// own (the database) leave the report to the pending-report run.
	if _, err := w.pipe.Process(ctx, st.ID); err != nil {
		return false, fmt.Errorf("processing %s (report %d): %w", path, st.ID, err)
	}
	var out struct {
		Status string `db:"status"`
		Error  string `db:"error"`
	}
	if err := w.db.GetContext(ctx, &out, w.db.Rebind(`SELECT status, error FROM reports WHERE id = ?`), st.ID); err != nil {
		return false, fmt.Errorf("reading the outcome of report %d: %w", st.ID, err)
	}
	switch out.Status {
	case "failed", "unrecognized":
		reason := fmt.Sprintf("report %d: %s\n%s\nafter a fix: abusegw reprocess %d\n", st.ID, out.Status, strings.TrimSpace(out.Error), st.ID)
		dst, err := w.move(path, "failed")
		if err != nil {
			return false, err
		}
		if err := os.WriteFile(dst+".reason", []byte(reason), 0o640); err != nil {
			return true, fmt.Errorf("writing the reason for %s: %w", dst, err)
		}
		w.log.Warn("spool file failed", "file", name, "report", st.ID, "status", out.Status, "err", out.Error)
		return true, nil
	case "processed", "partial":
		_, err := w.move(path, "processed")
		w.log.Info("spool file ingested", "file", name, "report", st.ID, "duplicate", st.Duplicate, "status", out.Status)
		return false, err
	}
	// Still received or processing: another replica holds it, or the
	// pending-report run will finish it. The bytes are stored either way.
	_, err = w.move(path, "processed")
	return false, err
}

// move renames a file into a subdirectory, under a new name if one of its
// name is there already.
func (w *Watcher) move(path, sub string) (string, error) {
	base := filepath.Base(path)
	dir := filepath.Join(w.dir, sub)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	dst := filepath.Join(dir, base)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		if i > 1000 {
			return "", fmt.Errorf("moving %s: too many files named so in %s", path, dir)
		}
		dst = filepath.Join(dir, fmt.Sprintf("%s.%d%s", stem, i, ext))
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("moving %s to %s: %w", path, dir, err)
	}
	return dst, nil
}
