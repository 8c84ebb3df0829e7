package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// EventColumn is an event field that the events table keeps in a column of
// its own. Since migration 00009 the row's fields JSON leaves such a field
// out when the column holds it exactly (see InEventColumn): a third of the
// bytes of a typical event, written once instead of twice. Readers put it
// back with EventColumns; rows written before carry it in both places, with
// the same value.
type EventColumn struct {
	Field  string // the event field, e.g. "source.ip"
	Column string // the events column, e.g. "source_ip"
	Int    bool   // an integer column (NULL when absent); else text ('' when absent)
}

// EventColumns are the event fields with columns of their own. Times are
// not among them: their columns hold parsed instants, and the field's text
// (its offset, its precision) would not come back byte for byte.
var EventColumns = [...]EventColumn{
	{"feed.name", "feed_name", false},
	{"feed.provider", "feed_provider", false},
	{"classification.taxonomy", "classification_taxonomy", false},
	{"classification.type", "classification_type", false},
	{"classification.identifier", "classification_identifier", false},
	{"source.ip", "source_ip", false},
	{"source.port", "source_port", true},
	{"source.asn", "source_asn", true},
	{"source.network", "source_network", false},
	{"source.fqdn", "source_fqdn", false},
	{"source.url", "source_url", false},
}

// InEventColumn reports whether the events table keeps v, the value of
// field, in a column of its own from which it comes back unchanged: a
// non-empty string in a text column, an int64 in an integer column.
func InEventColumn(field string, v any) bool {
	switch field {
	case "source.port", "source.asn":
		_, ok := v.(int64)
		return ok
	case "feed.name", "feed.provider", "classification.taxonomy", "classification.type",
		"classification.identifier", "source.ip", "source.network", "source.fqdn", "source.url":
		s, ok := v.(string)
		return ok && s != ""
	}
	return false
}

// EventFieldsSelect is the select list ScanEventFields reads: the fields
// JSON and the EventColumns, each prefixed by alias ("e." or "").
func EventFieldsSelect(alias string) string {
	var b strings.Builder
	b.WriteString(alias + "fields")
	for _, c := range EventColumns {
		b.WriteString(", " + alias + c.Column)
	}
	return b.String()
}

// ScanEventFields reads a row selected by EventFieldsSelect (scan is a
// Rows' or Row's Scan) and returns the event's fields, whole again.
func ScanEventFields(scan func(dest ...any) error) (map[string]any, error) {
	var fields string
	var text [len(EventColumns)]sql.NullString
	var ints [len(EventColumns)]sql.NullInt64
	dest := make([]any, 0, 1+len(EventColumns))
	dest = append(dest, &fields)
	for i, c := range EventColumns {
		if c.Int {
			dest = append(dest, &ints[i])
		} else {
			dest = append(dest, &text[i])
		}
	}
	if err := scan(dest...); err != nil {
		return nil, fmt.Errorf("reading an event: %w", err)
	}
	m := map[string]any{}
	if err := json.Unmarshal([]byte(fields), &m); err != nil {
		return nil, fmt.Errorf("decoding an event's fields: %w", err)
	}
	for i, c := range EventColumns {
		v, inJSON := m[c.Field]
		switch {
		case c.Int && ints[i].Valid:
			// JSON reads every number as float64: the column says it is an
			// integer (rows before 00009 carry it in both).
			if f, ok := v.(float64); !inJSON || ok && f == float64(ints[i].Int64) {
				m[c.Field] = ints[i].Int64
			}
		case !c.Int && text[i].String != "" && !inJSON:
			// A value the column does not hold exactly stays in the JSON
			// (InEventColumn), and the JSON's wins.
			m[c.Field] = text[i].String
		}
	}
	return m, nil
}
