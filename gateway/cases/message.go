package cases

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/store"
)

// maxListedIPs bounds how many addresses of one case are loaded to be
// quoted in a message; the renderer caps the list further.
const maxListedIPs = 1000

// ops are the operations a session's change of one case causes.
func (s *Session) ops(ctx context.Context, cs *caseState) ([]outbox.Op, error) {
	switch cs.outcome {
	case OutcomeNew, OutcomeFollowUp:
		return createOps(cs.id, cs.key, cs.route.Connector, cs.route.Notify,
			outbox.Payload{CaseKey: cs.key, Queue: cs.route.Queue, Compose: true}, outbox.Payload{CaseKey: cs.key, Compose: true}), nil
	case OutcomeReopened:
		return s.a.reopenOps(ctx, s.tx, cs, s.now)
	}
	return nil, nil
}

// caseRow is what messages need of a case.
type caseRow struct {
	ID             int64          `db:"id"`
	Key            string         `db:"case_key"`
	Reference      string         `db:"reference"`
	Taxonomy       string         `db:"classification_taxonomy"`
	Type           string         `db:"classification_type"`
	Identifier     string         `db:"classification_identifier"`
	Feed           string         `db:"feed_name"`
	Connector      string         `db:"connector"`
	Queue          string         `db:"queue"`
	Notify         bool           `db:"notify"`
	FirstSeen      time.Time      `db:"first_seen"`
	LastSeen       time.Time      `db:"last_seen"`
	Events         int            `db:"events_count"`
	PendingEvents  int            `db:"pending_events"`
	LastUpdateAt   sql.NullTime   `db:"last_update_at"`
	ReopenCount    int            `db:"reopen_count"`
	PreviousCaseID sql.NullInt64  `db:"previous_case_id"`
	CustomerKey    string         `db:"customer_key"`
	CustomerName   string         `db:"customer_name"`
	Emails         string         `db:"emails"`
	Language       string         `db:"language"`
	ResolvedAt     sql.NullTime   `db:"resolved_at"`
	State          string         `db:"state"`
	Template       sql.NullString `db:"template"`
}

const caseRowSQL = `SELECT c.id, c.case_key, c.reference, c.classification_taxonomy, c.classification_type,
	c.classification_identifier, c.feed_name, c.connector, c.queue, c.notify, c.first_seen, c.last_seen,
	c.events_count, c.pending_events, c.last_update_at, c.reopen_count, c.previous_case_id, c.resolved_at, c.state, c.template,
	COALESCE(u.key, '') AS customer_key, COALESCE(u.name, '') AS customer_name, COALESCE(u.emails, '[]') AS emails,
	COALESCE(u.language, '') AS language
	FROM cases c LEFT JOIN customers u ON u.id = c.customer_id WHERE c.id = ?`

// queryer is a *sqlx.DB or a *sqlx.Tx.
type queryer interface {
	sqlx.QueryerContext
	Rebind(string) string
}

func loadCase(ctx context.Context, q queryer, id int64) (caseRow, error) {
	var r caseRow
	if err := sqlx.GetContext(ctx, q, &r, q.Rebind(caseRowSQL), id); err != nil {
		return r, fmt.Errorf("loading case %d: %w", id, err)
	}
	return r, nil
}

func (r caseRow) emails() []string {
	var out []string
	_ = json.Unmarshal([]byte(r.Emails), &out)
	return out
}

// view builds the renderer's picture of a case, with its addresses (those
// added at or after since, when since is set, go into New).
func (a *Aggregator) view(ctx context.Context, tx *sqlx.Tx, r caseRow) (content.Case, error) {
	c := content.Case{
		Key: r.Key, Reference: r.Reference,
		Customer:       content.Customer{Key: r.CustomerKey, Name: r.CustomerName, Emails: r.emails(), Language: r.Language},
		Classification: content.Classification{Taxonomy: r.Taxonomy, Type: r.Type, Identifier: r.Identifier},
		FirstSeen:      r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC(), Events: r.Events,
		Notify: r.Notify,
		Desk:   content.Desk{Name: a.desk.Name, Email: a.desk.Email, URL: a.desk.URL},
	}
	if r.Feed != "" {
		c.Feeds = []string{r.Feed}
	}
	var feeds []string
	if err := tx.SelectContext(ctx, &feeds, tx.Rebind(`SELECT DISTINCT feed_name FROM events WHERE case_id = ? AND feed_name <> '' ORDER BY feed_name LIMIT 20`), r.ID); err != nil {
		return c, fmt.Errorf("listing feeds of case %s: %w", r.Key, err)
	}
	if len(feeds) > 0 {
		c.Feeds = feeds
	}
	ips, err := a.caseIPs(ctx, tx, r.ID, time.Time{})
	if err != nil {
		return c, err
	}
	c.IPs = ips
	if c.Samples, err = samples(ctx, tx, r.ID, a.cfg.MaxSamples); err != nil {
		return c, fmt.Errorf("loading samples of case %s: %w", r.Key, err)
	}
	return c, nil
}

// samples are the fields of the case's latest events, at most n. An event
// whose stored fields cannot be read is left out, not fatal: the message
// is still worth sending.
func samples(ctx context.Context, tx *sqlx.Tx, caseID int64, n int) ([]map[string]any, error) {
	rows, err := tx.QueryContext(ctx, tx.Rebind(`SELECT `+store.EventFieldsSelect("")+` FROM events WHERE case_id = ? ORDER BY id DESC LIMIT ?`), caseID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		if m, err := store.ScanEventFields(rows.Scan); err == nil {
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

// ipRow is one address of a case.
type ipRow struct {
	IP        string       `db:"ip"`
	FirstSeen time.Time    `db:"first_seen"`
	LastSeen  time.Time    `db:"last_seen"`
	Events    int          `db:"events"`
	AddedAt   sql.NullTime `db:"added_at"`
}

// caseIPs loads the addresses of a case (those reported after since, when
// since is set), with the ports their events name. "After", not "at or
// after": since is the time of the last message, and the addresses of the
// session that sent it (a new case's first report) carry exactly that time
// in seen_at; they were in that message and are not news.
func (a *Aggregator) caseIPs(ctx context.Context, tx *sqlx.Tx, caseID int64, since time.Time) ([]content.IP, error) {
	q := `SELECT ip, first_seen, last_seen, events, added_at FROM case_ips WHERE case_id = ?`
	args := []any{caseID}
	if !since.IsZero() {
		q += ` AND seen_at > ?`
		args = append(args, store.Time(since))
	}
	q += ` ORDER BY ip LIMIT ?`
	args = append(args, maxListedIPs)
	var rows []ipRow
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("loading addresses of case %d: %w", caseID, err)
	}
	var ports []struct {
		IP   string `db:"source_ip"`
		Port int    `db:"source_port"`
	}
	if err := tx.SelectContext(ctx, &ports, tx.Rebind(`SELECT DISTINCT source_ip, source_port FROM events
		WHERE case_id = ? AND source_port IS NOT NULL AND source_ip <> '' LIMIT 10000`), caseID); err != nil {
		return nil, fmt.Errorf("loading ports of case %d: %w", caseID, err)
	}
	byIP := map[string][]int{}
	for _, p := range ports {
		byIP[p.IP] = append(byIP[p.IP], p.Port)
	}
	out := make([]content.IP, 0, len(rows))
	for _, r := range rows {
		ps := byIP[r.IP]
		slices.Sort(ps)
		out = append(out, content.IP{Addr: r.IP, Ports: slices.Compact(ps), FirstSeen: r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC(), Events: r.Events})
	}
	return out, nil
}

// createJob is the first message of a new case: the picture of the case,
// the tickets it refers to, and what the renderer made of it.
type createJob struct {
	c        content.Case
	refersTo []string
	msg      content.Message
}

// Compose writes the first messages of a new case, enqueued without text
// (outbox.Payload.Compose): the ticket (its first text is the desk's
// internal summary) and, when the customer is notified, the reply that
// writes to them. They tell everything the case holds now, so the events
// that arrived since it was opened are announced too and no update repeats
// them. It is the dispatcher's outbox.Composer.
func (a *Aggregator) Compose(ctx context.Context, tx *sqlx.Tx, caseID int64) ([]outbox.Op, error) {
	r, err := loadCase(ctx, tx, caseID)
	if err != nil {
		return nil, err
	}
	c, err := a.view(ctx, tx, r)
	if err != nil {
		return nil, err
	}
	j := &createJob{c: c}
	if err := a.previousTicket(ctx, tx, j, r.PreviousCaseID); err != nil {
		return nil, err
	}
	if j.msg, err = a.renderer.Render(content.KindCreate, j.c); err != nil {
		return nil, fmt.Errorf("rendering the ticket of case %s: %w", r.Key, err)
	}
	now := a.Now()
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE cases SET pending_events = 0, last_update_at = ?, version = version + 1, updated_at = ?
		WHERE id = ?`), now, now, r.ID); err != nil {
		return nil, fmt.Errorf("marking the events of case %s announced: %w", r.Key, err)
	}
	create := outbox.Payload{CaseKey: r.Key, Queue: r.Queue, Subject: j.msg.Subject, Body: j.msg.Internal, RefersTo: j.refersTo}
	if r.Notify {
		// Requestors only when the customer is to hear from us: helpdesks
		// write to requestors on their own (RT's autoreply on create).
		create.Requestors = j.c.Customer.Emails
	}
	return createOps(r.ID, r.Key, r.Connector, r.Notify, create, outbox.Payload{CaseKey: r.Key, Subject: j.msg.Subject, Body: j.msg.Body}), nil
}

// previousTicket finds the ticket of the case a new case follows.
func (a *Aggregator) previousTicket(ctx context.Context, tx *sqlx.Tx, j *createJob, previous sql.NullInt64) error {
	if !previous.Valid {
		return nil
	}
	var prev struct {
		Connector string       `db:"connector"`
		ID        string       `db:"external_id"`
		URL       string       `db:"url"`
		Resolved  sql.NullTime `db:"resolved_at"`
	}
	err := tx.GetContext(ctx, &prev, tx.Rebind(`SELECT t.connector, t.external_id, t.url, c.resolved_at FROM tickets t
		JOIN cases c ON c.id = t.case_id WHERE t.case_id = ? ORDER BY t.id DESC LIMIT 1`), previous.Int64)
	switch {
	case err == nil:
		j.c.PreviousTicket = &content.TicketRef{Connector: prev.Connector, ID: prev.ID, URL: prev.URL, Closed: prev.Resolved.Time.UTC()}
		j.refersTo = []string{prev.ID}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("finding the ticket of case %d: %w", previous.Int64, err)
	}
	return nil
}

// createOps are a new case's first operations: the create and, when the
// customer is notified, the reply to them.
func createOps(caseID int64, key, connector string, notify bool, create, reply outbox.Payload) []outbox.Op {
	ops := []outbox.Op{{CaseID: caseID, Connector: connector, Kind: outbox.KindCreate, Key: key + ":create", Payload: create}}
	if notify {
		ops = append(ops, outbox.Op{CaseID: caseID, Connector: connector, Kind: outbox.KindReply, Key: key + ":create:reply", Payload: reply})
	}
	return ops
}

// reopenOps renders the reopening of a closed case with the
// evidence this session brought.
func (a *Aggregator) reopenOps(ctx context.Context, tx *sqlx.Tx, cs *caseState, now time.Time) ([]outbox.Op, error) {
	r, err := loadCase(ctx, tx, cs.id)
	if err != nil {
		return nil, err
	}
	c, err := a.view(ctx, tx, r)
	if err != nil {
		return nil, err
	}
	delta, err := a.delta(ctx, tx, r.ID, cs.closedAt, now, cs.events)
	if err != nil {
		return nil, err
	}
	c.New = delta
	msg, err := a.renderer.Render(content.KindReopen, c)
	if err != nil {
		return nil, fmt.Errorf("rendering the reopening of case %s: %w", r.Key, err)
	}
	body := msg.Internal
	if r.Notify {
		body = msg.Body
	}
	op := outbox.Op{
		CaseID: r.ID, Connector: r.Connector, Kind: outbox.KindReopen, Key: r.Key + ":reopen:" + strconv.Itoa(r.ReopenCount),
		Payload: outbox.Payload{CaseKey: r.Key, Subject: msg.Subject, Body: body, Notify: r.Notify},
	}
	return []outbox.Op{op}, nil
}

// delta lists what is new since a point in time: addresses that joined the
// case (added_at) or were reported again (seen_at) after it (strictly: see
// caseIPs).
func (a *Aggregator) delta(ctx context.Context, tx *sqlx.Tx, caseID int64, since, now time.Time, events int) (*content.Delta, error) {
	ips, err := a.caseIPs(ctx, tx, caseID, since)
	if err != nil {
		return nil, err
	}
	var newIPs int
	if err := tx.GetContext(ctx, &newIPs, tx.Rebind(`SELECT count(*) FROM case_ips WHERE case_id = ? AND added_at > ?`), caseID, store.Time(since)); err != nil {
		return nil, fmt.Errorf("counting new addresses of case %d: %w", caseID, err)
	}
	return &content.Delta{Since: since.UTC(), Events: events, IPs: ips, NewIPs: newIPs}, nil
}

// enqueueAll enqueues ops. Without a helpdesk (no connector configured or
// routed) a case is kept but nothing is enqueued: there is nowhere to send it.
func enqueueAll(ctx context.Context, tx *sqlx.Tx, ops []outbox.Op, now time.Time) (int, error) {
	keep := ops[:0:0]
	for _, op := range ops {
		if op.Connector != "" {
			keep = append(keep, op)
		}
	}
	if len(keep) == 0 {
		return 0, nil
	}
	if len(keep) == 1 {
		_, created, err := outbox.Enqueue(ctx, tx, keep[0], now)
		if err != nil || !created {
			return 0, err
		}
		return 1, nil
	}
	return outbox.EnqueueBatch(ctx, tx, keep, now)
}
