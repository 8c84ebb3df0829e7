package imap_test

import (
	"strings"
	"testing"
	"time"

	"github.com/abusegw/abusegw/gateway/channels/imap"
)

func TestConfigValidate(t *testing.T) {
	ok := imap.Config{Name: "a", Address: "imap.example.net:993", User: "abuse", PasswordEnv: "IMAP_PASSWORD"}
	for _, tc := range []struct {
		name string
		mod  func(*imap.Config)
		want string // "" valid
	}{
		{"minimal", func(*imap.Config) {}, ""},
		{"no name", func(c *imap.Config) { c.Name = "" }, "name: missing"},
		{"bad address", func(c *imap.Config) { c.Address = "imap.example.net" }, "address"},
		{"bad tls", func(c *imap.Config) { c.TLS = "ssl" }, "tls"},
		{"no password", func(c *imap.Config) { c.PasswordEnv = "" }, "password_env or password_file"},
		{"two passwords", func(c *imap.Config) { c.PasswordFile = "/x" }, "not both"},
		{"bad after", func(c *imap.Config) { c.After = "delete" }, "after"},
		{"mailbox twice", func(c *imap.Config) { c.Mailboxes = []string{"INBOX", "INBOX"} }, "twice"},
		{"negative interval", func(c *imap.Config) { c.Interval = -time.Second }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	d := ok.WithDefaults()
	if d.TLS != imap.TLSImplicit || d.After != imap.AfterFlag || d.Interval != time.Minute ||
		d.ProcessedFolder != "Processed" || len(d.Mailboxes) != 1 || d.Mailboxes[0] != "INBOX" {
		t.Errorf("defaults: %+v", d)
	}
	r := imap.Config{CAFile: "ca.pem", PasswordFile: "/abs/pw"}.Resolve("/etc/abusegw")
	if r.CAFile != "/etc/abusegw/ca.pem" || r.PasswordFile != "/abs/pw" {
		t.Errorf("Resolve: %+v", r)
	}
}
