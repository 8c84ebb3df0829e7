package intelmq

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// decodeLine is how nextLine decodes a line: one object and nothing after.
func decodeLine(line []byte) (map[string]any, bool) {
	dec := NewJSONDecoder(bytes.NewReader(line))
	m, err := decodeObject(dec)
	if err != nil {
		return nil, false
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, false
	}
	return m, true
}

// jsonSpace is JSON's white space (bytes.TrimSpace would also take \v).
const jsonSpace = " \t\r\n"

// decodeLineV1 is what nextLine did with encoding/json, but strict about
// what follows the object (its More let a closing bracket through).
func decodeLineV1(line []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil || len(bytes.Trim(line[dec.InputOffset():], jsonSpace)) > 0 {
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
	"{}\v",
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

// decodeAllV1 decodes a body in the array or stream shape with
// encoding/json, as the reader did before jsontext: the values, or false
// when the body is not valid JSON of that shape.
func decodeAllV1(body []byte) ([]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var vs []any
		if err := dec.Decode(&vs); err != nil || len(bytes.Trim(body[dec.InputOffset():], jsonSpace)) > 0 {
			return nil, false
		}
		return vs, true
	}
	var vs []any
	for {
		var v any
		err := dec.Decode(&v)
		if err != nil {
			return vs, err == io.EOF
		}
		vs = append(vs, v)
	}
}

// FuzzValueModes: in the array and stream shapes the reader gives, for a
// body encoding/json decodes, the events encoding/json's values give.
func FuzzValueModes(f *testing.F) {
	for _, s := range []string{
		"[\n" + `{"source.ip":"192.0.2.1","classification.type":"c&c"},` + "\n" + `"x",` + "\n" + `{"source":{"ip":"2001:db8::1","port":25}}` + "\n]\n",
		"{\n \"source.ip\": \"192.0.2.1\"\n}\n{\n \"source.ip\": \"192.0.2.2\", \"extra\": {\"n\": 1.5}\n}\n",
		`[{"source.ip":"192.0.2.1"}, 1, null, [2], {"feed.accuracy": 50}]`,
		"{\"source.ip\":\n \"192.0.2.1\"} 3 {\"source.asn\": 64496}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The shapes detect gives these names (JSON lines are
		// FuzzDecodeObject's).
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if len(trimmed) == 0 || (trimmed[0] != '[' && trimmed[0] != '{') {
			return
		}
		if trimmed[0] == '{' {
			if i := bytes.IndexByte(trimmed, '\n'); (i >= 0 && json.Valid(trimmed[:i])) || (i < 0 && json.Valid(trimmed)) {
				return
			}
		}
		vs, ok := decodeAllV1(body)
		if !ok || len(vs) == 0 {
			return
		}
		r := NewReader(bytes.NewReader(body), "fuzz")
		ref := &Reader{file: "fuzz"}
		for i, v := range vs {
			ev, err := r.Next()
			m, isObj := v.(map[string]any)
			if !isObj {
				if err == nil {
					t.Fatalf("%q: value %d is not an object, read as %v", body, i, ev.Fields)
				}
				continue
			}
			want, wantErr := ref.event(m, 0)
			if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(ev.Fields, want.Fields) {
				t.Fatalf("%q: value %d read as %v, %v; want %v, %v", body, i, ev.Fields, err, want.Fields, wantErr)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("%q: after the %d values: %v", body, len(vs), err)
		}
	})
}
