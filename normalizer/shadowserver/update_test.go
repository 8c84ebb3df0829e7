package shadowserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpdateSchema(t *testing.T) {
	t.Parallel()
	full := EmbeddedSchema()
	small, err := os.ReadFile("testdata/schema.json.test")
	if err != nil {
		t.Fatal(err)
	}
	// The IntelMQ test schema without its deliberately unknown field.
	small = bytes.ReplaceAll(small, []byte(`"not_in_idf"`), []byte(`"comment"`))
	if _, err := LoadSchema(small); err != nil {
		t.Fatal(err)
	}
	body := full
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write(body)
	}))
	defer srv.Close()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, SchemaFileName)

	// Nothing installed: the embedded schema is used.
	if s, src, err := LoadSchemaFrom(dir); err != nil || src != SourceEmbedded || len(s.Types()) != 170 {
		t.Fatalf("LoadSchemaFrom(empty) = %v, %s, %v", s, src, err)
	}

	// First download installs the file, no backup.
	up, err := UpdateSchema(ctx, srv.URL, dir, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if !up.Changed || up.Backup != "" || up.Path != path || up.Types != 170 || up.Version == "" {
		t.Fatalf("first update %+v", up)
	}

	// Same schema again: nothing changes.
	if up, err = UpdateSchema(ctx, srv.URL, dir, srv.Client()); err != nil || up.Changed {
		t.Fatalf("repeat update %+v, %v", up, err)
	}

	// A different schema from a file: the old one is kept as .bak.
	src := filepath.Join(t.TempDir(), "new.json")
	if err := os.WriteFile(src, small, 0o644); err != nil {
		t.Fatal(err)
	}
	if up, err = UpdateSchema(ctx, src, dir, nil); err != nil || !up.Changed || up.Types != 3 || up.Backup != path+".bak" {
		t.Fatalf("file update %+v, %v", up, err)
	}
	if bak, _ := os.ReadFile(path + ".bak"); !bytes.Equal(bak, full) {
		t.Error(".bak is not the previous schema")
	}
	s, srcName, err := LoadSchemaFrom(dir)
	if err != nil || srcName != path || len(s.Types()) != 3 {
		t.Fatalf("LoadSchemaFrom = %v, %s, %v", s, srcName, err)
	}

	// Failures leave the installed schema alone.
	for _, tc := range []struct {
		name   string
		status int
		body   []byte
		want   string
	}{
		{"server error", http.StatusInternalServerError, []byte("oops"), "HTTP status 500"},
		{"not JSON", http.StatusOK, []byte("<html>"), "invalid shadowserver schema"},
		{"unknown converter", http.StatusOK, bytes.Replace(full, []byte(`"convert_int"`), []byte(`"convert_magic"`), 1), "convert_magic"},
	} {
		status, body = tc.status, tc.body
		if _, err := UpdateSchema(ctx, srv.URL, dir, srv.Client()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if cur, _ := os.ReadFile(path); !bytes.Equal(cur, small) {
			t.Errorf("%s: installed schema changed", tc.name)
		}
	}
	if _, err := UpdateSchema(ctx, filepath.Join(dir, "missing.json"), dir, nil); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := UpdateSchema(ctx, src, "", nil); err == nil {
		t.Error("empty data dir accepted")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}

	// A broken installed schema is an error, not a silent fallback.
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSchemaFrom(dir); err == nil {
		t.Error("broken schema file accepted")
	}
}
