package contacts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/abusegw/abusegw/gateway/secret"
)

// HTTPSource asks a web service: GET on a URL template in which {ip},
// {asn} and {fqdn} are replaced by the query's values (URL-escaped; empty
// when the query has none). The answer is a JSON object with the keys of a
// file row (network, customer, name, email, connector, queue, language,
// tags; email and tags may be strings or lists; other keys are ignored).
// 404, 204, `null` and an object without a customer mean "not ours"; any
// other status, a network error or a timeout is an error.
type HTTPSource struct {
	name     string
	tmpl     secret.Redacted // may carry a key in its query: never logged
	timeout  time.Duration
	client   *http.Client
	headers  map[string]string
	token    secret.Redacted
	username string
	password secret.Redacted
	uses     placeholders
}

var _ source = (*HTTPSource)(nil)

type placeholders struct{ ip, asn, fqdn bool }

// maxAnswer bounds an HTTP answer's body.
const maxAnswer = 1 << 20

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// checkTemplate checks that a URL template uses known placeholders, at
// least one of them, and is an http(s) URL.
func checkTemplate(tmpl string) error {
	var uses placeholders
	for _, m := range placeholderRE.FindAllString(tmpl, -1) {
		switch m {
		case "{ip}":
			uses.ip = true
		case "{asn}":
			uses.asn = true
		case "{fqdn}":
			uses.fqdn = true
		default:
			return fmt.Errorf("unknown placeholder %s (known: {ip}, {asn}, {fqdn})", m)
		}
	}
	if uses == (placeholders{}) {
		return errors.New("the URL template uses none of {ip}, {asn}, {fqdn}")
	}
	u, err := url.Parse(expand(tmpl, Query{FQDN: "example.com", ASN: 64496}))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http:// or https:// URL")
	}
	return nil
}

func templateUses(tmpl string) placeholders {
	return placeholders{
		ip:   strings.Contains(tmpl, "{ip}"),
		asn:  strings.Contains(tmpl, "{asn}"),
		fqdn: strings.Contains(tmpl, "{fqdn}"),
	}
}

func expand(tmpl string, q Query) string {
	var ip, asn string
	if q.IP.IsValid() {
		ip = q.IP.String()
	}
	if q.ASN > 0 {
		asn = strconv.FormatInt(q.ASN, 10)
	}
	return strings.NewReplacer(
		"{ip}", url.QueryEscape(ip),
		"{asn}", asn,
		"{fqdn}", url.QueryEscape(q.FQDN),
	).Replace(tmpl)
}

// newHTTPSource resolves the configuration's secrets; c must be valid.
func newHTTPSource(name string, c *SourceConfig, client *http.Client) (*HTTPSource, error) {
	tmpl, err := c.urlRef().Resolve()
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: url: %w", name, err)
	}
	if err := checkTemplate(tmpl); err != nil {
		return nil, fmt.Errorf("contacts source %s: url: %w", name, err)
	}
	token, err := c.tokenRef().Resolve()
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: token: %w", name, err)
	}
	password, err := c.passwordRef().Resolve()
	if err != nil {
		return nil, fmt.Errorf("contacts source %s: password: %w", name, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	return &HTTPSource{
		name: name, tmpl: secret.Redacted(tmpl), timeout: timeout, client: client,
		headers: c.Headers, token: secret.Redacted(token),
		username: c.Username, password: secret.Redacted(password),
		uses: templateUses(tmpl),
	}, nil
}

// Name returns the source's name.
func (s *HTTPSource) Name() string { return s.name }

// Remote is true: answers are cached.
func (s *HTTPSource) Remote() bool { return true }

// Close does nothing: the HTTP client is the caller's.
func (s *HTTPSource) Close() error { return nil }

// Lookup asks the service. A query with none of the values the template
// uses is not asked and not found.
func (s *HTTPSource) Lookup(ctx context.Context, q Query) (Customer, bool, error) {
	if !(s.uses.ip && q.IP.IsValid() || s.uses.asn && q.ASN > 0 || s.uses.fqdn && q.FQDN != "") {
		return Customer{}, false, nil
	}
	return s.get(ctx, q)
}

// Check asks the service about a documentation address (192.0.2.1,
// AS64496, example.com): any answer but an error will do.
func (s *HTTPSource) Check(ctx context.Context) error {
	_, _, err := s.get(ctx, Query{IP: testIP, ASN: 64496, FQDN: "example.com"})
	return err
}

func (s *HTTPSource) get(ctx context.Context, q Query) (Customer, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, expand(s.tmpl.Reveal(), q), nil)
	if err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: building the request: %w", s.name, stripURL(err))
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	switch {
	case s.token != "":
		req.Header.Set("Authorization", "Bearer "+s.token.Reveal())
	case s.username != "":
		req.SetBasicAuth(s.username, s.password.Reveal())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: GET: %w", s.name, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: reading the answer: %w", s.name, stripURL(err))
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNoContent:
		return Customer{}, false, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return Customer{}, false, fmt.Errorf("contacts source %s: GET: status %s", s.name, resp.Status)
	}
	if len(body) > maxAnswer {
		return Customer{}, false, fmt.Errorf("contacts source %s: answer larger than %d bytes", s.name, maxAnswer)
	}
	var a *answer
	if err := json.Unmarshal(body, &a); err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: decoding the answer (want a JSON object or null): %w", s.name, err)
	}
	if a == nil {
		return Customer{}, false, nil
	}
	c, ok, err := rowCustomer(s.name, &a.values)
	if err != nil {
		return Customer{}, false, fmt.Errorf("contacts source %s: the answer's %w", s.name, err)
	}
	return c, ok, nil
}

// stripURL drops the URL from a *url.Error: the URL may hold a key.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// answer is the JSON an HTTP source answers with.
type answer struct {
	values [numColumns]string
}

// UnmarshalJSON reads an object: strings or numbers for the plain keys,
// strings or lists of strings for email and tags; other keys are ignored.
func (a *answer) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, raw := range m {
		c, ok := columnByName(k)
		if !ok {
			continue
		}
		v, err := jsonCell(raw)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		a.values[c] = v
	}
	return nil
}

// jsonCell reads a string, a number, null or a list of strings (joined
// with ";").
func jsonCell(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '[':
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return "", errors.New("want a string or a list of strings")
		}
		return strings.Join(list, ";"), nil
	case '{', 't', 'f':
		return "", errors.New("want a string, a number or a list of strings")
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// rowCustomer turns the values of an SQL row or an HTTP answer into a
// customer. No customer id means "not ours".
func rowCustomer(source string, v *[numColumns]string) (Customer, bool, error) {
	if strings.TrimSpace(v[colCustomer]) == "" {
		return Customer{}, false, nil
	}
	cc := CustomerConfig{
		Customer:  v[colCustomer],
		Name:      v[colName],
		Email:     splitList(v[colEmail]),
		Connector: v[colConnector],
		Queue:     v[colQueue],
		Language:  v[colLanguage],
		Tags:      splitList(v[colTags]),
	}
	c, err := cc.customer(source)
	if err != nil {
		return Customer{}, false, err
	}
	for _, n := range []column{colNetwork, colDomain, colASN} {
		if s := strings.TrimSpace(v[n]); s != "" {
			c.Network = s
			break
		}
	}
	return c, true, nil
}
