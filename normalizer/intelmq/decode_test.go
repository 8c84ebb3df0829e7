package intelmq

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// decodeLine is how nextLine decodes a line: one object and nothing after.
func decodeLine(line []byte) (map[string]any, bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(line), lineOptions...)
	m, err := decodeObject(dec)
	if err != nil {
		return nil, false
	}
	if _, err := dec.ReadToken(); err == nil || err.Error() != "EOF" {
		return nil, false
	}
	return m, true
}

// decodeLineV1 is what nextLine did with encoding/json, but strict about
// what follows the object (its More let a closing bracket through).
func decodeLineV1(line []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil || len(bytes.TrimSpace(line[dec.InputOffset():])) > 0 {
		return nil, false
	}
	return m, true
}

var decodeCases = []string{
	`{"source.ip": "192.0.2.1", "source.port": 53, "feed.accuracy": 100.0, "x": 1e400}`,
	`{"a": {"b": [1, "two", true, false, null, {"c": -0.5e-3}]}, "d": null}`,
	`{"dup": 1, "dup": "last"}`,
	`{"bad utf8": "\xff\xfe", "esc": "\u00e9\ud83d\ude00\t\"", "lone": "\ud800"}`,
	`{}`,
	`{"a": 1} {"b": 2}`,
	`{"a": 1}]`,
	`{"a": 1`,
	`[{"a": 1}]`,
	`null`,
	`"string"`,
	`{"a": tru}`,
	`{"a": 01}`,
	`{"a": 1,}`,
	``,
}

// TestDecodeObject: the jsontext walk gives what encoding/json gave.
func TestDecodeObject(t *testing.T) {
	for _, in := range decodeCases {
		got, gotOK := decodeLine([]byte(in))
		want, wantOK := decodeLineV1([]byte(in))
		if gotOK != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v %v, want %#v %v", in, got, gotOK, want, wantOK)
		}
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, in := range decodeCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, gotOK := decodeLine(in)
		want, wantOK := decodeLineV1(in)
		if gotOK != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %#v %v, want %#v %v", in, got, gotOK, want, wantOK)
		}
	})
}
