// Package ingest is the pipeline every report goes through, whatever channel
// it came by (a file, a directory, standard input, the HTTP API, a mailbox,
// Shadowserver's API): store the raw bytes first, then normalize them, find
// each event's customer, route it, and update cases, writing the helpdesk
// operations those changes cause. Processing a report is one transaction: a
// crash at any point leaves nothing half-done, and running the pipeline again
// completes the work.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/store"
)

// Source says where a report came from.
type Source struct {
	// Channel is how it arrived: file, dir, stdin, http, imap, shadowserver-api.
	Channel string
	// Name is the file name, mailbox and UID, or URL; it also helps format
	// detection (Shadowserver report types are in their file names).
	Name string
	// ContentType, when the channel knows it.
	ContentType string
}

// ErrTooLarge is a report larger than ingest.max_report: it is refused, not
// stored.
var ErrTooLarge = errors.New("report is larger than ingest.max_report")

// Stored is a report that is safely in the database.
type Stored struct {
	ID        int64
	SHA256    string
	Size      int64
	Duplicate bool // the same bytes were stored before; nothing new was written
}

// Store writes the raw report to the database before anything else happens
// to it. The bytes are streamed to a spool file while hashed, so a large
// report is never held in memory; reports up to InlineMax bytes are then kept
// in the database, larger ones as a file in the data directory. A report
// whose bytes were stored before is recognised by its SHA-256 and changes
// nothing.
func (p *Pipeline) Store(ctx context.Context, src Source, r io.Reader) (Stored, error) {
	spoolDir := filepath.Join(p.dataDir, "spool")
	if err := os.MkdirAll(spoolDir, 0o750); err != nil {
		return Stored{}, fmt.Errorf("creating spool directory: %w", err)
	}
	tmp, err := os.CreateTemp(spoolDir, "report-*")
	if err != nil {
		return Stored{}, fmt.Errorf("spooling report %s: %w", src.Name, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already when moved into place
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return Stored{}, fmt.Errorf("reading report %s: %w", src.Name, err)
	}
	if p.maxReport > 0 && n > p.maxReport {
		return Stored{}, fmt.Errorf("report %s: %d bytes, limit %d: %w", src.Name, n, p.maxReport, ErrTooLarge)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	st := Stored{SHA256: sum, Size: n}

	var existing int64
	err = p.db.GetContext(ctx, &existing, p.db.Rebind(`SELECT id FROM reports WHERE sha256 = ?`), sum)
	switch {
	case err == nil:
		st.ID, st.Duplicate = existing, true
		return st, nil
	case !errors.Is(err, sql.ErrNoRows):
		return Stored{}, fmt.Errorf("looking up report %s: %w", sum, err)
	}

	var raw []byte
	var rawRef string
	if n <= p.inlineMax {
		if raw, err = os.ReadFile(tmp.Name()); err != nil {
			return Stored{}, fmt.Errorf("reading spooled report: %w", err)
		}
		if raw == nil {
			raw = []byte{}
		}
	} else {
		if err := tmp.Sync(); err != nil {
			return Stored{}, fmt.Errorf("syncing spooled report: %w", err)
		}
		rel := filepath.Join("reports", sum[:2], sum)
		dst := filepath.Join(p.dataDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return Stored{}, fmt.Errorf("creating report directory: %w", err)
		}
		if err := os.Rename(tmp.Name(), dst); err != nil {
			return Stored{}, fmt.Errorf("moving report into %s: %w", dst, err)
		}
		rawRef = rel
	}
	now := p.now()
	// A transaction of one statement: InTx queues it with this process's
	// other writers (SQLite).
	err = p.db.InTx(ctx, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &st.ID, tx.Rebind(`INSERT INTO reports (sha256, channel, source_name, content_type, size, raw, raw_ref, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sha256) DO NOTHING RETURNING id`),
			sum, src.Channel, src.Name, src.ContentType, n, raw, rawRef, now)
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Stored by someone else meanwhile (another replica, the same file
		// twice in one directory).
		if err := p.db.GetContext(ctx, &st.ID, p.db.Rebind(`SELECT id FROM reports WHERE sha256 = ?`), sum); err != nil {
			return Stored{}, fmt.Errorf("looking up report %s: %w", sum, err)
		}
		st.Duplicate = true
		return st, nil
	}
	if err != nil {
		return Stored{}, fmt.Errorf("storing report %s: %w", src.Name, err)
	}
	return st, nil
}

// openRaw returns the stored bytes of a report.
func (p *Pipeline) openRaw(raw []byte, rawRef string) (io.ReadCloser, error) {
	if rawRef == "" {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}
	f, err := os.Open(filepath.Join(p.dataDir, rawRef))
	if err != nil {
		return nil, fmt.Errorf("opening stored report: %w", err)
	}
	return f, nil
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// now is the pipeline's clock for storage.
func (p *Pipeline) now() time.Time { return store.Time(p.clock()) }
