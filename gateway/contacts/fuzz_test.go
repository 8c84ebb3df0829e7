package contacts

import (
	"bytes"
	"net/mail"
	"testing"
)

// FuzzLoadCSV feeds arbitrary bytes to the CSV parser: it must never panic,
// and a file it accepts must answer for every prefix it holds with a
// customer that has an id and valid e-mail addresses.
func FuzzLoadCSV(f *testing.F) {
	f.Add([]byte(sampleCSV))
	f.Add([]byte("asn,domain,customer,name,email\nAS1,,a,A,a@x.example\n,example.com,b,B,\"b@x.example,c@x.example\"\n"))
	f.Add([]byte("\xef\xbb\xbfnetwork,customer,name,email\n# comment\n::ffff:10.0.0.0/104,a,A,a@x.example\n"))
	f.Add([]byte("network,customer,name,email\n10.0.0.0/8,\"a\nb\",A,a@x.example\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := parseCSV(t.Context(), bytes.NewReader(data), "fuzz.csv", "file")
		if err != nil {
			return
		}
		for _, c := range tb.customers {
			if c.Key == "" {
				t.Fatalf("customer without id: %+v", c)
			}
			for _, e := range c.Emails {
				if _, err := mail.ParseAddress(e); err != nil {
					t.Fatalf("bad e-mail %q kept", e)
				}
			}
		}
		for pfx := range tb.nets.All() {
			c, ok := tb.lookup(Query{IP: pfx.Addr()})
			if !ok {
				t.Fatalf("%s holds no answer for its own address", pfx)
			}
			if c.Network == "" {
				t.Fatalf("%s answered without a network", pfx)
			}
		}
		for d := range tb.domains {
			if _, ok := tb.lookup(Query{FQDN: "x." + d}); !ok {
				t.Fatalf("domain %q does not match its subdomain", d)
			}
		}
	})
}
