package httpapi

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/intelmq"
)

// FuzzValidateEvents: a body the API accepts is one the pipeline reads to
// its end; only single events may be rejected (row errors), never the
// report.
func FuzzValidateEvents(f *testing.F) {
	for _, s := range []string{
		`{"source.ip": "198.51.100.1"}` + "\n" + `{"source.ip": "198.51.100.2"}`,
		`[{"source.ip": "198.51.100.1"}, {"a": [1, {"b": null}]}]`,
		`{"source.ip": "198.51.100.1",` + "\n" + ` "feed.name": "x"}`,
		`[{}] x`, `[1, 2]`, `{}` + "\n3\n", `[{"a": 1}`, "\xef\xbb\xbf{}", `{"a": "\xff"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := validateEvents(bytes.NewReader(body)); err != nil {
			return
		}
		r := intelmq.NewReader(bytes.NewReader(body), "fuzz.json")
		for range 10000 {
			_, err := r.Next()
			if err == io.EOF {
				return
			}
			var rowErr *normalizer.RowError
			if err != nil && !errors.As(err, &rowErr) {
				t.Fatalf("accepted body %q ends the report: %v", body, err)
			}
		}
	})
}
