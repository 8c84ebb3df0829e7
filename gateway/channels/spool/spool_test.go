package spool_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/app"
	"github.com/abusegw/abusegw/gateway/channels/spool"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

var testdata = filepath.Join("..", "..", "ingest", "testdata")

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func names(dir string) (out []string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func setup(t *testing.T, d store.Dialect) (*spool.Watcher, *clock, string, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("contacts:\n  - type: file\n    path: "+filepath.Join(testdata, "customers.csv")+"\n"), "test.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = filepath.Join(dir, "data")
	db := storetest.Open(t, d)
	rt, err := app.Build(context.Background(), cfg, db, app.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	drop := filepath.Join(dir, "spool")
	w, err := spool.New(spool.Options{Dir: drop, Pipeline: rt.Pipeline, DB: db, StableFor: 10 * time.Second, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return w, c, drop, db
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFixture(t *testing.T, name, dst string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, b)
	return b
}

func TestSpool(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			w, c, drop, db := setup(t, d)
			ctx := context.Background()
			scanDNS := copyFixture(t, "scan_dns.csv", filepath.Join(drop, "2018-04-14-scan_dns.csv"))
			write(t, filepath.Join(drop, "garbage.txt"), []byte("this is no report anybody knows\n"))
			copyFixture(t, "scan_ntp.csv", filepath.Join(drop, ".scan_ntp.csv"))     // being written (dot-file)
			copyFixture(t, "scan_smb.csv", filepath.Join(drop, "scan_smb.csv.part")) // being written (.part)
			copyFixture(t, "scan_rdp.csv", filepath.Join(drop, "scan_rdp.csv.tmp"))  // being written (.tmp)
			growing := filepath.Join(drop, "scan_ntp.csv")
			write(t, growing, []byte("timestamp,ip,protocol,port\n"))
			if err := os.Mkdir(filepath.Join(drop, "sub"), 0o750); err != nil {
				t.Fatal(err)
			}

			type want struct{ processed, failed, waiting []string }
			step := func(label string, advance time.Duration, w2 want) {
				t.Helper()
				c.advance(advance)
				res, err := w.Scan(ctx)
				if err != nil {
					t.Fatalf("%s: %v", label, err)
				}
				if !slices.Equal(res.Processed, w2.processed) || !slices.Equal(res.Failed, w2.failed) || !slices.Equal(res.Waiting, w2.waiting) {
					t.Fatalf("%s: %+v, want %+v", label, res, w2)
				}
			}
			all := []string{"2018-04-14-scan_dns.csv", "garbage.txt", "scan_ntp.csv"}
			step("first sight", 0, want{waiting: all})
			step("too fresh", 9*time.Second, want{waiting: all})

			// The growing file changes: its clock starts again.
			f, err := os.OpenFile(growing, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.WriteString("2026-03-01 10:00:00,198.51.100.1,udp,123\n")
			f.Close()
			step("stable for 10 s", time.Second, want{processed: []string{"2018-04-14-scan_dns.csv"}, failed: []string{"garbage.txt"}, waiting: []string{"scan_ntp.csv"}})

			if got := names(drop); !slices.Equal(got, []string{".scan_ntp.csv", "failed", "processed", "scan_ntp.csv", "scan_rdp.csv.tmp", "scan_smb.csv.part", "sub"}) {
				t.Errorf("spool directory: %v", got)
			}
			if got := names(filepath.Join(drop, "processed")); !slices.Equal(got, []string{"2018-04-14-scan_dns.csv"}) {
				t.Errorf("processed/: %v", got)
			}
			if got := names(filepath.Join(drop, "failed")); !slices.Equal(got, []string{"garbage.txt", "garbage.txt.reason"}) {
				t.Errorf("failed/: %v", got)
			}
			reason, _ := os.ReadFile(filepath.Join(drop, "failed", "garbage.txt.reason"))
			if !strings.Contains(string(reason), "unrecognized") || !strings.Contains(string(reason), "not a report format abusegw knows") ||
				!strings.Contains(string(reason), "abusegw reprocess 2") {
				t.Errorf("reason file: %q", reason)
			}
			var got []struct {
				Channel string `db:"channel"`
				Name    string `db:"source_name"`
				Status  string `db:"status"`
			}
			if err := db.SelectContext(ctx, &got, `SELECT channel, source_name, status FROM reports ORDER BY id`); err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Channel != "spool" || got[0].Name != "2018-04-14-scan_dns.csv" || got[0].Status != "processed" ||
				got[1].Status != "unrecognized" {
				t.Errorf("reports: %+v", got)
			}

			// Rename into place: taken once stable, like any file.
			if err := os.Rename(filepath.Join(drop, "scan_smb.csv.part"), filepath.Join(drop, "scan_smb.csv")); err != nil {
				t.Fatal(err)
			}
			step("renamed into place", time.Second, want{waiting: []string{"scan_ntp.csv", "scan_smb.csv"}})
			// The same report dropped again under the same name: a duplicate,
			// moved beside the first.
			write(t, filepath.Join(drop, "2018-04-14-scan_dns.csv"), scanDNS)
			step("later", 10*time.Second, want{processed: []string{"scan_ntp.csv", "scan_smb.csv"}, waiting: []string{"2018-04-14-scan_dns.csv"}})
			step("the duplicate", 10*time.Second, want{processed: []string{"2018-04-14-scan_dns.csv"}})
			if got := names(filepath.Join(drop, "processed")); !slices.Equal(got, []string{"2018-04-14-scan_dns.1.csv", "2018-04-14-scan_dns.csv", "scan_ntp.csv", "scan_smb.csv"}) {
				t.Errorf("processed/: %v", got)
			}
			var n int
			if err := db.GetContext(ctx, &n, `SELECT count(*) FROM reports`); err != nil || n != 4 {
				t.Errorf("%d reports (%v), want 4: the duplicate is not stored twice", n, err)
			}
			step("nothing left", time.Minute, want{})
		})
	}
}

func TestSkipped(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"report.csv": false, ".report.csv": true, "report.csv.tmp": true, "report.csv.part": true, "report.tmp.csv": false, "part": false,
	} {
		if got := spool.Skipped(name); got != want {
			t.Errorf("Skipped(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestNewNeedsDir(t *testing.T) {
	t.Parallel()
	if _, err := spool.New(spool.Options{}); err == nil {
		t.Error("New without a directory succeeded")
	}
}
