package shadowserver

import (
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// csvRecord is one record as both readers report it.
type csvRecord struct {
	fields []string
	line   int
	offset int64
}

// readStd reads data with encoding/csv configured as the Reader used to be.
func readStd(data string) ([]csvRecord, error) {
	cr := csv.NewReader(strings.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	var out []csvRecord
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		line, _ := cr.FieldPos(0)
		out = append(out, csvRecord{slices.Clone(rec), line, cr.InputOffset()})
	}
}

// readOurs reads data with csvReader, keeping the strings it returned (not
// copies of them), so that a later Read that changed them would show.
func readOurs(r io.Reader) ([]csvRecord, error) {
	cr := newCSVReader(r)
	var out []csvRecord
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, csvRecord{slices.Clone(rec), cr.Line(), cr.InputOffset()})
	}
}

func compareCSV(t *testing.T, name, data string) {
	t.Helper()
	want, werr := readStd(data)
	for _, r := range []struct {
		how string
		in  io.Reader
	}{
		{"whole", strings.NewReader(data)},
		{"byte by byte", iotest.OneByteReader(strings.NewReader(data))},
	} {
		got, gerr := readOurs(r.in)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%s (%s): error %v, encoding/csv %v", name, r.how, gerr, werr)
		}
		if len(got) != len(want) {
			t.Errorf("%s (%s): %d records, encoding/csv %d\n got %v\nwant %v", name, r.how, len(got), len(want), got, want)
			continue
		}
		for i := range want {
			if !slices.Equal(got[i].fields, want[i].fields) || got[i].line != want[i].line || got[i].offset != want[i].offset {
				t.Errorf("%s (%s): record %d = %q line %d offset %d; encoding/csv %q line %d offset %d",
					name, r.how, i, got[i].fields, got[i].line, got[i].offset, want[i].fields, want[i].line, want[i].offset)
			}
		}
	}
}

// TestCSVReaderMatchesEncodingCSV checks csvReader against encoding/csv on
// hand-picked edge cases, every fixture, and generated records made of
// the pieces that matter (quotes, doubled quotes, commas, line breaks).
func TestCSVReaderMatchesEncodingCSV(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"empty":                   "",
		"one field":               "a",
		"header only":             "\"a\",\"b\"\n",
		"crlf":                    "a,b\r\nc,d\r\n",
		"cr before eof":           "a,b\r",
		"empty lines":             "\n\na,b\n\n\nc\n",
		"trailing comma":          "a,b,\n\"x\",\n",
		"empty quoted":            "\"\",\"\"\n",
		"doubled quote":           "\"a\"\"b\",c\n",
		"bare quote in quoted":    "\"a\"b\",c\n",
		"bare quote in unquoted":  "a\"b,c\n",
		"multiline":               "\"a\nb\",c\nd,e\n",
		"multiline crlf":          "\"a\r\nb\",c\r\n",
		"unterminated":            "a,\"bc\nd",
		"quote then eof":          "a,\"",
		"quote at line end":       "a,\"\n",
		"comma in quotes":         "\"a,b\",c\n",
		"no final newline":        "a,b\nc,d",
		"utf8":                    "\"é\",ü,\"日本\"\n",
		"invalid utf8":            "\xff,\"\xfe\"\n",
		"quoted then text":        "\"a\" ,b\n",
		"long line":               strings.Repeat("x", 100_000) + ",\"" + strings.Repeat("y", 70_000) + "\"\n",
		"only newlines":           "\n\r\n\n",
		"quote newline in middle": "\"a\n\n\nb\"\n",
	}
	for name, data := range cases {
		compareCSV(t, name, data)
	}
	files, _ := filepath.Glob("testdata/*.csv")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		compareCSV(t, f, string(b))
	}
	pieces := []string{"a", "bc", "\"", "\"\"", ",", "\n", "\r\n", "\r", " ", "é"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var sb strings.Builder
		for range rng.IntN(14) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		compareCSV(t, "generated "+string(rune('0'+i%10)), sb.String())
	}
}

// TestCSVReaderReadError: an error of the underlying reader ends reading.
func TestCSVReaderReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := newCSVReader(io.MultiReader(strings.NewReader("a,b\nc"), iotest.ErrReader(boom)))
	if rec, err := r.Read(); err != nil || !slices.Equal(rec, []string{"a", "b"}) {
		t.Fatalf("first record %q, %v", rec, err)
	}
	if _, err := r.Read(); !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
}

// FuzzCSVReader compares csvReader with encoding/csv on arbitrary input.
func FuzzCSVReader(f *testing.F) {
	f.Add("\"a\"\"b\",c\n\"d\ne\",f\r\n")
	f.Add("a,\"b\"c,\"\n")
	f.Fuzz(func(t *testing.T, data string) {
		compareCSV(t, "fuzz", data)
	})
}
