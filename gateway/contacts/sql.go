package contacts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq" // registers "postgres"
)

// testIP is the documentation address (RFC 5737) Check asks about.
var testIP = netip.AddrFrom4([4]byte{192, 0, 2, 1})

// SQLSource runs the operator's query against its own CRM database,
// PostgreSQL or MySQL/MariaDB.
//
// Parameters: on PostgreSQL $1 is the IP as text (NULL when the query has
// none), $2 the ASN as a number and $3 the FQDN as text, as far as the
// query uses them. On MySQL/MariaDB every ? is the IP as text. On both,
// {ip}, {asn} and {fqdn} may be written instead and become the driver's
// placeholders:
//
//	SELECT network, customer, name, email FROM crm_networks
//	WHERE $1::inet <<= network ORDER BY masklen(network) DESC LIMIT 1
//
//	SELECT network, customer, name, email FROM crm_networks
//	WHERE {fqdn} LIKE concat('%', domain) OR asn = {asn} LIMIT 1
//
// The query returns columns named like a file's (network, customer, name,
// email, connector, queue, language, tags; asn and domain too); any may be
// missing but customer, and others are an error. The first row answers;
// following rows of the same customer and network add their e-mails. No
// row, or a NULL customer, means "not ours". email and tags may be lists
// separated by ";" or "," or PostgreSQL arrays.
type SQLSource struct {
	name    string
	driver  string
	db      *sql.DB
	query   string
	args    []column // what each driver parameter is: colNetwork (the IP), colASN or colDomain (the FQDN)
	timeout time.Duration
}

var _ source = (*SQLSource)(nil)

// sqlDriver picks the database/sql driver and its DSN from the configured
// driver and URL. Its errors never quote the URL.
func sqlDriver(driver, u string) (name, dsn string, err error) {
	if driver == "" {
		switch {
		case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
			driver = "postgres"
		case strings.HasPrefix(u, "mysql://"):
			driver = "mysql"
		default:
			return "", "", errors.New("cannot tell the database from the URL: start it with postgres:// or mysql://, or set driver")
		}
	}
	switch driver {
	case "postgres":
		return "postgres", u, nil
	case "mysql":
		dsn = strings.TrimPrefix(u, "mysql://")
		if _, err := mysql.ParseDSN(dsn); err != nil {
			return "", "", errors.New("not a MySQL DSN (want [mysql://]USER[:PASSWORD]@tcp(HOST:PORT)/DB)")
		}
		return "mysql", dsn, nil
	}
	return "", "", fmt.Errorf("driver %q is neither postgres nor mysql", driver)
}

// newSQLSource opens the pool (without connecting); c must be valid.
func newSQLSource(name string, c *SourceConfig) (*SQLSource, error) {
	u, err := c.urlRef().Resolve()
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: url: %w", name, err)
	}
	driver, dsn, err := sqlDriver(c.Driver, u)
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: url: %w", name, err)
	}
	query, args, err := bindQuery(driver, c.Query)
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: query: %w", name, err)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: opening the database: %w", name, err)
	}
	conns := c.MaxOpenConns
	if conns <= 0 {
		conns = DefaultMaxOpenConns
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &SQLSource{name: name, driver: driver, db: db, query: query, args: args, timeout: timeout}, nil
}

// bindQuery rewrites {ip}, {asn} and {fqdn} into the driver's placeholders
// and says what each parameter is.
func bindQuery(driver, q string) (string, []column, error) {
	var b strings.Builder
	var args []column
	named := map[column]int{} // PostgreSQL: each name gets one $N
	maxDollar := 0
	questions := 0
	usedNamed := false
	err := scanSQL(q, func(code string) {
		for len(code) > 0 {
			i := strings.IndexAny(code, "{$?")
			if i < 0 {
				b.WriteString(code)
				return
			}
			b.WriteString(code[:i])
			code = code[i:]
			switch code[0] {
			case '{':
				var c column
				var tok string
				switch {
				case strings.HasPrefix(code, "{ip}"):
					c, tok = colNetwork, "{ip}"
				case strings.HasPrefix(code, "{asn}"):
					c, tok = colASN, "{asn}"
				case strings.HasPrefix(code, "{fqdn}"):
					c, tok = colDomain, "{fqdn}"
				default:
					b.WriteByte('{')
					code = code[1:]
					continue
				}
				usedNamed = true
				code = code[len(tok):]
				if driver == "mysql" {
					b.WriteByte('?')
					args = append(args, c)
					continue
				}
				n, ok := named[c]
				if !ok {
					args = append(args, c)
					n = len(args)
					named[c] = n
				}
				b.WriteString("$" + strconv.Itoa(n))
			case '$':
				j := 1
				for j < len(code) && code[j] >= '0' && code[j] <= '9' {
					j++
				}
				if n, err := strconv.Atoi(code[1:j]); err == nil && n > maxDollar {
					maxDollar = n
				}
				b.WriteString(code[:j])
				code = code[j:]
			case '?':
				questions++
				b.WriteByte('?')
				code = code[1:]
			}
		}
	}, func(quoted string) { b.WriteString(quoted) })
	if err != nil {
		return "", nil, err
	}
	switch {
	case usedNamed && (driver == "postgres" && maxDollar > 0 || driver == "mysql" && questions > 0):
		return "", nil, errors.New("use either {ip}/{asn}/{fqdn} or the driver's placeholders, not both")
	case usedNamed:
		return b.String(), args, nil
	case driver == "mysql":
		if questions == 0 {
			return "", nil, errors.New("the query takes no parameter: use ? (the IP) or {ip}, {asn}, {fqdn}")
		}
		args = make([]column, questions)
		for i := range args {
			args[i] = colNetwork
		}
		return b.String(), args, nil
	}
	if maxDollar == 0 {
		return "", nil, errors.New("the query takes no parameter: use $1 (the IP), $2 (the ASN), $3 (the FQDN) or {ip}, {asn}, {fqdn}")
	}
	if maxDollar > 3 {
		return "", nil, fmt.Errorf("$%d: only $1 (the IP), $2 (the ASN) and $3 (the FQDN) exist", maxDollar)
	}
	return b.String(), []column{colNetwork, colASN, colDomain}[:maxDollar], nil
}

// scanSQL splits a query into code and quoted parts (string literals,
// quoted identifiers, comments), so that placeholders are looked for in
// code only.
func scanSQL(q string, code, quoted func(string)) error {
	for len(q) > 0 {
		i := strings.IndexAny(q, `'"`+"`-/")
		if i < 0 {
			code(q)
			return nil
		}
		var end int
		switch {
		case q[i] == '-' && strings.HasPrefix(q[i:], "--"):
			end = strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			end += i
		case q[i] == '/' && strings.HasPrefix(q[i:], "/*"):
			e := strings.Index(q[i+2:], "*/")
			if e < 0 {
				return errors.New("unterminated /* comment")
			}
			end = i + 2 + e + 2
		case q[i] == '\'' || q[i] == '"' || q[i] == '`':
			e := strings.IndexByte(q[i+1:], q[i])
			if e < 0 {
				return fmt.Errorf("unterminated %c quote", q[i])
			}
			end = i + 1 + e + 1
		default:
			code(q[:i+1])
			q = q[i+1:]
			continue
		}
		code(q[:i])
		quoted(q[i:end])
		q = q[end:]
	}
	return nil
}

// Name returns the source's name.
func (s *SQLSource) Name() string { return s.name }

// Remote is true: answers are cached.
func (s *SQLSource) Remote() bool { return true }

// Close closes the connection pool.
func (s *SQLSource) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("contacts source %s: closing the database: %w", s.name, err)
	}
	return nil
}

// params returns the query's arguments for q, and whether any is set.
func (s *SQLSource) params(q Query) ([]any, bool) {
	out := make([]any, len(s.args))
	set := false
	for i, c := range s.args {
		switch c {
		case colNetwork:
			if q.IP.IsValid() {
				out[i], set = q.IP.String(), true
			}
		case colASN:
			if q.ASN > 0 {
				out[i], set = q.ASN, true
			}
		case colDomain:
			if q.FQDN != "" {
				out[i], set = q.FQDN, true
			}
		}
	}
	return out, set
}

// Lookup runs the query. A query with none of the values the SQL uses is
// not run and not found.
func (s *SQLSource) Lookup(ctx context.Context, q Query) (Customer, bool, error) {
	args, ok := s.params(q)
	if !ok {
		return Customer{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.run(ctx, args)
}

func (s *SQLSource) run(ctx context.Context, args []any) (Customer, bool, error) {
	rows, err := s.db.QueryContext(ctx, s.query, args...)
	if err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: running the query: %w", s.name, err)
	}
	defer rows.Close()
	cols, err := s.columns(rows)
	if err != nil {
		return Customer{}, false, err
	}
	var (
		first Customer
		found bool
		vals  = make([]sql.NullString, len(cols))
		ptrs  = make([]any, len(cols))
	)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for n := 0; n < 100 && rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return Customer{}, false, fmt.Errorf("contacts source %s: reading a row: %w", s.name, err)
		}
		var row [numColumns]string
		for i, c := range cols {
			v := vals[i].String
			if c == colEmail || c == colTags {
				v = pgArray(v)
			}
			row[c] = v
		}
		c, ok, err := rowCustomer(s.name, &row)
		if err != nil {
			return Customer{}, false, fmt.Errorf("contacts source %s: a row's %w", s.name, err)
		}
		if !found {
			if !ok {
				return Customer{}, false, nil
			}
			first, found = c, true
			continue
		}
		if !ok || c.Key != first.Key || c.Network != first.Network {
			break
		}
		for _, e := range c.Emails {
			first.Emails = appendUnique(first.Emails, e)
		}
	}
	if err := rows.Err(); err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: reading rows: %w", s.name, err)
	}
	return first, found, nil
}

// columns maps the query's result columns.
func (s *SQLSource) columns(rows *sql.Rows) ([]column, error) {
	names, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: reading the columns: %w", s.name, err)
	}
	cols := make([]column, len(names))
	hasCustomer := false
	for i, n := range names {
		c, ok := columnByName(n)
		if !ok {
			return nil, fmt.Errorf("contacts source %s: the query returns column %q (known: %s)", s.name, n, strings.Join(columnNames[:], ", "))
		}
		cols[i] = c
		hasCustomer = hasCustomer || c == colCustomer
	}
	if !hasCustomer {
		return nil, fmt.Errorf("contacts source %s: the query returns no customer column", s.name)
	}
	return cols, nil
}

// pgArray turns a PostgreSQL array literal ({a,"b c"}) into a list
// separated by ";"; other values are returned as they are.
func pgArray(v string) string {
	if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
		return v
	}
	parts := strings.Split(v[1:len(v)-1], ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = strings.ReplaceAll(p[1:len(p)-1], `\"`, `"`)
		}
		if p == "NULL" {
			p = ""
		}
		parts[i] = p
	}
	return strings.Join(parts, ";")
}

// Check connects, prepares the query and runs it once for a documentation
// address (192.0.2.1, AS64496, example.com) to see its columns.
func (s *SQLSource) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("contacts source %s: connecting to the database: %w", s.name, err)
	}
	stmt, err := s.db.PrepareContext(ctx, s.query)
	if err != nil {
		return fmt.Errorf("contacts source %s: preparing the query: %w", s.name, err)
	}
	if err := stmt.Close(); err != nil {
		return fmt.Errorf("contacts source %s: closing the prepared query: %w", s.name, err)
	}
	args, _ := s.params(Query{IP: testIP, ASN: 64496, FQDN: "example.com"})
	_, _, err = s.run(ctx, args)
	return err
}
