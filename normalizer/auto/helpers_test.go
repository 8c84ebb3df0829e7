package auto

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"maps"
	"slices"
	"testing"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// Members in name order: the archive's first member decides the
	// reported format, so map order would make the test flaky.
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := files[name]
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	zw.Close()
	return buf.Bytes()
}
