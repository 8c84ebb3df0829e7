package contacts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/gateway/store/storetest"
)

// MySQLEnv names the MySQL/MariaDB server for tests, as a go-sql-driver DSN
// (root@tcp(127.0.0.1:3306)/test).
const MySQLEnv = "ABUSEGW_TEST_MYSQL_URL"

func mysqlURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(MySQLEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, and CI must run the MySQL tests", MySQLEnv)
		}
		t.Skipf("MySQL tests skipped: %s is not set (e.g. root@tcp(127.0.0.1:3306)/test)", MySQLEnv)
	}
	return u
}

func randomName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// postgresCRM makes a throwaway schema with a CRM table and returns a URL
// whose search_path is that schema.
func postgresCRM(t *testing.T) string {
	t.Helper()
	base := storetest.PostgresURL(t)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	schema := randomName(t, "contacts_")
	mustExec(t, admin, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	mustExec(t, admin,
		`CREATE TABLE `+schema+`.crm_networks (network cidr NOT NULL, customer text, name text, email text[], tags text[], queue text)`,
		`INSERT INTO `+schema+`.crm_networks VALUES
			('10.0.0.0/8', 'big', 'Big Net', '{abuse@big.example}', '{transit}', 'abuse'),
			('10.1.0.0/16', 'mid', 'Mid Net', '{abuse@mid.example,noc@mid.example}', NULL, NULL),
			('10.1.2.3/32', 'host', 'One Host', '{host@one.example}', '{"a b",c}', NULL),
			('10.9.0.0/16', NULL, NULL, NULL, NULL, NULL),
			('2001:db8::/32', 'v6big', 'V6 Big', '{abuse@v6.example}', NULL, NULL),
			('2001:db8:1::/48', 'v6mid', 'V6 Mid', '{abuse@v6mid.example}', NULL, NULL)`,
		`CREATE TABLE `+schema+`.crm_other (asn bigint, domain text, customer text, name text, email text)`,
		`INSERT INTO `+schema+`.crm_other VALUES (64496, NULL, 'transit', 'Transit', 'abuse@transit.example'),
			(NULL, 'example.com', 'web', 'Web', 'abuse@web.example; noc@web.example')`,
	)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	qs := u.Query()
	qs.Set("search_path", schema)
	u.RawQuery = qs.Encode()
	return u.String()
}

func TestSQLPostgres(t *testing.T) {
	t.Parallel()
	crm := postgresCRM(t)
	const byIP = `SELECT network, customer, name, email, tags, queue FROM crm_networks
		WHERE $1::inet <<= network ORDER BY masklen(network) DESC LIMIT 1`
	const byOther = `SELECT coalesce('AS' || asn::text, domain) AS network, customer, name, email FROM crm_other
		WHERE asn = {asn} OR {fqdn} = domain OR {fqdn} LIKE '%.' || domain LIMIT 1`
	ip := netip.MustParseAddr
	tests := []struct {
		name  string
		query string
		q     Query
		want  Customer
	}{
		{"/32 beats /16 and /8", byIP, Query{IP: ip("10.1.2.3")},
			Customer{Key: "host", Name: "One Host", Emails: []string{"host@one.example"}, Tags: []string{"a b", "c"}, Source: "crm", Network: "10.1.2.3/32"}},
		{"/16 beats /8", byIP, Query{IP: ip("10.1.7.7")},
			Customer{Key: "mid", Name: "Mid Net", Emails: []string{"abuse@mid.example", "noc@mid.example"}, Source: "crm", Network: "10.1.0.0/16"}},
		{"/8", byIP, Query{IP: ip("10.200.0.1")},
			Customer{Key: "big", Name: "Big Net", Emails: []string{"abuse@big.example"}, Tags: []string{"transit"}, Queue: "abuse", Source: "crm", Network: "10.0.0.0/8"}},
		{"NULL customer is not found", byIP, Query{IP: ip("10.9.1.1")}, Customer{}},
		{"no row", byIP, Query{IP: ip("192.0.2.1")}, Customer{}},
		{"v6 /48", byIP, Query{IP: ip("2001:db8:1::5")},
			Customer{Key: "v6mid", Name: "V6 Mid", Emails: []string{"abuse@v6mid.example"}, Source: "crm", Network: "2001:db8:1::/48"}},
		{"v6 /32", byIP, Query{IP: ip("2001:db8:ff::5")},
			Customer{Key: "v6big", Name: "V6 Big", Emails: []string{"abuse@v6.example"}, Source: "crm", Network: "2001:db8::/32"}},
		{"no IP: not asked", byIP, Query{ASN: 64496}, Customer{}},
		{"asn", byOther, Query{ASN: 64496},
			Customer{Key: "transit", Name: "Transit", Emails: []string{"abuse@transit.example"}, Source: "crm", Network: "AS64496"}},
		{"fqdn suffix", byOther, Query{FQDN: "www.example.com"},
			Customer{Key: "web", Name: "Web", Emails: []string{"abuse@web.example", "noc@web.example"}, Source: "crm", Network: "example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := SourceConfig{Type: TypeSQL, URL: crm, Query: tt.query}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := newSQLSource("crm", &cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, ok, err := s.Lookup(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.want.Key != "") || !equalCustomer(got, tt.want) {
				t.Fatalf("got %+v %v\nwant %+v", got, ok, tt.want)
			}
		})
	}
}

func TestSQLPostgresErrorsAndCheck(t *testing.T) {
	t.Parallel()
	crm := postgresCRM(t)
	good := SourceConfig{Type: TypeSQL, Name: "crm", URL: crm, Query: `SELECT network, customer, name, email FROM crm_networks WHERE $1::inet <<= network ORDER BY masklen(network) DESC LIMIT 1`}
	badColumn := SourceConfig{Type: TypeSQL, Name: "crm", URL: crm, Query: `SELECT network, customer, name AS fullname FROM crm_networks WHERE $1::inet <<= network`}
	badTable := SourceConfig{Type: TypeSQL, Name: "crm", URL: crm, Query: `SELECT customer FROM nowhere WHERE $1::inet <<= network`}
	for _, tt := range []struct {
		name string
		cfg  SourceConfig
		want string
	}{
		{"good", good, ""},
		{"unknown column", badColumn, `the query returns column "fullname"`},
		{"unknown table", badTable, "preparing the query"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(t.Context(), []SourceConfig{tt.cfg}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			errs := c.Check(t.Context())
			if tt.want == "" {
				if len(errs) > 0 {
					t.Fatalf("Check: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Fatalf("Check = %v, want %q", errs, tt.want)
			}
		})
	}

	// A failing SQL source falls through to the next one and is counted.
	dir := t.TempDir()
	file := writeFile(t, dir, "c.csv", "network,customer,name,email\n10.0.0.0/8,fallback,F,f@x.example\n")
	c, err := New(t.Context(), []SourceConfig{badTable, {Type: TypeFile, Path: file}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, ok, err := c.Lookup(t.Context(), Query{IP: netip.MustParseAddr("10.1.1.1")})
	if err != nil || !ok || got.Key != "fallback" {
		t.Fatalf("Lookup = %+v %v %v", got, ok, err)
	}
	if _, _, err := c.Lookup(t.Context(), Query{IP: netip.MustParseAddr("192.0.2.1")}); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("unowned with a failing source: %v, want ErrIncomplete", err)
	}

	// Unreachable server: Check says so without the password.
	down := SourceConfig{Type: TypeSQL, URL: "postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", Query: good.Query}
	c2, err := New(t.Context(), []SourceConfig{down}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	errs := c2.Check(t.Context())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "connecting to the database") || strings.Contains(errs[0].Error(), "hunter2") {
		t.Fatalf("Check of a down server = %v", errs)
	}
}

func TestSQLMySQL(t *testing.T) {
	t.Parallel()
	dsn := mysqlURL(t)
	db, err := sql.Open("mysql", strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	table := randomName(t, "contacts_")
	mustExec(t, db,
		`CREATE TABLE `+table+` (start_ip VARBINARY(16), end_ip VARBINARY(16), bits INT, network VARCHAR(64), customer VARCHAR(64), name VARCHAR(200), email TEXT, language VARCHAR(8))`,
		`INSERT INTO `+table+` VALUES
			(INET6_ATON('10.0.0.0'), INET6_ATON('10.255.255.255'), 8, '10.0.0.0/8', 'big', 'Big Net', 'abuse@big.example', 'en'),
			(INET6_ATON('10.1.0.0'), INET6_ATON('10.1.255.255'), 16, '10.1.0.0/16', 'mid', 'Mid Net', 'abuse@mid.example,noc@mid.example', 'de'),
			(INET6_ATON('10.1.2.3'), INET6_ATON('10.1.2.3'), 32, '10.1.2.3/32', 'host', 'One Host', 'host@one.example', NULL),
			(INET6_ATON('2001:db8::'), INET6_ATON('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'), 32, '2001:db8::/32', 'v6big', 'V6 Big', 'abuse@v6.example', NULL)`,
	)
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP TABLE "+table); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	query := `SELECT network, customer, name, email, language FROM ` + table + `
		WHERE INET6_ATON(?) BETWEEN start_ip AND end_ip AND LENGTH(start_ip) = LENGTH(INET6_ATON(?))
		ORDER BY bits DESC LIMIT 1`
	named := `SELECT network, customer, name, email FROM ` + table + `
		WHERE INET6_ATON({ip}) BETWEEN start_ip AND end_ip AND LENGTH(start_ip) = LENGTH(INET6_ATON({ip}))
		ORDER BY bits DESC LIMIT 1`
	ip := netip.MustParseAddr
	tests := []struct {
		name, query string
		q           Query
		want        Customer
	}{
		{"/32 beats /16 and /8", query, Query{IP: ip("10.1.2.3")}, Customer{Key: "host", Name: "One Host", Emails: []string{"host@one.example"}, Source: "crm", Network: "10.1.2.3/32"}},
		{"/16", query, Query{IP: ip("10.1.9.9")}, Customer{Key: "mid", Name: "Mid Net", Emails: []string{"abuse@mid.example", "noc@mid.example"}, Language: "de", Source: "crm", Network: "10.1.0.0/16"}},
		{"/8", query, Query{IP: ip("10.7.0.1")}, Customer{Key: "big", Name: "Big Net", Emails: []string{"abuse@big.example"}, Language: "en", Source: "crm", Network: "10.0.0.0/8"}},
		{"v6", named, Query{IP: ip("2001:db8::42")}, Customer{Key: "v6big", Name: "V6 Big", Emails: []string{"abuse@v6.example"}, Source: "crm", Network: "2001:db8::/32"}},
		{"no row", named, Query{IP: ip("192.0.2.1")}, Customer{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := SourceConfig{Type: TypeSQL, Name: "crm", Driver: "mysql", URL: dsn, Query: tt.query}
			c, err := New(t.Context(), []SourceConfig{cfg}, Options{CacheTTL: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if errs := c.Check(t.Context()); len(errs) > 0 {
				t.Fatalf("Check: %v", errs)
			}
			got, ok, err := c.Lookup(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.want.Key != "") || !equalCustomer(got, tt.want) {
				t.Fatalf("got %+v %v\nwant %+v", got, ok, tt.want)
			}
		})
	}
}

func TestBindQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		driver, in, out string
		args            []column
		err             string
	}{
		{"postgres", "SELECT customer FROM t WHERE $1::inet <<= network", "SELECT customer FROM t WHERE $1::inet <<= network", []column{colNetwork}, ""},
		{"postgres", "SELECT customer FROM t WHERE asn = $2", "SELECT customer FROM t WHERE asn = $2", []column{colNetwork, colASN}, ""},
		{"postgres", "SELECT customer FROM t WHERE d = {fqdn} OR a = {asn} OR e = {fqdn}", "SELECT customer FROM t WHERE d = $1 OR a = $2 OR e = $1", []column{colDomain, colASN}, ""},
		{"postgres", "SELECT '{ip}', customer FROM t -- {asn}\nWHERE n >>= {ip}", "SELECT '{ip}', customer FROM t -- {asn}\nWHERE n >>= $1", []column{colNetwork}, ""},
		{"postgres", "SELECT customer FROM t WHERE a = $4", "", nil, "$4: only"},
		{"postgres", "SELECT customer FROM t", "", nil, "takes no parameter"},
		{"postgres", "SELECT customer FROM t WHERE a = {ip} AND b = $2", "", nil, "not both"},
		{"postgres", "SELECT 'x FROM t WHERE $1", "", nil, "unterminated ' quote"},
		{"mysql", "SELECT customer FROM t WHERE a = ? AND b = ?", "SELECT customer FROM t WHERE a = ? AND b = ?", []column{colNetwork, colNetwork}, ""},
		{"mysql", "SELECT customer FROM t WHERE a = {asn} AND b = {fqdn} AND c = {asn} AND d = '?'", "SELECT customer FROM t WHERE a = ? AND b = ? AND c = ? AND d = '?'", []column{colASN, colDomain, colASN}, ""},
		{"mysql", "SELECT customer FROM t WHERE a = {ip} AND b = ?", "", nil, "not both"},
	}
	for _, tt := range tests {
		out, args, err := bindQuery(tt.driver, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("bindQuery(%s, %q) err = %v, want %q", tt.driver, tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || out != tt.out || !equalColumns(args, tt.args) {
			t.Errorf("bindQuery(%s, %q) = %q %v %v\nwant %q %v", tt.driver, tt.in, out, args, err, tt.out, tt.args)
		}
	}
}

func equalColumns(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPGArray(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"{a@x.example,b@x.example}": "a@x.example;b@x.example",
		`{"a b",c}`:                 "a b;c",
		"{}":                        "",
		"plain@x.example":           "plain@x.example",
		"{NULL}":                    "",
	} {
		if got := pgArray(in); got != want {
			t.Errorf("pgArray(%q) = %q, want %q", in, got, want)
		}
	}
}
