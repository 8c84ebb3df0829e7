package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := run(context.Background(), args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, environ: environ})
	return code, out.String(), errOut.String()
}

// TestServeSIGTERM starts serve in-process on a random port with no
// configuration, checks the three endpoints, sends the process SIGTERM and
// expects a clean stop with the SQLite database closed.
func TestServeSIGTERM(t *testing.T) { // not parallel: it signals the process
	dir := t.TempDir()
	t.Chdir(dir)
	listening := make(chan net.Addr, 1)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"serve"}, env{
			stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
			environ:  []string{"ABUSEGW_HTTP_LISTEN=127.0.0.1:0"},
			onListen: func(a net.Addr) { listening <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-listening:
	case code := <-done:
		t.Fatalf("serve exited with %d before listening: %s", code, errOut.String())
	}

	base := "http://" + addr.String()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, `"ok"`},
		{"/readyz", 200, `"ready"`},
		{"/metrics", 200, "# HELP abusegw_build_info"},
		{"/nowhere", 404, `"error"`},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "abusegw.db")); err != nil {
		t.Errorf("no SQLite file in the working directory: %v", err)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after SIGTERM: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second): // a bound on a hang, not a wait for work
		t.Fatal("serve did not stop within 20 s of SIGTERM")
	}
	// SQLite removes the write-ahead log when the last connection closes
	// cleanly.
	if _, err := os.Stat(filepath.Join(dir, "abusegw.db-wal")); !os.IsNotExist(err) {
		t.Errorf("abusegw.db-wal still exists after shutdown (err %v): database not closed cleanly", err)
	}
	if !strings.Contains(errOut.String(), `"msg":"stopped"`) {
		t.Errorf("no structured stop log: %s", errOut.String())
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("database:\n  url: sqlite://"+filepath.Join(dir, "x.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("http:\n  listen: nowhere\n  lisen: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		environ []string
		args    []string
		code    int
		want    []string
	}{
		{"good config, database not migrated yet", nil, []string{"check", "--config", good}, 1, []string{"ok   config", "schema at version 0", "abusegw migrate"}},
		{"postgres down names host and port", []string{"ABUSEGW_DATABASE_URL=postgres://nobody@127.0.0.1:1/x?sslmode=disable"}, []string{"check", "--config", good}, 1, []string{"FAIL database", "127.0.0.1:1"}},
		{"bad config: every problem on its own line", nil, []string{"check", "--config", bad}, 1, []string{"FAIL config:", "unknown key http.lisen", "line 3"}},
		{"config from ABUSEGW_CONFIG", []string{"ABUSEGW_CONFIG=" + bad}, []string{"check"}, 1, []string{"unknown key http.lisen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCmd(t, tt.environ, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestMigrateThenCheck(t *testing.T) {
	t.Parallel()
	environ := []string{"ABUSEGW_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "m.db")}
	code, out, errOut := runCmd(t, environ, "migrate")
	if code != 0 || !strings.Contains(out, "applied 00001_initial.sql") {
		t.Fatalf("first migrate: exit %d, out %q, err %q", code, out, errOut)
	}
	code, out, errOut = runCmd(t, environ, "migrate")
	if code != 0 || strings.Contains(out, "applied") || !strings.Contains(out, "schema at version") {
		t.Fatalf("second migrate: exit %d, out %q, err %q; want nothing applied", code, out, errOut)
	}
	if code, out, _ := runCmd(t, environ, "check"); code != 0 || !strings.Contains(out, "ok   database") {
		t.Fatalf("check after migrate: exit %d, out %q", code, out)
	}
}

// TestEverySubcommandExists checks the subcommands the issues name, so a
// script that calls one never meets "unknown command".
func TestEverySubcommandExists(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"serve", "parse", "ingest", "dispatch", "cases", "outbox", "sync", "report", "migrate", "check", "version", "schema", "reports", "reprocess"} {
		code, out, errOut := runCmd(t, nil, name, "--help")
		if code != 0 || !strings.Contains(out, "--config") {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q; want the command's help with --config", name, code, out, errOut)
		}
	}
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	if code, out, _ := runCmd(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "abusegw ") {
		t.Errorf("version: exit %d, out %q", code, out)
	}
	if code, _, errOut := runCmd(t, nil, "serve", "--no-such-flag"); code != 2 || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("bad flag: exit %d, stderr %q; want 2", code, errOut)
	}
}
