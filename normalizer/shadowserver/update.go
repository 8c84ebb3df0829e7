package shadowserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	ssmap "github.com/abusegw/abusegw/mappings/shadowserver"
)

const (
	// DefaultSchemaURL is where Shadowserver publishes the current schema,
	// the URL IntelMQ's update_schema() downloads.
	DefaultSchemaURL = "https://interchange.shadowserver.org/intelmq/v1/schema"
	// SchemaFileName is the name of a downloaded schema inside the data
	// directory (IntelMQ uses the same name in its var/lib directory).
	SchemaFileName = "shadowserver-schema.json"
	// maxSchemaSize bounds a download; the 2026 schema is 0.7 MB.
	maxSchemaSize = 64 << 20
)

// SchemaUpdate describes what UpdateSchema did.
type SchemaUpdate struct {
	Path     string // the schema file in the data directory
	Backup   string // the previous schema's copy, "" if there was none
	Version  string // _meta.date_created of the new schema
	Previous string // _meta.date_created of the replaced schema, if any
	Types    int    // number of report types in the new schema
	Changed  bool   // false: the file already held exactly this schema
}

// UpdateSchema fetches a Shadowserver schema and installs it as
// <dataDir>/shadowserver-schema.json, where LoadSchemaFrom finds it. from is
// an http(s) URL or a file path; "" means DefaultSchemaURL. client is used
// for URLs; nil means a client with a two-minute timeout.
//
// The new schema must load (every report type compiles) before anything is
// touched. It is written to a temporary file in dataDir and renamed into
// place, so a reader sees either the old file or the new one; the old one is
// kept as shadowserver-schema.json.bak. An identical schema changes nothing.
func UpdateSchema(ctx context.Context, from, dataDir string, client *http.Client) (SchemaUpdate, error) {
	if dataDir == "" {
		return SchemaUpdate{}, errors.New("updating shadowserver schema: no data directory")
	}
	if from == "" {
		from = DefaultSchemaURL
	}
	data, err := fetchSchema(ctx, from, client)
	if err != nil {
		return SchemaUpdate{}, fmt.Errorf("updating shadowserver schema from %s: %w", from, err)
	}
	s, err := LoadSchema(data)
	if err != nil {
		return SchemaUpdate{}, fmt.Errorf("updating shadowserver schema from %s: %w", from, err)
	}
	up := SchemaUpdate{
		Path:    filepath.Join(dataDir, SchemaFileName),
		Version: s.Version(),
		Types:   len(s.Types()),
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return up, fmt.Errorf("updating shadowserver schema: %w", err)
	}
	old, err := os.ReadFile(up.Path)
	switch {
	case err == nil:
		if bytes.Equal(old, data) {
			up.Previous = up.Version
			return up, nil
		}
		if prev, err := LoadSchema(old); err == nil {
			up.Previous = prev.Version()
		}
		// The backup is written the same way as the schema, so a crash
		// never leaves a half-written .bak either.
		up.Backup = up.Path + ".bak"
		if err := writeFileAtomic(dataDir, up.Backup, old); err != nil {
			return up, fmt.Errorf("updating shadowserver schema: keeping the previous one: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return up, fmt.Errorf("updating shadowserver schema: reading the current one: %w", err)
	}
	if err := writeFileAtomic(dataDir, up.Path, data); err != nil {
		return up, fmt.Errorf("updating shadowserver schema: %w", err)
	}
	up.Changed = true
	return up, nil
}

func fetchSchema(ctx context.Context, from string, client *http.Client) ([]byte, error) {
	lower := strings.ToLower(from)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		path := strings.TrimPrefix(from, "file://")
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; the body of an
		// error page is of no use here.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSchemaSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSchemaSize {
		return nil, fmt.Errorf("schema larger than %d bytes", maxSchemaSize)
	}
	return data, nil
}

// writeFileAtomic writes data to a temporary file in dir, syncs it and
// renames it to path.
func writeFileAtomic(dir, path string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".shadowserver-schema-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable; some file systems cannot sync a directory,
	// and the rename has happened either way.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// SourceEmbedded is the source LoadSchemaFrom reports for the built-in schema.
const SourceEmbedded = "embedded"

// LoadSchemaFrom returns the schema abusegw should use: the one UpdateSchema
// installed in dataDir if there is one, else the embedded one. source is the
// file's path or SourceEmbedded. A schema file that exists but does not load
// is an error rather than a silent fallback, so a broken update is noticed.
func LoadSchemaFrom(dataDir string) (*Schema, string, error) {
	if dataDir != "" {
		path := filepath.Join(dataDir, SchemaFileName)
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			s, err := LoadSchema(data)
			if err != nil {
				return nil, path, fmt.Errorf("loading %s: %w", path, err)
			}
			return s, path, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, path, fmt.Errorf("loading shadowserver schema: %w", err)
		}
	}
	s, err := DefaultSchema()
	if err != nil {
		return nil, SourceEmbedded, err
	}
	return s, SourceEmbedded, nil
}

// EmbeddedSchema returns the raw embedded schema document, for tools that
// want to write it out or compare it.
func EmbeddedSchema() []byte { return bytes.Clone(ssmap.Schema) }
