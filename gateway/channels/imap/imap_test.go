package imap_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/channels/imap"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/ingest/ingesttest"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/gateway/store/storetest"
)

var now = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)

// newPipeline wires a pipeline over db in which one customer owns every
// address, so every event of a fixture lands in a case.
func newPipeline(t *testing.T, db *store.DB) *ingest.Pipeline {
	t.Helper()
	return ingesttest.NewPipeline(t, db, func() time.Time { return now })
}

// fixture is one mail of testdata/mails (copies of shared/fixtures).
type fixture struct {
	name string
	raw  []byte
}

// mailFixtures reads the e-mail, ARF and X-ARF fixtures.
func mailFixtures(t *testing.T) []fixture {
	t.Helper()
	root := filepath.Join("testdata", "mails")
	var out []fixture
	for _, sub := range []string{"email", "arf", filepath.Join("xarf", "email-v0.2")} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out = append(out, fixture{name: strings.TrimPrefix(path, root+"/"), raw: b})
			return nil
		})
		if err != nil {
			t.Fatalf("reading fixtures: %v", err)
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d mail fixtures under %s", len(out), root)
	}
	return out
}

// reportRow is a stored report as the tests look at it.
type reportRow struct {
	ID     int64  `db:"id"`
	Name   string `db:"source_name"`
	Status string `db:"status"`
	Events int    `db:"events_count"`
}

func reports(t *testing.T, db *store.DB) []reportRow {
	t.Helper()
	var rows []reportRow
	if err := db.SelectContext(context.Background(), &rows, `SELECT id, source_name, status, events_count FROM reports ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return rows
}

func count(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.GetContext(context.Background(), &n, "SELECT count(*) FROM "+table); err != nil {
		t.Fatal(err)
	}
	return n
}

// baseConfig is an account of user on d with the given TLS mode.
func baseConfig(t *testing.T, d *dovecot, user, mode string) imap.Config {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "password")
	mustWrite(t, pw, testPassword+"\n")
	addr := d.plain
	if mode == imap.TLSImplicit {
		addr = d.tls
	}
	return imap.Config{
		Name: "test-" + user, Address: addr, TLS: mode, CAFile: d.caFile,
		User: user, PasswordFile: pw, Interval: time.Hour,
	}
}

var errCrash = errors.New("simulated crash")

// TestDovecot runs the channel against a real Dovecot (Debian's
// dovecot-imapd), on both database dialects.
func TestDovecot(t *testing.T) {
	d := startDovecot(t)
	fixtures := mailFixtures(t)

	// What each fixture gives when ingested as a file: the IMAP channel
	// must give the same.
	want := map[string]reportRow{}
	{
		db := storetest.Open(t, store.SQLite)
		p := newPipeline(t, db)
		for _, f := range fixtures {
			st, _, err := p.Ingest(context.Background(), ingest.Source{Channel: "file", Name: f.name}, bytes.NewReader(f.raw))
			if err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
			var r reportRow
			if err := db.GetContext(context.Background(), &r, db.Rebind(`SELECT id, source_name, status, events_count FROM reports WHERE id = ?`), st.ID); err != nil {
				t.Fatal(err)
			}
			want[f.name] = r
		}
	}

	t.Run("fixtures moved over implicit TLS", func(t *testing.T) {
		storetest.Each(t, func(t *testing.T, db *store.DB) {
			user := d.user(t)
			raws := make([][]byte, len(fixtures))
			for i, f := range fixtures {
				raws[i] = f.raw
			}
			uids := d.appendMessages(t, user, "INBOX", raws...)
			cfg := baseConfig(t, d, user, imap.TLSImplicit)
			cfg.After, cfg.FailedFolder = imap.AfterMove, "Failed"
			p, err := imap.New(cfg, imap.Options{DB: db, Pipeline: newPipeline(t, db)})
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.PollOnce(context.Background(), "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if r.Fetched != len(fixtures) || r.New != len(fixtures) || r.Duplicates != 0 {
				t.Fatalf("first poll: %+v, want %d new", r, len(fixtures))
			}
			got := reports(t, db)
			if len(got) != len(fixtures) {
				t.Fatalf("%d reports stored, want %d", len(got), len(fixtures))
			}
			failed, events := 0, 0
			for i, f := range fixtures {
				g, w := got[i], want[f.name]
				if wantName := "INBOX/" + strconv.FormatUint(uint64(uids[i]), 10); g.Name != wantName {
					t.Errorf("%s: stored as %q, want %q", f.name, g.Name, wantName)
				}
				if g.Status != w.Status || g.Events != w.Events {
					t.Errorf("%s: by IMAP %s with %d events, as a file %s with %d", f.name, g.Status, g.Events, w.Status, w.Events)
				}
				if g.Status == "failed" || g.Status == "unrecognized" {
					failed++
				}
				events += g.Events
			}
			if events == 0 || r.Events != events || r.Failed != failed {
				t.Errorf("poll counted %d events and %d failed; the reports say %d and %d", r.Events, r.Failed, events, failed)
			}
			if n := len(d.mailbox(t, user, "INBOX")); n != 0 {
				t.Errorf("INBOX still holds %d messages", n)
			}
			if n := len(d.mailbox(t, user, "Processed")) + len(d.mailbox(t, user, "Failed")); n != len(fixtures) {
				t.Errorf("Processed and Failed hold %d messages, want %d", n, len(fixtures))
			}
			if n := len(d.mailbox(t, user, "Failed")); n != failed {
				t.Errorf("Failed holds %d messages, want %d", n, failed)
			}
			cases := count(t, db, "cases")
			if cases == 0 {
				t.Error("no cases made")
			}

			// Nothing new: nothing fetched, nothing changed.
			r, err = p.PollOnce(context.Background(), "INBOX")
			if err != nil || r != (imap.Result{}) {
				t.Fatalf("second poll: %+v, %v", r, err)
			}
			if n := len(reports(t, db)); n != len(fixtures) || count(t, db, "cases") != cases {
				t.Errorf("second poll changed the database: %d reports", n)
			}
		})
	})

	t.Run("a message over ingest.max_report does not hold up the rest", func(t *testing.T) {
		storetest.Each(t, func(t *testing.T, db *store.DB) {
			user := d.user(t)
			small := fixtures[0].raw
			// The server may turn LF into CRLF: the limit leaves room for it.
			limit := 2*len(small) + 512
			big := append(bytes.Repeat([]byte("X-Padding: 0123456789abcdef0123456789abcdef\r\n"), limit/40+10), small...)
			d.appendMessages(t, user, "INBOX", big, small)
			cfg := baseConfig(t, d, user, imap.TLSImplicit)
			cfg.After, cfg.FailedFolder = imap.AfterMove, "Failed"
			pipe := ingesttest.NewPipeline(t, db, func() time.Time { return now }, func(o *ingest.Options) { o.MaxReport = int64(limit) })
			p, err := imap.New(cfg, imap.Options{DB: db, Pipeline: pipe})
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.PollOnce(context.Background(), "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if r.Fetched != 2 || r.New != 1 || r.Failed < 1 || r.Failed > 2 {
				t.Fatalf("poll: %+v, want both fetched, one new, the large one failed", r)
			}
			if got := reports(t, db); len(got) != 1 || got[0].Name == "" {
				t.Fatalf("reports %+v, want only the small message", got)
			}
			if n := len(d.mailbox(t, user, "Failed")); n < 1 {
				t.Errorf("Failed holds %d messages, want the large one kept there", n)
			}
			if n := len(d.mailbox(t, user, "INBOX")); n != 0 {
				t.Errorf("INBOX still holds %d messages", n)
			}
			if r, err := p.PollOnce(context.Background(), "INBOX"); err != nil || r != (imap.Result{}) {
				t.Fatalf("second poll: %+v, %v", r, err)
			}
		})
	})

	t.Run("crash between storing and flagging", func(t *testing.T) {
		storetest.Each(t, func(t *testing.T, db *store.DB) {
			user := d.user(t)
			sample := fixtures[:5]
			var raws [][]byte
			for _, f := range sample {
				raws = append(raws, f.raw)
			}
			uids := d.appendMessages(t, user, "INBOX", raws...)
			cfg := baseConfig(t, d, user, imap.TLSStartTLS)
			pipe := newPipeline(t, db)
			crashAt := uids[2]
			p, err := imap.New(cfg, imap.Options{DB: db, Pipeline: pipe, AfterStore: func(mailbox string, uid uint32) error {
				if uid == crashAt {
					return errCrash
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.PollOnce(context.Background(), "INBOX"); !errors.Is(err, errCrash) {
				t.Fatalf("poll: %v, want the simulated crash", err)
			}
			before := reports(t, db)
			if len(before) != 3 {
				t.Fatalf("%d reports stored before the crash, want 3", len(before))
			}
			events := count(t, db, "events")
			seen := d.mailbox(t, user, "INBOX")
			for i, uid := range uids {
				if want := i < 2; seen[uid] != want {
					t.Errorf("message %d: seen=%v, want %v", uid, seen[uid], want)
				}
			}

			// The restarted poller fetches the crashed message again and
			// recognises it.
			p, err = imap.New(cfg, imap.Options{DB: db, Pipeline: pipe})
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.PollOnce(context.Background(), "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if r.Fetched != 3 || r.Duplicates != 1 || r.New != 2 {
				t.Fatalf("poll after the crash: %+v, want 3 fetched, 1 duplicate", r)
			}
			after := reports(t, db)
			if len(after) != 5 || after[2] != before[2] {
				t.Fatalf("the crashed message's report changed or was stored twice: before %+v, after %+v", before[2], after)
			}
			wantEvents := events
			for _, rep := range after[3:] {
				wantEvents += rep.Events
			}
			if n := count(t, db, "events"); n != wantEvents {
				t.Errorf("%d events, want %d: the crashed message made events twice", n, wantEvents)
			}
			for uid, s := range d.mailbox(t, user, "INBOX") {
				if !s {
					t.Errorf("message %d not flagged \\Seen", uid)
				}
			}
		})
	})

	t.Run("UIDVALIDITY change goes through the mailbox again", func(t *testing.T) {
		db := storetest.Open(t, store.SQLite)
		user := d.user(t)
		d.appendMessages(t, user, "INBOX", fixtures[0].raw, fixtures[1].raw)
		cfg := baseConfig(t, d, user, imap.TLSNone)
		p, err := imap.New(cfg, imap.Options{DB: db, Pipeline: newPipeline(t, db)})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := p.PollOnce(context.Background(), "INBOX"); err != nil || r.New != 2 {
			t.Fatalf("poll: %+v, %v", r, err)
		}
		events := count(t, db, "events")
		if _, err := db.Exec(`UPDATE cursors SET value = '1:999'`); err != nil {
			t.Fatal(err)
		}
		r, err := p.PollOnce(context.Background(), "INBOX")
		if err != nil || r.Fetched != 2 || r.Duplicates != 2 {
			t.Fatalf("poll after a new UIDVALIDITY: %+v, %v; want 2 fetched duplicates", r, err)
		}
		if count(t, db, "events") != events || count(t, db, "reports") != 2 {
			t.Error("refetched messages changed the database")
		}
	})

	t.Run("IDLE wakes the poller", func(t *testing.T) {
		db := storetest.Open(t, store.SQLite)
		user := d.user(t)
		cfg := baseConfig(t, d, user, imap.TLSNone) // interval: an hour
		polls := make(chan imap.Result, 16)
		p, err := imap.New(cfg, imap.Options{DB: db, Pipeline: newPipeline(t, db),
			OnPoll: func(_ string, r imap.Result, err error) {
				if err != nil {
					t.Errorf("poll: %v", err)
				}
				polls <- r
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(ctx, "INBOX")
		}()
		defer func() {
			cancel()
			<-done
		}()
		next := func() imap.Result {
			t.Helper()
			select {
			case r := <-polls:
				return r
			case <-time.After(20 * time.Second):
				t.Fatal("no poll within 20s although IDLE should have woken the poller")
				return imap.Result{}
			}
		}
		if r := next(); r.Fetched != 0 {
			t.Fatalf("first poll of an empty mailbox: %+v", r)
		}
		d.appendMessages(t, user, "INBOX", fixtures[3].raw)
		total := 0
		for total == 0 {
			total += next().New
		}
		if count(t, db, "reports") != 1 {
			t.Errorf("%d reports, want 1", count(t, db, "reports"))
		}
	})

	t.Run("certificates are verified", func(t *testing.T) {
		db := storetest.Open(t, store.SQLite)
		pipe := newPipeline(t, db)
		user := d.user(t)
		for _, tc := range []struct {
			name    string
			mod     func(*imap.Config)
			wantErr string
		}{
			{"implicit TLS with the CA", func(c *imap.Config) {}, ""},
			{"STARTTLS with the CA", func(c *imap.Config) { c.TLS, c.Address = imap.TLSStartTLS, d.plain }, ""},
			{"implicit TLS without the CA", func(c *imap.Config) { c.CAFile = "" }, "certificate"},
			{"STARTTLS without the CA", func(c *imap.Config) { c.TLS, c.Address, c.CAFile = imap.TLSStartTLS, d.plain, "" }, "certificate"},
			{"wrong server name", func(c *imap.Config) { c.ServerName = "imap.example.net" }, "certificate"},
			{"verification off", func(c *imap.Config) { c.CAFile, c.InsecureSkipVerify = "", true }, ""},
			{"wrong password", func(c *imap.Config) {
				c.PasswordFile = filepath.Join(t.TempDir(), "pw")
				mustWrite(t, c.PasswordFile, "wrong")
			}, "login as"},
			{"missing mailbox", func(c *imap.Config) { c.Mailboxes = []string{"INBOX", "Nope"} }, "mailbox Nope"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := baseConfig(t, d, user, imap.TLSImplicit)
				tc.mod(&cfg)
				p, err := imap.New(cfg, imap.Options{DB: db, Pipeline: pipe})
				if err != nil {
					t.Fatal(err)
				}
				err = p.Check(context.Background())
				switch {
				case tc.wantErr == "" && err != nil:
					t.Fatalf("check: %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
					t.Fatalf("check: %v, want an error with %q", err, tc.wantErr)
				case err != nil && strings.Contains(err.Error(), testPassword):
					t.Fatalf("the error shows the password: %v", err)
				}
			})
		}
	})
}
