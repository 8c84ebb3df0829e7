// Package ingesttest builds an ingest pipeline for the tests of the
// channels that feed it: one customer owns every address, one connector
// named "rt" is routed to, and every collaborator reads the given clock.
package ingesttest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
)

// NewPipeline returns a pipeline over db whose data directory is a
// temporary one; each of with may change its options.
func NewPipeline(t testing.TB, db *store.DB, now func() time.Time, with ...func(*ingest.Options)) *ingest.Pipeline {
	t.Helper()
	dir := t.TempDir()
	contactsFile := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(contactsFile, []byte("network,customer,name,email,connector,queue,language,tags\n"+
		"0.0.0.0/0,everyone,Everyone,abuse@everyone.example,,,,\n::/0,everyone,Everyone,abuse@everyone.example,,,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chain, err := contacts.New(context.Background(), []contacts.SourceConfig{{Type: contacts.TypeFile, Path: contactsFile, Reload: -1}},
		contacts.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chain.Close() })
	router, err := routing.New(routing.Config{DefaultConnector: "rt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := content.New(content.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	agg, err := cases.New(cases.Config{}, cases.Options{Renderer: renderer, Desk: cases.Desk{Name: "Abuse Desk", Email: "abuse@isp.example"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	o := ingest.Options{DB: db, Contacts: chain, Router: router, Aggregator: agg, DataDir: dir, Now: now}
	for _, f := range with {
		f(&o)
	}
	p, err := ingest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
