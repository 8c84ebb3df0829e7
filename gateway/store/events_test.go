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
