// Package rt is the Request Tracker 5 connector. It speaks REST2
// ({url}/REST/2.0/) with an auth token or basic auth, keeps the case key in a
// ticket custom field (default AbuseKey) and searches with TicketSQL.
//
// It handles what a real RT 5.0.3 does (see deploy/testenv/rt/README.md):
// ids that are strings in create and search answers but numbers in GET,
// "pages": 0.0 on empty searches, errors inside a 200 message array (an
// invalid status), unknown custom fields silently dropped on create (Check
// verifies the key field), 403 for an unknown queue, and a 302 to the login
// page for anything that looks like a browser (the client never sends a
// browser User-Agent or cookies, and never follows redirects).
package rt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/gateway/secret"
	"github.com/abusegw/abusegw/mappings/status"
)

// Client talks to one RT instance. It is safe for concurrent use.
type Client struct {
	cfg      Config
	base     string // URL without the trailing slash: human links hang off it
	api      string // base + "/REST/2.0"
	auth     secret.Redacted
	hookKey  secret.Redacted // webhook HMAC secret; "" refuses webhooks
	hc       *http.Client
	statuses *status.Map
	log      *slog.Logger
	ua       string
}

// The optional abilities RT has.
var (
	_ connectors.Connector       = (*Client)(nil)
	_ connectors.CommentFinder   = (*Client)(nil)
	_ connectors.Checker         = (*Client)(nil)
	_ connectors.ClosureReasoner = (*Client)(nil)
	_ connectors.WebhookParser   = (*Client)(nil)
)

// maxAnswer bounds how much of an answer is read: a search page of 100
// tickets with custom fields is far below it.
const maxAnswer = 16 << 20

// New validates cfg, resolves its secrets and returns a client. It sends no
// request; use Check to see whether RT is reachable and set up.
func New(cfg *Config, deps connectors.Deps) (*Client, error) {
	c := &Client{cfg: *cfg}
	c.cfg.ApplyDefaults()
	if err := c.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rt connector %q: %w", c.cfg.Name, err)
	}
	if tok := c.cfg.tokenRef(); tok.IsSet() {
		v, err := tok.Resolve()
		if err != nil {
			return nil, fmt.Errorf("rt connector %q: token: %w", c.cfg.Name, err)
		}
		c.auth = secret.Redacted("token " + v)
	} else {
		pw, err := c.cfg.passwordRef().Resolve()
		if err != nil {
			return nil, fmt.Errorf("rt connector %q: password: %w", c.cfg.Name, err)
		}
		req, _ := http.NewRequest(http.MethodGet, "/", nil) // constant, cannot fail
		req.SetBasicAuth(c.cfg.User, pw)
		c.auth = secret.Redacted(req.Header.Get("Authorization"))
	}
	if ref := c.cfg.webhookSecretRef(); ref.IsSet() {
		v, err := ref.Resolve()
		if err != nil {
			return nil, fmt.Errorf("rt connector %q: webhook_secret: %w", c.cfg.Name, err)
		}
		c.hookKey = secret.Redacted(v)
	}
	m, err := status.Load("rt", c.cfg.StatusMap)
	if err != nil {
		return nil, fmt.Errorf("rt connector %q: %w", c.cfg.Name, err)
	}
	c.statuses = m
	c.base = strings.TrimRight(c.cfg.URL, "/")
	c.api = c.base + "/REST/2.0"

	hc := &http.Client{Timeout: c.cfg.Timeout}
	if deps.HTTPClient != nil {
		copied := *deps.HTTPClient
		hc = &copied
		if hc.Timeout == 0 {
			hc.Timeout = c.cfg.Timeout
		}
	}
	// RT answers a request with a cookie with the login page, and a
	// followed redirect would turn a POST into a GET of that page.
	hc.Jar = nil
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = hc

	c.log = deps.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("connector", c.cfg.Name)
	c.ua = deps.UserAgent
	if c.ua == "" || strings.Contains(c.ua, "Mozilla") {
		c.ua = connectors.DefaultUserAgent
	}
	return c, nil
}

// String names the client; it keeps %v of a Client from printing its
// credentials, which sit in an unexported field fmt cannot redact.
func (c *Client) String() string { return fmt.Sprintf("rt connector %q (%s)", c.cfg.Name, c.base) }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Config returns the client's configuration with defaults applied.
func (c *Client) Config() Config { return c.cfg }

// TicketURL returns the page a desk member opens for ticket id.
func (c *Client) TicketURL(id string) string {
	return c.base + "/Ticket/Display.html?id=" + url.QueryEscape(id)
}

// request is one REST2 call.
type request struct {
	op     string     // for errors: "rt create"
	method string     // GET, POST, PUT
	path   string     // below /REST/2.0, starting with "/"
	query  url.Values // may be nil
	body   any        // JSON-encoded when not nil
	out    any        // JSON-decoded from a 2xx answer when not nil
	ticket bool       // the path names a ticket: a 404 wraps ErrNotFound
}

// do performs r and returns a classified error.
func (c *Client) do(ctx context.Context, r request) error {
	u := c.api + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return connectors.Permanentf(r.op, "encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	// Watch whether the request was written, so that a failure before that
	// is known to be harmless to repeat (database/sql's ErrBadConn rule).
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return connectors.Permanentf(r.op, "building request: %w", err)
	}
	req.Header.Set("Authorization", c.auth.Reveal())
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if !written.Load() {
			err = connectors.NotSent(err)
		}
		return connectors.WithOp(r.op, connectors.Classify(nil, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return connectors.WithOp(r.op, connectors.Classify(resp, fmt.Errorf("reading answer: %w", err)))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := connectors.WithOp(r.op, connectors.Classify(resp, errors.New(errorMessage(data))))
		var ce *connectors.Error
		if r.ticket && resp.StatusCode == http.StatusNotFound && errors.As(err, &ce) {
			ce.Err = fmt.Errorf("%w: %w", connectors.ErrNotFound, ce.Err)
		}
		c.log.DebugContext(ctx, "rt request failed", "op", r.op, "status", resp.StatusCode, "err", err)
		return err
	}
	if r.out != nil {
		if err := json.Unmarshal(data, r.out); err != nil {
			return connectors.WithOp(r.op, connectors.Classify(resp, fmt.Errorf("decoding answer: %w", err)))
		}
	}
	return nil
}

// errorMessage extracts RT's {"message": "..."} from an error answer, or
// a short excerpt of whatever else came back (the login page's "Login
// required").
func errorMessage(data []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil && e.Message != "" {
		return strings.TrimSpace(e.Message)
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty answer)"
	}
	return s
}

// checkID rejects ticket IDs that are not RT numbers before they reach a
// path.
func checkID(op, id string) error {
	if n, err := strconv.ParseUint(id, 10, 64); err != nil || n == 0 {
		return connectors.Permanentf(op, "ticket id %q is not an RT ticket number", id)
	}
	return nil
}

// createBody is POST /ticket.
type createBody struct {
	Queue        string            `json:"Queue"`
	Subject      string            `json:"Subject"`
	Requestor    []string          `json:"Requestor,omitempty"`
	Content      string            `json:"Content,omitempty"`
	ContentType  string            `json:"ContentType,omitempty"`
	CustomFields map[string]string `json:"CustomFields"`
	RefersTo     []string          `json:"RefersTo,omitempty"`
}

// idAnswer is RT's {"id": "N", "type": ..., "_url": ...}.
type idAnswer struct {
	ID rtID `json:"id"`
}

// Create opens a ticket in the queue with the case key in the key custom
// field. RT drops an unknown custom field without a word, so run Check
// before relying on FindByKey.
func (c *Client) Create(ctx context.Context, req connectors.CreateRequest) (connectors.Ticket, error) {
	const op = "rt create"
	if strings.TrimSpace(req.CaseKey) == "" {
		return connectors.Ticket{}, connectors.Permanentf(op, "missing case key")
	}
	if strings.TrimSpace(req.Subject) == "" {
		return connectors.Ticket{}, connectors.Permanentf(op, "missing subject")
	}
	for _, id := range req.RefersTo {
		if err := checkID(op, id); err != nil {
			return connectors.Ticket{}, err
		}
	}
	queue := req.Queue
	if queue == "" {
		queue = c.cfg.Queue
	}
	body := createBody{
		Queue:        queue,
		Subject:      req.Subject,
		Requestor:    req.Requestors,
		Content:      req.Body,
		ContentType:  contentType(req.ContentType),
		CustomFields: map[string]string{c.cfg.KeyField: req.CaseKey},
		RefersTo:     req.RefersTo,
	}
	var ans idAnswer
	if err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/ticket", body: body, out: &ans}); err != nil {
		return connectors.Ticket{}, fmt.Errorf("creating ticket for case %s in queue %s: %w", req.CaseKey, queue, err)
	}
	if ans.ID == "" {
		// 201 without an id: it was created, we just cannot tell which.
		return connectors.Ticket{}, &connectors.Error{Kind: connectors.Unknown, Op: op,
			Err: fmt.Errorf("RT answered without a ticket id for case %s", req.CaseKey)}
	}
	return connectors.Ticket{ID: string(ans.ID), URL: c.TicketURL(string(ans.ID)), CaseKey: req.CaseKey}, nil
}

func contentType(ct string) string {
	if ct == "" {
		return "text/plain"
	}
	return ct
}

// messageBody is POST /ticket/N/comment and /correspond.
type messageBody struct {
	Subject     string `json:"Subject,omitempty"`
	Content     string `json:"Content"`
	ContentType string `json:"ContentType"`
}

// Comment adds an internal comment (RT's default scrips mail no requestor).
func (c *Client) Comment(ctx context.Context, ticketID string, msg connectors.Message) error {
	return c.message(ctx, "rt comment", "comment", ticketID, msg)
}

// Reply corresponds with the requestors (RT mails them per its scrips). A
// reply to a "new" ticket moves it to "open".
func (c *Client) Reply(ctx context.Context, ticketID string, msg connectors.Message) error {
	return c.message(ctx, "rt reply", "correspond", ticketID, msg)
}

func (c *Client) message(ctx context.Context, op, kind, ticketID string, msg connectors.Message) error {
	if err := checkID(op, ticketID); err != nil {
		return err
	}
	if strings.TrimSpace(msg.Body) == "" {
		return connectors.Permanentf(op, "empty message")
	}
	ct := contentType(msg.ContentType)
	body := messageBody{Subject: msg.Subject, Content: connectors.WithMarker(msg.Body, ct, msg.OpKey), ContentType: ct}
	var msgs []string
	// A comment on a missing ticket is 400 "Message could not be recorded".
	err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/ticket/" + ticketID + "/" + kind, body: body, out: &msgs, ticket: true})
	if err != nil {
		return fmt.Errorf("adding %s to ticket %s: %w", kind, ticketID, err)
	}
	return nil
}

// SetStatus sets the RT status the status map names for s. RT answers 200
// even when it refuses (the refusal is a line in the message array), so the
// ticket is read back to be sure.
func (c *Client) SetStatus(ctx context.Context, ticketID string, s connectors.Status) error {
	const op = "rt set status"
	if err := checkID(op, ticketID); err != nil {
		return err
	}
	raw, ok := c.statuses.Raw(s)
	if !ok {
		return connectors.Permanentf(op, "the status map names no RT status for %q", s)
	}
	var msgs []string
	if err := c.do(ctx, request{op: op, method: http.MethodPut, path: "/ticket/" + ticketID,
		body: map[string]string{"Status": raw}, out: &msgs, ticket: true}); err != nil {
		return fmt.Errorf("setting ticket %s to %s: %w", ticketID, raw, err)
	}
	t, err := c.Get(ctx, ticketID)
	if err != nil {
		return fmt.Errorf("reading ticket %s back after setting it to %s: %w", ticketID, raw, err)
	}
	if !strings.EqualFold(t.Status, raw) {
		why := strings.Join(msgs, "; ")
		if why == "" {
			why = "no message"
		}
		return connectors.Permanentf(op, "RT kept ticket %s at %q instead of %q: %s", ticketID, t.Status, raw, why)
	}
	return nil
}

// rtTicket is a ticket in GET /ticket/N and in search items with fields=.
type rtTicket struct {
	ID           rtID      `json:"id"`
	EffectiveID  rtRef     `json:"EffectiveId"`
	Status       string    `json:"Status"`
	Created      rtTime    `json:"Created"`
	LastUpdated  rtTime    `json:"LastUpdated"`
	CustomFields []rtCFVal `json:"CustomFields"`
}

type rtCFVal struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

func (c *Client) ticket(t rtTicket) connectors.Ticket {
	id := string(t.ID)
	if e := string(t.EffectiveID); e != "" && e != id {
		id = e // merged into another ticket: that one lives on
	}
	out := connectors.Ticket{
		ID:      id,
		URL:     c.TicketURL(id),
		Status:  t.Status,
		Created: time.Time(t.Created),
		Updated: time.Time(t.LastUpdated),
		CaseKey: cfValue(t.CustomFields, c.cfg.KeyField),
	}
	out.Canonical, _ = c.statuses.Canonical(t.Status)
	if c.cfg.ReasonField != "" {
		out.ClosureReason = cfValue(t.CustomFields, c.cfg.ReasonField)
	}
	return out
}

func cfValue(cfs []rtCFVal, name string) string {
	for _, cf := range cfs {
		if strings.EqualFold(cf.Name, name) && len(cf.Values) > 0 {
			return cf.Values[0]
		}
	}
	return ""
}

// Get reads one ticket.
func (c *Client) Get(ctx context.Context, ticketID string) (connectors.Ticket, error) {
	const op = "rt get"
	if err := checkID(op, ticketID); err != nil {
		return connectors.Ticket{}, err
	}
	var t rtTicket
	if err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/ticket/" + ticketID, out: &t, ticket: true}); err != nil {
		return connectors.Ticket{}, fmt.Errorf("reading ticket %s: %w", ticketID, err)
	}
	return c.ticket(t), nil
}

// searchAnswer is GET /tickets and the other collection answers.
type searchAnswer[T any] struct {
	Total   *int    `json:"total"`
	Count   int     `json:"count"`
	Page    int     `json:"page"`
	PerPage int     `json:"per_page"`
	Pages   float64 `json:"pages"` // RT says 0.0 when empty: never an int
	Next    string  `json:"next_page"`
	Items   []T     `json:"items"`
}

func (a searchAnswer[T]) hasNext() bool {
	if a.Next != "" {
		return true
	}
	return a.Total != nil && a.PerPage > 0 && *a.Total > a.Page*a.PerPage
}

// ticketFields asks the search to return what Ticket needs, so a page costs
// one request instead of one per ticket.
const ticketFields = "Status,Created,LastUpdated,EffectiveId,CustomFields"

// search runs one page of a TicketSQL query.
func (c *Client) search(ctx context.Context, op, query string, page, perPage int) (searchAnswer[rtTicket], error) {
	q := url.Values{
		"query":    {query},
		"fields":   {ticketFields},
		"orderby":  {"LastUpdated", "id"},
		"order":    {"ASC", "ASC"},
		"page":     {strconv.Itoa(page)},
		"per_page": {strconv.Itoa(perPage)},
	}
	var ans searchAnswer[rtTicket]
	err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/tickets", query: q, out: &ans})
	return ans, err
}

// quote makes s a TicketSQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// rtDate formats t for TicketSQL. The API user's time zone applies, so the
// RT user (or RT) must be on UTC, as deploy/testenv/rt sets up.
func rtDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// ListUpdated lists the tickets with a case key updated at or after since
// (to the second), in every queue: a desk may move tickets. RT's searches
// never return deleted tickets.
func (c *Client) ListUpdated(ctx context.Context, since time.Time, cursor connectors.Cursor) (connectors.Page, error) {
	const op = "rt list updated"
	page := 1
	if cursor != "" {
		n, err := strconv.Atoi(string(cursor))
		if err != nil || n < 1 {
			return connectors.Page{}, connectors.Permanentf(op, "bad cursor %q", cursor)
		}
		page = n
	}
	query := fmt.Sprintf("'CF.{%s}' IS NOT NULL AND LastUpdated >= %s", c.cfg.KeyField, quote(rtDate(since)))
	ans, err := c.search(ctx, op, query, page, c.cfg.PageSize)
	if err != nil {
		return connectors.Page{}, fmt.Errorf("listing tickets updated since %s (page %d): %w", rtDate(since), page, err)
	}
	out := connectors.Page{Tickets: make([]connectors.Ticket, 0, len(ans.Items))}
	for _, it := range ans.Items {
		out.Tickets = append(out.Tickets, c.ticket(it))
	}
	if ans.hasNext() && len(ans.Items) > 0 {
		out.Next = connectors.Cursor(strconv.Itoa(page + 1))
	}
	return out, nil
}

// maxKeyPages bounds FindByKey: more than a few hundred tickets with one key
// is a broken setup, not something to page through forever.
const maxKeyPages = 5

// FindByKey finds the tickets whose key custom field is caseKey, oldest
// first. RT compares custom fields without regard to case; the match is
// made exact here.
func (c *Client) FindByKey(ctx context.Context, caseKey string) ([]connectors.Ticket, error) {
	const op = "rt find by key"
	if caseKey == "" {
		return nil, connectors.Permanentf(op, "empty case key")
	}
	query := fmt.Sprintf("'CF.{%s}' = %s", c.cfg.KeyField, quote(caseKey))
	var out []connectors.Ticket
	for page := 1; page <= maxKeyPages; page++ {
		ans, err := c.search(ctx, op, query, page, MaxPageSize)
		if err != nil {
			return nil, fmt.Errorf("searching tickets of case %s: %w", caseKey, err)
		}
		for _, it := range ans.Items {
			if t := c.ticket(it); t.CaseKey == caseKey {
				out = append(out, t)
			}
		}
		if !ans.hasNext() || len(ans.Items) == 0 {
			break
		}
	}
	sortByID(out)
	if len(out) > 1 {
		c.log.WarnContext(ctx, "several RT tickets carry one case key", "case", caseKey, "tickets", len(out))
	}
	return out, nil
}

// sortByID orders tickets by their number (creation order).
func sortByID(ts []connectors.Ticket) {
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && num(ts[j].ID) < num(ts[j-1].ID); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// attachment is an item of the attachments search.
type attachment struct {
	Content string `json:"Content"`
}

// FindOp reports whether a comment or reply with opKey's marker is in the
// ticket. It searches the ticket's attachments for the marker (RT decodes
// quoted-printable content for the search) and confirms the match itself.
func (c *Client) FindOp(ctx context.Context, ticketID, opKey string) (bool, error) {
	const op = "rt find op"
	if err := checkID(op, ticketID); err != nil {
		return false, err
	}
	if opKey == "" {
		return false, connectors.Permanentf(op, "empty operation key")
	}
	filter := []map[string]string{{"field": "Content", "operator": "LIKE", "value": connectors.Marker(opKey)}}
	for page := 1; page <= maxKeyPages; page++ {
		q := url.Values{"fields": {"Content"}, "page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(MaxPageSize)}}
		var ans searchAnswer[attachment]
		if err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/ticket/" + ticketID + "/attachments",
			query: q, body: filter, out: &ans}); err != nil {
			return false, fmt.Errorf("searching ticket %s for operation %s: %w", ticketID, opKey, err)
		}
		for _, a := range ans.Items {
			if connectors.HasMarker(a.Content, opKey) {
				return true, nil
			}
		}
		if !ans.hasNext() || len(ans.Items) == 0 {
			break
		}
	}
	return false, nil
}

// rtID is an RT id, which REST2 writes as a string in some answers and as a
// number in others.
type rtID string

// UnmarshalJSON accepts "12", 12 and null.
func (id *rtID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*id = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = rtID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("RT id %s: %w", b, err)
	}
	*id = rtID(n.String())
	return nil
}

// rtRef is a reference to another record: GET /ticket/N writes it as an
// object {"id": "2", "type": ..., "_url": ...}, a search with fields= as the
// bare id "2".
type rtRef rtID

// UnmarshalJSON accepts an object with an id, a string and a number.
func (r *rtRef) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			ID rtID `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = rtRef(o.ID)
		return nil
	}
	return (*rtID)(r).UnmarshalJSON(b)
}

// rtTime is an RT timestamp ("2026-11-27T13:48:03Z"); RT writes unset dates
// as the Unix epoch, which becomes the zero time.
type rtTime time.Time

// UnmarshalJSON parses RFC 3339 and treats "", null and the epoch as unset.
func (t *rtTime) UnmarshalJSON(b []byte) error {
	var s string
	if string(b) == "null" {
		*t = rtTime{}
		return nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("RT time %s: %w", b, err)
	}
	if s == "" {
		*t = rtTime{}
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("RT time %q: %w", s, err)
	}
	if v.Unix() == 0 {
		v = time.Time{}
	}
	*t = rtTime(v.UTC())
	return nil
}
