package store

import (
	"database/sql"
	"reflect"
	"testing"
)

// TestScanEventFields reads rows as written before migration 00009 (every
// field in the JSON) and after (the columns' fields left out): both give
// the whole event.
func TestScanEventFields(t *testing.T) {
	t.Parallel()
	cols := func(ip string, port any) []any {
		v := []any{"DNS-Open-Resolvers", "Shadowserver", "vulnerable", "vulnerable-system", "dns-open-resolver", ip, port, nil, "", "", ""}
		if len(v) != len(EventColumns) {
			t.Fatalf("test rows have %d columns, EventColumns %d", len(v), len(EventColumns))
		}
		return v
	}
	want := map[string]any{
		"feed.name": "DNS-Open-Resolvers", "feed.provider": "Shadowserver", "classification.taxonomy": "vulnerable",
		"classification.type": "vulnerable-system", "classification.identifier": "dns-open-resolver",
		"source.ip": "192.0.2.1", "source.port": int64(53), "extra.tag": "openresolver", "extra.amp": 4.5,
	}
	tests := []struct {
		name   string
		fields string
		cols   []any
		want   map[string]any
	}{
		{"new row", `{"extra.amp":4.5,"extra.tag":"openresolver"}`, cols("192.0.2.1", int64(53)), want},
		{"old row", `{"classification.identifier":"dns-open-resolver","classification.taxonomy":"vulnerable",` +
			`"classification.type":"vulnerable-system","extra.amp":4.5,"extra.tag":"openresolver","feed.name":"DNS-Open-Resolvers",` +
			`"feed.provider":"Shadowserver","source.ip":"192.0.2.1","source.port":53}`, cols("192.0.2.1", int64(53)), want},
		{"port not a number stays in the JSON", `{"source.port":"eighty"}`, cols("", nil), map[string]any{
			"feed.name": "DNS-Open-Resolvers", "feed.provider": "Shadowserver", "classification.taxonomy": "vulnerable",
			"classification.type": "vulnerable-system", "classification.identifier": "dns-open-resolver", "source.port": "eighty",
		}},
		{"a value the column holds as text keeps its JSON type", `{"source.fqdn":5}`, func() []any {
			v := cols("", nil)
			v[9] = "5"
			return v
		}(), map[string]any{
			"feed.name": "DNS-Open-Resolvers", "feed.provider": "Shadowserver", "classification.taxonomy": "vulnerable",
			"classification.type": "vulnerable-system", "classification.identifier": "dns-open-resolver", "source.fqdn": 5.0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scan := func(dest ...any) error {
				*dest[0].(*string) = tt.fields
				for i, v := range tt.cols {
					switch d := dest[1+i].(type) {
					case *sql.NullString:
						if err := d.Scan(v); err != nil {
							return err
						}
					case *sql.NullInt64:
						if err := d.Scan(v); err != nil {
							return err
						}
					}
				}
				return nil
			}
			got, err := ScanEventFields(scan)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
	if _, err := ScanEventFields(func(dest ...any) error { *dest[0].(*string) = "{"; return nil }); err == nil {
		t.Error("broken JSON read without error")
	}
}

// TestInEventColumnMatchesEventColumns keeps InEventColumn's switch (fast,
// on every field of every event stored) and EventColumns (what readers put
// back) the same list: a field left out of the JSON must come back.
func TestInEventColumnMatchesEventColumns(t *testing.T) {
	t.Parallel()
	for _, c := range EventColumns {
		held, other := any("x"), any(int64(1))
		if c.Int {
			held, other = other, held
		}
		if !InEventColumn(c.Field, held) {
			t.Errorf("%s: column %s does not hold %v", c.Field, c.Column, held)
		}
		if InEventColumn(c.Field, other) || InEventColumn(c.Field, nil) {
			t.Errorf("%s: column %s said to hold %v", c.Field, c.Column, other)
		}
	}
	for _, f := range []string{"time.source", "source.reverse_dns", "extra.source.ip", "destination.ip", "protocol.application"} {
		if InEventColumn(f, "x") || InEventColumn(f, int64(1)) {
			t.Errorf("%s said to have a column", f)
		}
	}
	if InEventColumn("feed.name", "") {
		t.Error("an empty string is said to come back from its column")
	}
}
