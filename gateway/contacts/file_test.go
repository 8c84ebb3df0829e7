package contacts

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abusegw/abusegw/gateway/internal/testclock"
)

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const sampleCSV = `network,customer,name,email,connector,queue,language,tags
10.0.0.0/8,big,Big Net,abuse@big.example,rt,abuse,en,transit
10.1.0.0/16,mid,Mid Net,abuse@mid.example;noc@mid.example,,,de,"dsl, business"
10.1.2.3,host,One Host,"host@one.example, other@one.example",,,,
10.1.2.3/32,host,One Host,third@one.example,,,,
2001:db8::/32,v6big,V6 Big,abuse@v6.example,,,,
2001:db8:1::/48,v6mid,V6 Mid,abuse@v6mid.example,,,,
2001:db8:1::1,v6host,V6 Host,abuse@v6host.example,,,,
`

const sampleYAML = `
- network: 10.0.0.0/8
  customer: big
  name: Big Net
  email: abuse@big.example
- network: 10.1.0.0/16
  customer: mid
  name: Mid Net
  email: [abuse@mid.example, noc@mid.example]
  tags: [dsl, business]
- asn: AS64496
  customer: transit
  name: Transit AG
  email: abuse@transit.example
- domain: example.com
  customer: web
  name: Web Hoster
  email: abuse@web.example
- domain: shop.example.com
  customer: shop
  name: Shop
  email: abuse@shop.example
- network: 2001:db8::/32
  customer: v6big
  name: V6 Big
  email: abuse@v6.example
`

func newTestFileSource(t *testing.T, path string) *FileSource {
	t.Helper()
	format := "csv"
	if strings.HasSuffix(path, ".yaml") {
		format = "yaml"
	}
	s, err := NewFileSource(t.Context(), "file", path, format, 0, nil)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestFileLookup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csvSrc := newTestFileSource(t, writeFile(t, dir, "c.csv", sampleCSV))
	yamlSrc := newTestFileSource(t, writeFile(t, dir, "c.yaml", sampleYAML))
	domCSV := newTestFileSource(t, writeFile(t, dir, "d.csv", "domain,asn,customer,name,email\n"+
		"example.com,,web,Web,abuse@web.example\n"+
		"*.shop.example.com,,shop,Shop,abuse@shop.example\n"+
		",AS64496,transit,Transit,abuse@transit.example\n"+
		",64497,other,Other,abuse@other.example\n"))

	ip := netip.MustParseAddr
	tests := []struct {
		name    string
		src     *FileSource
		q       Query
		want    string // customer key; "" = not found
		network string
	}{
		{"v4 /32 beats /16 and /8", csvSrc, Query{IP: ip("10.1.2.3")}, "host", "10.1.2.3/32"},
		{"v4 /16 beats /8", csvSrc, Query{IP: ip("10.1.9.9")}, "mid", "10.1.0.0/16"},
		{"v4 /8", csvSrc, Query{IP: ip("10.200.0.1")}, "big", "10.0.0.0/8"},
		{"v4 outside", csvSrc, Query{IP: ip("192.0.2.1")}, "", ""},
		{"v4-mapped v6 query", csvSrc, Query{IP: ip("::ffff:10.1.2.3")}.normalize(), "host", "10.1.2.3/32"},
		{"v6 /128", csvSrc, Query{IP: ip("2001:db8:1::1")}, "v6host", "2001:db8:1::1/128"},
		{"v6 /48", csvSrc, Query{IP: ip("2001:db8:1::2")}, "v6mid", "2001:db8:1::/48"},
		{"v6 /32", csvSrc, Query{IP: ip("2001:db8:2::1")}, "v6big", "2001:db8::/32"},
		{"v6 outside", csvSrc, Query{IP: ip("2001:db9::1")}, "", ""},
		{"yaml /16", yamlSrc, Query{IP: ip("10.1.0.1")}, "mid", "10.1.0.0/16"},
		{"yaml asn", yamlSrc, Query{ASN: 64496}, "transit", "AS64496"},
		{"yaml unknown asn", yamlSrc, Query{ASN: 64511}, "", ""},
		{"yaml domain exact", yamlSrc, Query{FQDN: "example.com"}, "web", "example.com"},
		{"yaml domain suffix", yamlSrc, Query{FQDN: "www.example.com"}, "web", "example.com"},
		{"yaml longer domain wins", yamlSrc, Query{FQDN: "a.b.shop.example.com"}, "shop", "shop.example.com"},
		{"yaml domain not a suffix of a label", yamlSrc, Query{FQDN: "badexample.com"}, "", ""},
		{"yaml domain case and dot", yamlSrc, Query{FQDN: "WWW.Example.COM."}.normalize(), "web", "example.com"},
		{"ip before fqdn and asn", yamlSrc, Query{IP: ip("10.9.9.9"), ASN: 64496, FQDN: "example.com"}, "big", "10.0.0.0/8"},
		{"fqdn before asn", yamlSrc, Query{IP: ip("192.0.2.1"), ASN: 64496, FQDN: "example.com"}, "web", "example.com"},
		{"asn when ip unowned", yamlSrc, Query{IP: ip("192.0.2.1"), ASN: 64496}, "transit", "AS64496"},
		{"csv domain wildcard", domCSV, Query{FQDN: "x.shop.example.com"}, "shop", "shop.example.com"},
		{"csv asn with AS", domCSV, Query{ASN: 64496}, "transit", "AS64496"},
		{"csv asn plain", domCSV, Query{ASN: 64497}, "other", "AS64497"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok, err := tt.src.Lookup(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.want != "") || c.Key != tt.want || c.Network != tt.network {
				t.Fatalf("Lookup(%+v) = %q %q %v, want %q %q", tt.q, c.Key, c.Network, ok, tt.want, tt.network)
			}
			if ok && c.Source != "file" {
				t.Errorf("Source = %q, want file", c.Source)
			}
		})
	}
}

func TestFileCustomerFields(t *testing.T) {
	t.Parallel()
	s := newTestFileSource(t, writeFile(t, t.TempDir(), "c.csv", sampleCSV))
	get := func(ip string) Customer {
		c, ok, _ := s.Lookup(t.Context(), Query{IP: netip.MustParseAddr(ip)})
		if !ok {
			t.Fatalf("%s: not found", ip)
		}
		return c
	}
	tests := []struct {
		ip   string
		want Customer
	}{
		{"10.0.0.1", Customer{Key: "big", Name: "Big Net", Emails: []string{"abuse@big.example"}, Connector: "rt", Queue: "abuse", Language: "en", Tags: []string{"transit"}, Source: "file", Network: "10.0.0.0/8"}},
		// ";" in a cell, "," in tags.
		{"10.1.0.1", Customer{Key: "mid", Name: "Mid Net", Emails: []string{"abuse@mid.example", "noc@mid.example"}, Language: "de", Tags: []string{"dsl", "business"}, Source: "file", Network: "10.1.0.0/16"}},
		// "," in a cell, and a repeated row (10.1.2.3 and 10.1.2.3/32 are one network).
		{"10.1.2.3", Customer{Key: "host", Name: "One Host", Emails: []string{"host@one.example", "other@one.example", "third@one.example"}, Source: "file", Network: "10.1.2.3/32"}},
	}
	for _, tt := range tests {
		if got := get(tt.ip); !equalCustomer(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.ip, got, tt.want)
		}
	}
	if n := s.Len(); n != 6 {
		t.Errorf("Len = %d, want 6 (repeated rows merged)", n)
	}
}

func equalCustomer(a, b Customer) bool {
	return a.Key == b.Key && a.Name == b.Name && slices.Equal(a.Emails, b.Emails) && a.Connector == b.Connector &&
		a.Queue == b.Queue && a.Language == b.Language && slices.Equal(a.Tags, b.Tags) && a.Source == b.Source && a.Network == b.Network
}

func TestFileBadRows(t *testing.T) {
	t.Parallel()
	const h = "network,customer,name,email\n"
	tests := []struct {
		name, file, content string
		want                []string // substrings of the error
	}{
		{"empty", "e.csv", "", []string{"e.csv:1: empty file"}},
		{"unknown column", "u.csv", "network,customer,name,mail\n", []string{`u.csv:1:23: unknown column "mail"`}},
		{"duplicate column", "d.csv", "network,customer,name,email,name\n", []string{`d.csv:1:29: column "name" appears twice`}},
		{"missing columns", "m.csv", "network,customer\n", []string{"m.csv:1: the header lacks the column(s) name, email"}},
		{"no key column", "k.csv", "customer,name,email\n", []string{"network (or asn, domain)"}},
		{"bad network", "n.csv", h + "10.0.0.0/8,a,A,a@x.example\n10.0.0.300/24,b,B,b@x.example\n", []string{`n.csv:3:1: network: "10.0.0.300/24" is not a network`}},
		{"bad email column", "b.csv", h + "10.0.0.0/8,a,A,a@x.example;nope\n", []string{`b.csv:2:16: email: "nope" is not an e-mail address`}},
		{"missing customer", "c.csv", h + "10.0.0.0/8,,A,a@x.example\n", []string{"c.csv:2:12: customer: missing"}},
		{"no key in row", "r.csv", h + ",a,A,a@x.example\n", []string{"r.csv:2: no network, asn or domain given"}},
		{"field count", "f.csv", h + "10.0.0.0/8,a,A\n", []string{"f.csv:2:1: wrong number of fields"}},
		{"quote", "q.csv", h + "10.0.0.0/8,\"a,A,a@x.example\n", []string{"q.csv:", "extraneous or missing \" in quoted-field"}},
		{"conflict", "x.csv", h + "10.0.0.0/8,a,A,a@x.example\n10.0.0.0/8,b,B,b@x.example\n", []string{`x.csv:3:1: network: 10.0.0.0/8 is already given to customer "a" on line 2`}},
		{"bad asn", "a.csv", "asn,customer,name,email\nASX,a,A,a@x.example\n", []string{`a.csv:2:1: asn: "ASX" is not an AS number`}},
		{"bad domain", "dm.csv", "domain,customer,name,email\nexa mple.com,a,A,a@x.example\n", []string{`dm.csv:2:1: domain: "exa mple.com" is not a domain name`}},
		{"two keys", "t.csv", "network,asn,customer,name,email\n10.0.0.0/8,1,a,A,a@x.example\n", []string{"t.csv:2:12: asn: give one of network, asn, domain per row"}},
		{"several bad rows", "s.csv", h + "x,a,A,a@x.example\ny,a,A,a@x.example\n", []string{"s.csv:2:1", "s.csv:3:1"}},
		{"yaml not a list", "l.yaml", "network: 10.0.0.0/8\n", []string{"l.yaml:1:1: want a list of entries"}},
		{"yaml unknown key", "k.yaml", "- network: 10.0.0.0/8\n  customer: a\n  mail: a@x.example\n", []string{`k.yaml:3:3: unknown key "mail"`}},
		{"yaml bad network", "n.yaml", "- network: 10.0.0.0/33\n  customer: a\n", []string{`n.yaml:1:12: network: "10.0.0.0/33" is not a network`}},
		{"yaml bad email", "e.yaml", "- network: 10.0.0.0/8\n  customer: a\n  email: [a@x.example, b]\n", []string{`e.yaml:3:10: email: "b" is not an e-mail address`}},
		{"yaml mapping value", "v.yaml", "- network: {a: b}\n  customer: a\n", []string{"v.yaml:1:12: network: want a string, found a mapping"}},
		{"yaml syntax", "s.yaml", "- network: [\n", []string{"s.yaml: yaml:"}},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, tt.file, tt.content)
			format := "csv"
			if strings.HasSuffix(tt.file, ".yaml") {
				format = "yaml"
			}
			_, err := NewFileSource(t.Context(), "file", p, format, 0, nil)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\nlacks %q", msg, w)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %v is no *ParseError", err)
			}
		})
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock = testclock.Clock

func newFakeClock() *fakeClock { return testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestFileReload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		const h = "network,customer,name,email\n"
		path := writeFile(t, dir, "c.csv", h+"10.0.0.0/8,old,Old,old@x.example\n")
		var logs syncBuffer
		s, err := NewFileSource(t.Context(), "file", path, "csv", 10*time.Second, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		lookup := func() string {
			t.Helper()
			c, _, err := s.Lookup(t.Context(), Query{IP: netip.MustParseAddr("10.1.1.1")})
			if err != nil {
				t.Fatal(err)
			}
			return c.Key
		}
		// wait lets the fake clock run for d and the watcher finish.
		wait := func(d time.Duration) {
			time.Sleep(d)
			synctest.Wait()
		}
		// rewrite replaces the file and moves its mtime, as an editor would.
		mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		rewrite := func(content string) {
			t.Helper()
			tmp := writeFile(t, dir, "c.csv.tmp", content)
			mtime = mtime.Add(time.Second)
			if err := os.Chtimes(tmp, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}

		if got := lookup(); got != "old" {
			t.Fatalf("before: %q", got)
		}
		wait(time.Second) // off the tick
		rewrite(h + "10.0.0.0/8,new,New,new@x.example\n")
		wait(5 * time.Second)
		if got := lookup(); got != "old" {
			t.Fatalf("reloaded before the interval: %q", got)
		}
		wait(5 * time.Second)
		if got := lookup(); got != "new" {
			t.Fatalf("after the interval: %q, want new", got)
		}

		// A broken file keeps the table and is logged.
		rewrite(h + "10.0.0.0/8,broken,Broken,not-an-address\n")
		wait(10 * time.Second)
		if got := lookup(); got != "new" {
			t.Fatalf("after a broken file: %q, want new (kept)", got)
		}
		if l := logs.String(); !strings.Contains(l, "keeping the loaded table") || !strings.Contains(l, "c.csv:2:26: email") {
			t.Errorf("log lacks the reload error:\n%s", l)
		}

		// The same broken file is not parsed again; a fixed one is.
		if ok, err := s.Reload(t.Context()); ok || err != nil {
			t.Errorf("Reload of the unchanged broken file = %v, %v; want false, nil", ok, err)
		}
		rewrite(h + "10.0.0.0/8,fixed,Fixed,fixed@x.example\n")
		wait(10 * time.Second)
		if got := lookup(); got != "fixed" {
			t.Fatalf("after the fix: %q", got)
		}

		// A removed file keeps the table.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		wait(10 * time.Second)
		if got := lookup(); got != "fixed" {
			t.Fatalf("after removal: %q", got)
		}
		if !strings.Contains(logs.String(), "unreadable") {
			t.Errorf("log lacks the unreadable file:\n%s", logs.String())
		}
	})
}

// TestFileReloadConcurrent runs lookups while the file is swapped, for the
// race detector.
func TestFileReloadConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const h = "network,customer,name,email\n"
	path := writeFile(t, dir, "c.csv", h+"10.0.0.0/8,a,A,a@x.example\n")
	s, err := NewFileSource(t.Context(), "file", path, "csv", time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if c, ok, _ := s.Lookup(ctx, Query{IP: netip.MustParseAddr("10.0.0.1")}); !ok || (c.Key != "a" && c.Key != "b") {
					t.Errorf("lookup during reload: %+v %v", c, ok)
					return
				}
			}
		})
	}
	for i := range 20 {
		key := "a"
		if i%2 == 0 {
			key = "b"
		}
		writeFile(t, dir, "c.csv", h+"10.0.0.0/8,"+key+",A,a@x.example\n"+strings.Repeat("#\n", i))
		if i%3 == 0 {
			_, _ = s.Reload(ctx)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
