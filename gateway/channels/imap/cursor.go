package imap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/store"
)

// cursor is how far a mailbox has been handled: every message of UID
// validity with a UID up to uid is stored and flagged or moved.
type cursor struct {
	validity uint32
	uid      uint32
}

func (c cursor) String() string {
	return strconv.FormatUint(uint64(c.validity), 10) + ":" + strconv.FormatUint(uint64(c.uid), 10)
}

func parseCursor(s string) (cursor, error) {
	v, u, ok := strings.Cut(s, ":")
	if !ok {
		return cursor{}, fmt.Errorf("cursor %q is not UIDVALIDITY:UID", s)
	}
	validity, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor %q: UIDVALIDITY: %w", s, err)
	}
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor %q: UID: %w", s, err)
	}
	return cursor{validity: uint32(validity), uid: uint32(uid)}, nil
}

// loadCursor reads a mailbox's cursor; a missing one is the zero cursor.
func loadCursor(ctx context.Context, db *store.DB, name string) (cursor, error) {
	var v string
	err := db.GetContext(ctx, &v, db.Rebind(`SELECT value FROM cursors WHERE name = ?`), name)
	if errors.Is(err, sql.ErrNoRows) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, fmt.Errorf("reading cursor %s: %w", name, err)
	}
	c, err := parseCursor(v)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor %s: %w", name, err)
	}
	return c, nil
}

// saveCursor records a mailbox's cursor.
func saveCursor(ctx context.Context, db *store.DB, name string, c cursor, now time.Time) error {
	_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
		name, c.String(), store.Time(now))
	if err != nil {
		return fmt.Errorf("writing cursor %s: %w", name, err)
	}
	return nil
}
