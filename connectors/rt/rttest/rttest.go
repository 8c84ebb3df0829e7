// Package rttest is an in-process fake of Request Tracker 5.0.3's REST2 API
// (httptest), for tests that cannot run the real RT. It follows what the
// real server does (deploy/testenv/rt/README.md, "Gotchas" and "Error
// shapes"), quirks included:
//
//   - ids are strings in create and search answers, numbers in GET /ticket/N;
//     EffectiveId is an object in GET and a bare string in search fields;
//   - an empty search says "pages": 0.0;
//   - PUT with an invalid status is 200 with the refusal in the message array;
//   - an unknown custom field, or one not applied to the queue, is silently
//     dropped on create;
//   - an unknown queue on create is 403, a comment on a missing ticket 400;
//   - a request from a "browser" (User-Agent with Mozilla, or a cookie)
//     without valid credentials gets 302 to "/" ("Login required");
//   - REST2 searches never return deleted tickets.
//
// Faults can be injected per request (Inject): 5xx, 429 with Retry-After,
// connection resets before or after the request is performed, and hangs
// after the request was performed (the client's timeout or cancellation
// ends them). The fake's state (Tickets) is what tests assert on.
package rttest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/rt"
	"github.com/abusegw/abusegw/gateway/secret"
)

// Defaults of a new Server, the same names deploy/testenv/rt/start-rt.sh
// sets up.
const (
	Token    = "1-14-0123456789abcdef0123456789abcdef"
	User     = "root"
	Password = "password"
	Queue    = "Abuse"
	KeyField = "AbuseKey"
	Version  = "5.0.3+dfsg-3~deb12u6"
)

// statuses are the default lifecycle's.
var statuses = []string{"new", "open", "stalled", "resolved", "rejected", "deleted"}

// Ticket is the fake's record of a ticket.
type Ticket struct {
	ID           int
	Queue        string
	Subject      string
	Status       string
	Requestors   []string
	CustomFields map[string]string // by field name
	RefersTo     []int
	Created      time.Time
	LastUpdated  time.Time
	Transactions []Transaction
}

// Transaction is one entry of a ticket's history.
type Transaction struct {
	ID      int
	Type    string // Create, Comment, Correspond, Status, CustomField
	Content string
}

// Messages returns the contents of the ticket's Comment and Correspond
// transactions.
func (t Ticket) Messages() []Transaction {
	var out []Transaction
	for _, tx := range t.Transactions {
		if tx.Type == "Comment" || tx.Type == "Correspond" {
			out = append(out, tx)
		}
	}
	return out
}

type queue struct {
	id   int
	name string
	cfs  []int // applied ticket custom fields
}

type customField struct {
	id       int
	name     string
	typ      string
	disabled bool
	values   []string
}

// Server is a fake RT. Create it with New.
type Server struct {
	*httptest.Server

	// Hung receives the request path each time a HangAfter fault holds a
	// request, so a test can cancel or time out the client at that moment
	// instead of sleeping. It is buffered; nobody has to read it.
	Hung chan string

	mu      sync.Mutex
	now     func() time.Time
	tickets map[int]*Ticket
	nextID  int
	nextTx  int
	queues  []*queue
	cfs     []*customField
	faults  []*faultState
	refused map[string]bool // statuses this fake's "lifecycle" lacks
	closing chan struct{}
	once    sync.Once
}

// Option changes a new Server.
type Option func(*Server)

// WithClock makes the fake take times from now. The default clock starts at
// 2026-01-01T00:00:00Z and advances one second per reading, so every change
// has its own LastUpdated, deterministically.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New starts a fake RT with queue Abuse (id 3) and ticket custom field
// AbuseKey (id 2) applied to it; t.Cleanup closes it.
func New(t testing.TB, opts ...Option) *Server {
	s := &Server{
		Hung:    make(chan string, 64),
		tickets: map[int]*Ticket{},
		refused: map[string]bool{},
		nextID:  1,
		nextTx:  1,
		closing: make(chan struct{}),
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := 0
	s.now = func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Second) }
	for _, o := range opts {
		o(s)
	}
	s.cfs = []*customField{{id: 2, name: KeyField, typ: "Freeform"}}
	s.queues = []*queue{{id: 1, name: "General"}, {id: 3, name: Queue, cfs: []int{2}}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Close releases hung requests and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.Server.Close()
	})
}

// Config returns a connector config that talks to this fake with its token.
func (s *Server) Config() *rt.Config {
	return &rt.Config{
		Common:   connectors.Common{Name: "rt", Type: "rt"},
		URL:      s.URL + "/",
		Token:    secret.Redacted(Token),
		Queue:    Queue,
		KeyField: KeyField,
	}
}

// AddQueue creates a queue with the named ticket custom fields applied
// (creating the fields that do not exist yet).
func (s *Server) AddQueue(name string, fields ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &queue{id: s.maxQueueID() + 1, name: name}
	for _, f := range fields {
		cf := s.cfByName(f)
		if cf == nil {
			cf = &customField{id: s.maxCFID() + 1, name: f, typ: "Freeform"}
			s.cfs = append(s.cfs, cf)
		}
		q.cfs = append(q.cfs, cf.id)
	}
	s.queues = append(s.queues, q)
}

// AddCustomField creates a ticket custom field; values makes it a Select
// field with those values. It applies to no queue until AddQueue names it.
func (s *Server) AddCustomField(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cf := &customField{id: s.maxCFID() + 1, name: name, typ: "Freeform"}
	if len(values) > 0 {
		cf.typ, cf.values = "Select", values
	}
	s.cfs = append(s.cfs, cf)
}

// ApplyCustomField applies an existing custom field to an existing queue.
func (s *Server) ApplyCustomField(field, queueName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, cf := s.queueByName(queueName), s.cfByName(field); q != nil && cf != nil {
		q.cfs = append(q.cfs, cf.id)
	}
}

// RefuseStatus makes PUT refuse status as RT does for a status outside the
// queue's lifecycle: 200 with the refusal in the message array.
func (s *Server) RefuseStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[status] = true
}

// Tickets returns a copy of every ticket, deleted ones included, by id.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ticket
	for _, t := range s.tickets {
		out = append(out, copyTicket(t))
	}
	slices.SortFunc(out, func(a, b Ticket) int { return a.ID - b.ID })
	return out
}

// Ticket returns a copy of ticket id.
func (s *Server) Ticket(id int) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	return copyTicket(t), true
}

// SetStatus changes a ticket's status as a desk member would in the web UI.
func (s *Server) SetStatus(id int, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return fmt.Errorf("rttest: no ticket %d", id)
	}
	if !slices.Contains(statuses, status) {
		return fmt.Errorf("rttest: %q is not a status of the default lifecycle", status)
	}
	s.setStatus(t, status)
	return nil
}

// SetCustomField sets a ticket's custom field as a desk member would.
func (s *Server) SetCustomField(id int, field, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return fmt.Errorf("rttest: no ticket %d", id)
	}
	t.CustomFields[field] = value
	s.touch(t, "CustomField", value)
	return nil
}

func copyTicket(t *Ticket) Ticket {
	c := *t
	c.Requestors = slices.Clone(t.Requestors)
	c.RefersTo = slices.Clone(t.RefersTo)
	c.Transactions = slices.Clone(t.Transactions)
	c.CustomFields = make(map[string]string, len(t.CustomFields))
	for k, v := range t.CustomFields {
		c.CustomFields[k] = v
	}
	return c
}

func (s *Server) maxQueueID() int {
	n := 0
	for _, q := range s.queues {
		n = max(n, q.id)
	}
	return n
}

func (s *Server) maxCFID() int {
	n := 0
	for _, cf := range s.cfs {
		n = max(n, cf.id)
	}
	return n
}

func (s *Server) queueByName(name string) *queue {
	for _, q := range s.queues {
		if strings.EqualFold(q.name, name) || strconv.Itoa(q.id) == name {
			return q
		}
	}
	return nil
}

func (s *Server) cfByName(name string) *customField {
	for _, cf := range s.cfs {
		if strings.EqualFold(cf.name, name) || strconv.Itoa(cf.id) == name {
			return cf
		}
	}
	return nil
}

// touch records a transaction and moves LastUpdated.
func (s *Server) touch(t *Ticket, typ, content string) {
	t.Transactions = append(t.Transactions, Transaction{ID: s.nextTx, Type: typ, Content: content})
	s.nextTx++
	t.LastUpdated = s.now()
}

func (s *Server) setStatus(t *Ticket, status string) {
	if t.Status == status {
		return
	}
	t.Status = status
	s.touch(t, "Status", status)
}

// serve answers one request, applying an injected fault if one matches.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	f := s.matchFault(r)
	if f == nil {
		s.handle(w, r)
		return
	}
	switch f.Do {
	case Fail:
		_, _ = io.Copy(io.Discard, r.Body)
		code := f.Status
		if code == 0 {
			code = http.StatusInternalServerError
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeJSON(w, code, map[string]string{"message": http.StatusText(code)})
	case ResetBefore:
		_, _ = io.Copy(io.Discard, r.Body)
		reset(w)
	case ResetAfter:
		s.handle(httptest.NewRecorder(), r)
		reset(w)
	case HangAfter:
		s.handle(httptest.NewRecorder(), r)
		select {
		case s.Hung <- r.URL.Path:
		default:
		}
		select {
		case <-r.Context().Done(): // the client gave up
		case <-s.closing:
		}
	}
}

// reset drops the connection with a TCP RST, like a crashed proxy.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// handle is the well-behaved fake RT.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/REST/2.0")
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if !s.authorized(r) {
		if strings.Contains(r.UserAgent(), "Mozilla") || r.Header.Get("Cookie") != "" {
			// RT's _looks_like_browser: send the browser to log in.
			w.Header().Set("Location", "/")
			w.WriteHeader(http.StatusFound)
			_, _ = io.WriteString(w, "Login required")
			return
		}
		writeError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPut) && !jsonOrText(r) {
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/rt" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"Version": Version, "Plugins": []string{}})
	case path == "/ticket" && r.Method == http.MethodPost:
		s.createTicket(w, r, body)
	case len(parts) == 2 && parts[0] == "ticket":
		s.ticketRecord(w, r, parts[1], body)
	case len(parts) == 3 && parts[0] == "ticket" && (parts[2] == "comment" || parts[2] == "correspond") && r.Method == http.MethodPost:
		s.addMessage(w, r, parts[1], parts[2], body)
	case len(parts) == 3 && parts[0] == "ticket" && parts[2] == "attachments":
		s.attachments(w, r, parts[1], body)
	case path == "/tickets" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.searchTickets(w, r, body)
	case path == "/queue" && r.Method == http.MethodPost:
		s.createQueue(w, body)
	case len(parts) == 2 && parts[0] == "queue" && r.Method == http.MethodGet:
		s.getQueue(w, parts[1])
	case path == "/customfields" && r.Method == http.MethodPost:
		s.searchCFs(w, r, body)
	case len(parts) == 2 && parts[0] == "customfield" && r.Method == http.MethodGet:
		s.getCF(w, parts[1])
	default:
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if tok, ok := cutPrefixFold(h, "token "); ok {
		return tok == Token
	}
	if r.URL.Query().Get("token") == Token {
		return true
	}
	if b, ok := cutPrefixFold(h, "basic "); ok {
		raw, err := base64.StdEncoding.DecodeString(b)
		return err == nil && string(raw) == User+":"+Password
	}
	return false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

func jsonOrText(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/plain") ||
		strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}

func isJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"message":"encoding answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

func (s *Server) url(kind string, id any) string {
	return fmt.Sprintf("%s/REST/2.0/%s/%v", s.URL, kind, id)
}

// stringsOf reads RT's "one value or a list" fields (Requestor, RefersTo).
func stringsOf(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		var one any
		if json.Unmarshal(raw, &one) != nil || one == nil {
			return nil
		}
		list = []any{one}
	}
	var out []string
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Queue        string
		Subject      string
		Requestor    json.RawMessage
		Content      string
		RefersTo     json.RawMessage
		Status       string
		CustomFields map[string]any
	}
	if !isJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "JSON parse error: malformed JSON string, "+err.Error())
		return
	}
	if req.Queue == "" {
		writeError(w, http.StatusBadRequest, "Could not create ticket. Queue not set")
		return
	}
	q := s.queueByName(req.Queue)
	if q == nil {
		writeError(w, http.StatusForbidden, fmt.Sprintf("No permission to create tickets in the queue '%s'", req.Queue))
		return
	}
	now := s.now()
	t := &Ticket{ID: s.nextID, Queue: q.name, Subject: req.Subject, Status: "new",
		Requestors: stringsOf(req.Requestor), CustomFields: map[string]string{}, Created: now, LastUpdated: now}
	if req.Status != "" && slices.Contains(statuses, req.Status) {
		t.Status = req.Status
	}
	for _, ref := range stringsOf(req.RefersTo) {
		if n, err := strconv.Atoi(ref); err == nil {
			t.RefersTo = append(t.RefersTo, n)
		}
	}
	for name, v := range req.CustomFields {
		// Unknown fields and fields not applied to the queue are dropped
		// without a word, as RT does (only its log mentions them).
		if cf := s.cfByName(name); cf != nil && slices.Contains(q.cfs, cf.id) {
			t.CustomFields[cf.name] = fmt.Sprint(v)
		}
	}
	s.nextID++
	t.Transactions = append(t.Transactions, Transaction{ID: s.nextTx, Type: "Create", Content: req.Content})
	s.nextTx++
	s.tickets[t.ID] = t
	w.Header().Set("Location", s.url("ticket", t.ID))
	writeJSON(w, http.StatusCreated, map[string]string{"id": strconv.Itoa(t.ID), "type": "ticket", "_url": s.url("ticket", t.ID)})
}

func (s *Server) lookup(idStr string) *Ticket {
	id, err := strconv.Atoi(idStr)
	if err != nil {
		return nil
	}
	return s.tickets[id]
}

func (s *Server) ticketRecord(w http.ResponseWriter, r *http.Request, idStr string, body []byte) {
	t := s.lookup(idStr)
	switch r.Method {
	case http.MethodGet:
		if t == nil {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		writeJSON(w, http.StatusOK, s.ticketJSON(t))
	case http.MethodPut:
		if t == nil {
			writeError(w, http.StatusNotFound, "Resource does not exist; use POST to create")
			return
		}
		var req struct {
			Status       *string
			Subject      *string
			CustomFields map[string]any
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "JSON parse error: malformed JSON string, "+err.Error())
			return
		}
		msgs := []string{}
		if req.Subject != nil && *req.Subject != t.Subject {
			msgs = append(msgs, fmt.Sprintf("Ticket %d: Subject changed from '%s' to '%s'", t.ID, t.Subject, *req.Subject))
			t.Subject = *req.Subject
			s.touch(t, "Set", *req.Subject)
		}
		for name, v := range req.CustomFields {
			cf := s.cfByName(name)
			if cf == nil {
				continue
			}
			if val := fmt.Sprint(v); t.CustomFields[cf.name] != val {
				t.CustomFields[cf.name] = val
				msgs = append(msgs, fmt.Sprintf("%s %s added", cf.name, val))
				s.touch(t, "CustomField", val)
			}
		}
		if req.Status != nil && *req.Status != t.Status {
			// A refusal is a 200 with the reason in the array.
			if !slices.Contains(statuses, *req.Status) || s.refused[*req.Status] {
				msgs = append(msgs, fmt.Sprintf("Ticket %d: Status '%s' isn't a valid status for this ticket.", t.ID, *req.Status))
			} else {
				msgs = append(msgs, fmt.Sprintf("Ticket %d: Status changed from '%s' to '%s'", t.ID, t.Status, *req.Status))
				s.setStatus(t, *req.Status)
			}
		}
		writeJSON(w, http.StatusOK, msgs)
	case http.MethodDelete:
		if t == nil {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		s.setStatus(t, "deleted")
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

// ticketJSON is GET /ticket/N: the id is a number here.
func (s *Server) ticketJSON(t *Ticket) map[string]any {
	q := s.queueByName(t.Queue)
	reqs := []map[string]string{}
	for _, r := range t.Requestors {
		reqs = append(reqs, map[string]string{"id": r, "type": "user", "_url": s.url("user", r)})
	}
	links := []map[string]any{{"ref": "self", "type": "ticket", "id": t.ID, "_url": s.url("ticket", t.ID)}}
	for _, ref := range t.RefersTo {
		links = append(links, map[string]any{"ref": "refers-to", "type": "ticket", "id": strconv.Itoa(ref), "_url": s.url("ticket", ref)})
	}
	return map[string]any{
		"id":           t.ID,
		"Subject":      t.Subject,
		"Status":       t.Status,
		"Type":         "ticket",
		"Queue":        map[string]string{"id": strconv.Itoa(q.id), "type": "queue", "_url": s.url("queue", q.id)},
		"EffectiveId":  map[string]string{"id": strconv.Itoa(t.ID), "type": "ticket", "_url": s.url("ticket", t.ID)},
		"Requestor":    reqs,
		"Cc":           []string{},
		"AdminCc":      []string{},
		"Created":      rtTime(t.Created),
		"LastUpdated":  rtTime(t.LastUpdated),
		"Resolved":     rtTime(time.Time{}),
		"Due":          rtTime(time.Time{}),
		"CustomFields": s.cfJSON(t, q),
		"_hyperlinks":  links,
	}
}

// cfJSON lists the custom fields that apply to the ticket's queue, with
// empty value lists for unset ones, as RT does.
func (s *Server) cfJSON(t *Ticket, q *queue) []map[string]any {
	out := []map[string]any{}
	for _, id := range q.cfs {
		cf := s.cfByName(strconv.Itoa(id))
		vals := []string{}
		if v, ok := t.CustomFields[cf.name]; ok {
			vals = append(vals, v)
		}
		out = append(out, map[string]any{"id": strconv.Itoa(cf.id), "type": "customfield", "name": cf.name,
			"values": vals, "_url": s.url("customfield", cf.id)})
	}
	return out
}

func rtTime(t time.Time) string {
	if t.IsZero() {
		return "1970-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) addMessage(w http.ResponseWriter, r *http.Request, idStr, kind string, body []byte) {
	content := string(body)
	if isJSON(r) {
		var req struct {
			Content     string
			ContentType string
			Subject     string
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "JSON parse error: malformed JSON string, "+err.Error())
			return
		}
		if req.ContentType == "" {
			writeError(w, http.StatusBadRequest, "ContentType is a required field for application/json")
			return
		}
		content = req.Content
	}
	t := s.lookup(idStr)
	if t == nil {
		writeError(w, http.StatusBadRequest, "Message could not be recorded")
		return
	}
	typ, msg := "Comment", "Comments added"
	if kind == "correspond" {
		typ, msg = "Correspond", "Correspondence added"
	}
	s.touch(t, typ, content)
	if kind == "correspond" && t.Status == "new" {
		s.setStatus(t, "open") // RT opens a new ticket on reply
	}
	w.Header().Set("Location", s.url("transaction", s.nextTx-1))
	writeJSON(w, http.StatusCreated, []string{msg})
}

// filter is RT's JSON search clause.
type filter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

func (s *Server) attachments(w http.ResponseWriter, r *http.Request, idStr string, body []byte) {
	var filters []filter
	if r.Method == http.MethodPost && len(body) > 0 {
		if err := json.Unmarshal(body, &filters); err != nil {
			writeError(w, http.StatusBadRequest, "JSON parse error: malformed JSON string, "+err.Error())
			return
		}
	}
	var items []map[string]any
	if t := s.lookup(idStr); t != nil {
		for _, tx := range t.Transactions {
			if tx.Content == "" || !matchFilters(filters, map[string]string{"Content": tx.Content}) {
				continue
			}
			items = append(items, map[string]any{"id": strconv.Itoa(tx.ID), "type": "attachment",
				"_url": s.url("attachment", tx.ID), "TransactionId": strconv.Itoa(tx.ID),
				"Content": tx.Content, "ContentType": "text/plain"})
		}
	}
	writePage(w, r, s, "/ticket/"+idStr+"/attachments", items)
}

func matchFilters(fs []filter, rec map[string]string) bool {
	for _, f := range fs {
		v := rec[f.Field]
		switch strings.ToUpper(f.Operator) {
		case "LIKE":
			if !strings.Contains(strings.ToLower(v), strings.ToLower(f.Value)) {
				return false
			}
		case "", "=":
			if !strings.EqualFold(v, f.Value) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// writePage pages items like RT's collections, "pages": 0.0 included.
func writePage(w http.ResponseWriter, r *http.Request, s *Server, path string, items []map[string]any) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	perPage, _ := strconv.Atoi(q.Get("per_page"))
	if perPage <= 0 {
		perPage = 20
	}
	perPage = min(perPage, 100)
	total := len(items)
	pages := int(math.Ceil(float64(total) / float64(perPage)))
	lo, hi := min((page-1)*perPage, total), min(page*perPage, total)
	shown := items[lo:hi]
	if shown == nil {
		shown = []map[string]any{}
	}
	ans := map[string]any{"total": total, "count": len(shown), "page": page, "per_page": perPage, "items": shown}
	if total == 0 {
		ans["pages"] = json.RawMessage("0.0") // what RT's JSON encoder writes
	} else {
		ans["pages"] = pages
	}
	link := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(p))
		return s.URL + "/REST/2.0" + path + "?" + v.Encode()
	}
	if page < pages {
		ans["next_page"] = link(page + 1)
	}
	if page > 1 {
		ans["prev_page"] = link(page - 1)
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) searchTickets(w http.ResponseWriter, r *http.Request, body []byte) {
	q := r.URL.Query()
	query := q.Get("query")
	if r.Method == http.MethodPost {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("query") != "" {
			query = form.Get("query")
		}
	}
	expr, err := parseTicketSQL(query)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+" at /usr/share/request-tracker5/lib/RT/Tickets.pm line 3187.\n")
		return
	}
	var hits []*Ticket
	for _, t := range s.tickets {
		if t.Status == "deleted" {
			continue // REST2 searches never return deleted tickets
		}
		if expr.match(t) {
			hits = append(hits, t)
		}
	}
	orderBy, order := q["orderby"], q["order"]
	if len(orderBy) == 0 {
		orderBy = []string{"id"}
	}
	slices.SortFunc(hits, func(a, b *Ticket) int {
		for i, key := range orderBy {
			var c int
			switch strings.ToLower(key) {
			case "lastupdated":
				c = a.LastUpdated.Compare(b.LastUpdated)
			case "created":
				c = a.Created.Compare(b.Created)
			default:
				c = a.ID - b.ID
			}
			if i < len(order) && strings.EqualFold(order[i], "DESC") {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return a.ID - b.ID
	})
	fields := strings.Split(q.Get("fields"), ",")
	items := make([]map[string]any, 0, len(hits))
	for _, t := range hits {
		// Search items carry ids as strings, and references as bare ids.
		it := map[string]any{"id": strconv.Itoa(t.ID), "type": "ticket", "_url": s.url("ticket", t.ID)}
		for _, f := range fields {
			switch f {
			case "Status":
				it[f] = t.Status
			case "Subject":
				it[f] = t.Subject
			case "Created":
				it[f] = rtTime(t.Created)
			case "LastUpdated":
				it[f] = rtTime(t.LastUpdated)
			case "EffectiveId":
				it[f] = strconv.Itoa(t.ID)
			case "Queue":
				it[f] = strconv.Itoa(s.queueByName(t.Queue).id)
			case "CustomFields":
				it[f] = s.cfJSON(t, s.queueByName(t.Queue))
			}
		}
		items = append(items, it)
	}
	writePage(w, r, s, "/tickets", items)
}

func (s *Server) createQueue(w http.ResponseWriter, body []byte) {
	var req struct{ Name string }
	if err := json.Unmarshal(body, &req); err != nil || req.Name == "" {
		writeError(w, http.StatusBadRequest, "Queue name is required")
		return
	}
	if s.queueByName(req.Name) != nil {
		writeError(w, http.StatusBadRequest, "Queue already exists")
		return
	}
	q := &queue{id: s.maxQueueID() + 1, name: req.Name}
	s.queues = append(s.queues, q)
	writeJSON(w, http.StatusCreated, map[string]string{"id": strconv.Itoa(q.id), "type": "queue", "_url": s.url("queue", q.id)})
}

func (s *Server) getQueue(w http.ResponseWriter, name string) {
	q := s.queueByName(name)
	if q == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	cfs := []map[string]string{}
	for _, id := range q.cfs {
		cf := s.cfByName(strconv.Itoa(id))
		cfs = append(cfs, map[string]string{"id": strconv.Itoa(id), "type": "customfield", "ref": "customfield",
			"name": cf.name, "_url": s.url("customfield", id)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": q.id, "Name": q.name, "Lifecycle": "default", "Disabled": "0",
		"TicketCustomFields": cfs, "TicketTransactionCustomFields": []string{}})
}

func (s *Server) searchCFs(w http.ResponseWriter, r *http.Request, body []byte) {
	var filters []filter
	if err := json.Unmarshal(body, &filters); err != nil {
		writeError(w, http.StatusBadRequest, "JSON parse error: malformed JSON string, "+err.Error())
		return
	}
	withDisabled := r.URL.Query().Get("find_disabled_rows") == "1"
	var items []map[string]any
	for _, cf := range s.cfs {
		if cf.disabled && !withDisabled {
			continue
		}
		rec := map[string]string{"Name": cf.name, "LookupType": "RT::Queue-RT::Ticket", "Type": cf.typ}
		if matchFilters(filters, rec) {
			items = append(items, map[string]any{"id": strconv.Itoa(cf.id), "type": "customfield", "_url": s.url("customfield", cf.id)})
		}
	}
	writePage(w, r, s, "/customfields", items)
}

func (s *Server) getCF(w http.ResponseWriter, id string) {
	cf := s.cfByName(id)
	if cf == nil || strconv.Itoa(cf.id) != id {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	disabled := "0"
	if cf.disabled {
		disabled = "1"
	}
	vals := cf.values
	if vals == nil {
		vals = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": cf.id, "Name": cf.name, "Type": cf.typ,
		"LookupType": "RT::Queue-RT::Ticket", "MaxValues": "1", "Disabled": disabled, "Values": vals})
}
