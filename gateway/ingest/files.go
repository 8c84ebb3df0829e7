package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
)

// Progress is told about each file as a path is ingested.
type Progress interface {
	// Start announces the files and their total size.
	Start(files int, bytes int64)
	// Done reports one file finished (or failed).
	Done(name string, size int64, sum Summary, err error)
}

// IngestPath ingests a file, every new file below a directory, or standard
// input ("-", read from stdin). Directory walks skip files recorded with the
// same size and modification time before, so a cron job can point at a drop
// directory. One file's failure is reported to progress and does not stop
// the others; the returned error joins them.
func (p *Pipeline) IngestPath(ctx context.Context, path string, stdin io.Reader, progress Progress) (Summary, error) {
	if path == "-" {
		progress.Start(1, 0)
		_, sum, err := p.Ingest(ctx, Source{Channel: "stdin", Name: "stdin"}, stdin)
		progress.Done("stdin", 0, sum, err)
		return sum, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return Summary{}, fmt.Errorf("ingesting %s: %w", path, err)
	}
	if !info.IsDir() {
		progress.Start(1, info.Size())
		sum, err := p.ingestFile(ctx, "file", path, info)
		progress.Done(path, info.Size(), sum, err)
		return sum, err
	}
	type file struct {
		path string
		info fs.FileInfo
	}
	var files []file
	var total int64
	err = filepath.WalkDir(path, func(p2 string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() != "." && len(d.Name()) > 0 && d.Name()[0] == '.' && p2 != path {
				return filepath.SkipDir // .git, .spool and the like
			}
			return nil
		}
		if !d.Type().IsRegular() || d.Name()[0] == '.' {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		seen, err := p.seen(ctx, p2, fi)
		if err != nil {
			return err
		}
		if !seen {
			files = append(files, file{p2, fi})
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("walking %s: %w", path, err)
	}
	slices.SortFunc(files, func(a, b file) int { return compareStrings(a.path, b.path) })
	progress.Start(len(files), total)
	var all Summary
	var errs []error
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return all, err
		}
		sum, err := p.ingestFile(ctx, "dir", f.path, f.info)
		all.Add(sum)
		progress.Done(f.path, f.info.Size(), sum, err)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p *Pipeline) ingestFile(ctx context.Context, channel, path string, info fs.FileInfo) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, fmt.Errorf("ingesting %s: %w", path, err)
	}
	defer f.Close()
	st, sum, err := p.Ingest(ctx, Source{Channel: channel, Name: filepath.Base(path)}, f)
	if err != nil {
		return sum, fmt.Errorf("ingesting %s: %w", path, err)
	}
	abs, _ := filepath.Abs(path)
	_, err = p.db.ExecContext(ctx, p.db.Rebind(`INSERT INTO ingest_files (path, size, mtime, report_id, seen_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, report_id = excluded.report_id, seen_at = excluded.seen_at`),
		abs, info.Size(), store.Time(info.ModTime()), st.ID, p.now())
	if err != nil {
		return sum, fmt.Errorf("recording %s as ingested: %w", path, err)
	}
	return sum, nil
}

// seen reports whether path was ingested before with this size and mtime.
func (p *Pipeline) seen(ctx context.Context, path string, info fs.FileInfo) (bool, error) {
	abs, _ := filepath.Abs(path)
	var row struct {
		Size  int64     `db:"size"`
		MTime time.Time `db:"mtime"`
	}
	err := p.db.GetContext(ctx, &row, p.db.Rebind(`SELECT size, mtime FROM ingest_files WHERE path = ?`), abs)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", path, err)
	}
	return row.Size == info.Size() && row.MTime.Equal(store.Time(info.ModTime())), nil
}
