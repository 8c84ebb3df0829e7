package store

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// NullTime scans a timestamp that may be NULL. Unlike sql.NullTime it also
// reads the text SQLite returns for computed columns (max(at), COALESCE of
// times), where the driver has no declared type to convert by.
type NullTime struct {
	Time  time.Time
	Valid bool
}

// sqliteTimeLayout is how the SQLite driver writes a time (the DSN's
// _time_format=sqlite, set by Open).
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// sqliteLayouts are the shapes modernc.org/sqlite writes times in.
var sqliteLayouts = []string{
	sqliteTimeLayout,
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
}

// Scan implements sql.Scanner.
func (n *NullTime) Scan(v any) error {
	switch t := v.(type) {
	case nil:
		*n = NullTime{}
		return nil
	case time.Time:
		*n = NullTime{Time: t.UTC(), Valid: true}
		return nil
	case []byte:
		return n.Scan(string(t))
	case string:
		for _, l := range sqliteLayouts {
			if tm, err := time.Parse(l, t); err == nil {
				*n = NullTime{Time: tm.UTC(), Valid: true}
				return nil
			}
		}
		return fmt.Errorf("store.NullTime: cannot read %q as a time", t)
	}
	return fmt.Errorf("store.NullTime: cannot scan %T", v)
}

// Value implements driver.Valuer.
func (n NullTime) Value() (driver.Value, error) {
	if !n.Valid {
		return nil, nil
	}
	return Time(n.Time), nil
}
