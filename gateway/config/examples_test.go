package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDeployExamples keeps the example configurations in deploy/examples
// valid as the configuration grows.
func TestDeployExamples(t *testing.T) {
	files, err := filepath.Glob("../../deploy/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configurations found (%v)", err)
	}
	// Secrets the examples name, so validation can resolve them.
	t.Setenv("DATABASE_URL", "postgres://abusegw@127.0.0.1:5432/abusegw?sslmode=disable")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, f, nil); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
