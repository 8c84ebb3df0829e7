package cases

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/normalizer"
)

// Aggregator applies events to cases. It is safe for concurrent use; each
// transaction gets its own Session.
type Aggregator struct {
	cfg      Config
	key      []keyPart
	renderer Renderer
	desk     Desk
	now      func() time.Time
}

// Options are the Aggregator's collaborators.
type Options struct {
	Renderer Renderer
	Desk     Desk
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New builds an Aggregator.
func New(cfg Config, opts Options) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Renderer == nil {
		return nil, errors.New("cases: a Renderer is required")
	}
	key, err := compileKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Aggregator{cfg: cfg.withDefaults(), key: key, renderer: opts.Renderer, desk: opts.Desk, now: now}, nil
}

// Now returns the aggregator's clock reading.
func (a *Aggregator) Now() time.Time { return store.Time(a.now()) }

// Outcome says what Add did with a case.
type Outcome int

// Outcomes of adding events to a case, in one session.
const (
	OutcomeUpdated  Outcome = iota // added to an open case
	OutcomeNew                     // a new case (a ticket will be created)
	OutcomeReopened                // a closed case reopened
	OutcomeFollowUp                // a new case following a case closed long ago
)

// Session collects the case changes of one transaction (one report).
type Session struct {
	a         *Aggregator
	tx        *sqlx.Tx
	st        *stmtCache
	now       time.Time
	customers map[string]int64
	// custRows are the customers as this session wrote them (messages
	// quote them).
	custRows map[string]Customer
	cases    map[string]*caseState // by base key
	order    []*caseState
	hist     []historyRow // status changes not yet written
}

// caseState is what a session knows and accumulates about one case.
type caseState struct {
	id         int64
	key        string
	baseKey    string
	generation int
	customerID int64
	customer   Customer
	route      routing.Route
	classTax   string
	classType  string
	classID    string
	feed       string
	outcome    Outcome
	previousID int64
	closedAt   time.Time // of the case reopened or followed up

	events    int
	first     time.Time
	last      time.Time
	ips       map[string]*ipState
	feeds     map[string]bool
	prevState string
}

type ipState struct {
	first, last time.Time
	events      int
}

// Begin starts a session in tx.
func (a *Aggregator) Begin(tx *sqlx.Tx) *Session {
	return &Session{
		a: a, tx: tx, st: newStmtCache(tx), now: a.Now(),
		customers: map[string]int64{},
		custRows:  map[string]Customer{},
		cases:     map[string]*caseState{},
	}
}

// Item is one owned, routed event.
type Item struct {
	Event    *normalizer.Event
	Customer Customer
	Route    routing.Route
	// At is when the event happened (time.source, else time.observation,
	// else when its report arrived).
	At time.Time
}

// Add assigns an event to its case, creating or reopening the case when
// needed, and returns the ids of the case and of its customer. Counters are
// kept in memory until Finish.
func (s *Session) Add(ctx context.Context, it Item) (caseID, customerID int64, err error) {
	if err := it.Customer.validate(); err != nil {
		return 0, 0, err
	}
	base := buildKey(s.a.key, it.Customer.Key, it.Event)
	cs, ok := s.cases[base]
	if !ok {
		var err error
		cs, err = s.open(ctx, base, it)
		if err != nil {
			return 0, 0, err
		}
		s.cases[base] = cs
		s.order = append(s.order, cs)
	}
	at := store.Time(it.At)
	cs.events++
	if cs.first.IsZero() || at.Before(cs.first) {
		cs.first = at
	}
	if at.After(cs.last) {
		cs.last = at
	}
	if ip := ipKey(it.Event); ip != "" {
		st := cs.ips[ip]
		if st == nil {
			st = &ipState{first: at, last: at}
			cs.ips[ip] = st
		}
		st.events++
		if at.Before(st.first) {
			st.first = at
		}
		if at.After(st.last) {
			st.last = at
		}
	}
	if f := it.Event.String("feed.name"); f != "" {
		cs.feeds[f] = true
	}
	return cs.id, cs.customerID, nil
}

// customerID upserts the customer row once per session.
func (s *Session) customerID(ctx context.Context, c Customer) (int64, error) {
	if id, ok := s.customers[c.Key]; ok {
		return id, nil
	}
	emails, _ := json.Marshal(nonNil(c.Emails))
	tags, _ := json.Marshal(nonNil(c.Tags))
	var id int64
	err := s.st.get(ctx, &id, `INSERT INTO customers (key, name, emails, connector, queue, language, tags, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET name = excluded.name, emails = excluded.emails, connector = excluded.connector,
			queue = excluded.queue, language = excluded.language, tags = excluded.tags, updated_at = excluded.updated_at
		RETURNING id`,
		c.Key, c.Name, string(emails), c.Connector, c.Queue, c.Language, string(tags), s.now, s.now)
	if err != nil {
		return 0, fmt.Errorf("recording customer %s: %w", c.Key, err)
	}
	s.customers[c.Key] = id
	s.custRows[c.Key] = c
	return id, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// latestCase is the newest case of a base key.
type latestCase struct {
	ID         int64        `db:"id"`
	Key        string       `db:"case_key"`
	Generation int          `db:"generation"`
	State      string       `db:"state"`
	ResolvedAt sql.NullTime `db:"resolved_at"`
	UpdatedAt  time.Time    `db:"updated_at"`
	Connector  string       `db:"connector"`
	Queue      string       `db:"queue"`
	Notify     bool         `db:"notify"`
}

// open finds or creates the case an event of base key belongs to, deciding
// between adding to an open case, reopening a closed one and following up a
// case closed before the reopen window.
func (s *Session) open(ctx context.Context, base string, it Item) (*caseState, error) {
	custID, err := s.customerID(ctx, it.Customer)
	if err != nil {
		return nil, err
	}
	cs := &caseState{
		baseKey: base, customerID: custID, customer: it.Customer, route: it.Route,
		classTax: it.Event.String("classification.taxonomy"), classType: it.Event.String("classification.type"),
		classID: it.Event.String("classification.identifier"), feed: it.Event.String("feed.name"),
		ips: map[string]*ipState{}, feeds: map[string]bool{},
	}
	if cs.classID == "" {
		cs.classID = cs.classType
	}
	var latest latestCase
	err = s.st.get(ctx, &latest, `SELECT id, case_key, generation, state, resolved_at, updated_at, connector, queue, notify
		FROM cases WHERE base_key = ? ORDER BY generation DESC LIMIT 1`, base)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cs, s.create(ctx, cs, 1, 0)
	case err != nil:
		return nil, fmt.Errorf("finding case %s: %w", base, err)
	}
	if !closedState(latest.State) {
		cs.id, cs.key, cs.generation, cs.outcome = latest.ID, latest.Key, latest.Generation, OutcomeUpdated
		// The case keeps the route it was created with: its ticket is there.
		cs.route.Connector, cs.route.Queue, cs.route.Notify = latest.Connector, latest.Queue, latest.Notify
		return cs, nil
	}
	closedAt := latest.UpdatedAt
	if latest.ResolvedAt.Valid {
		closedAt = latest.ResolvedAt.Time
	}
	cs.closedAt = closedAt.UTC()
	if s.now.Sub(cs.closedAt) <= s.a.cfg.ReopenWindow {
		cs.id, cs.key, cs.generation, cs.outcome = latest.ID, latest.Key, latest.Generation, OutcomeReopened
		cs.prevState = latest.State
		cs.route.Connector, cs.route.Queue, cs.route.Notify = latest.Connector, latest.Queue, latest.Notify
		return cs, s.reopen(ctx, cs)
	}
	if err := s.create(ctx, cs, latest.Generation+1, latest.ID); err != nil {
		return nil, err
	}
	cs.outcome = OutcomeFollowUp
	return cs, nil
}

// create inserts a new case row (counters are written by Finish).
func (s *Session) create(ctx context.Context, cs *caseState, generation int, previous int64) error {
	cs.generation, cs.previousID, cs.outcome = generation, previous, OutcomeNew
	cs.key = generationKey(cs.baseKey, generation)
	var prev any
	if previous != 0 {
		prev = previous
	}
	err := s.st.get(ctx, &cs.id, `INSERT INTO cases
		(case_key, base_key, generation, customer_id, classification_taxonomy, classification_type, classification_identifier,
		 feed_name, connector, queue, template, notify, state, status, first_seen, last_seen, last_update_at,
		 previous_case_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 'new', ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		cs.key, cs.baseKey, generation, cs.customerID, cs.classTax, cs.classType, cs.classID,
		cs.feed, cs.route.Connector, cs.route.Queue, cs.route.Template, cs.route.Notify, s.now, s.now, s.now,
		prev, s.now, s.now)
	if err != nil {
		return fmt.Errorf("creating case %s: %w", cs.key, err)
	}
	if _, err := s.st.exec(ctx, `UPDATE cases SET reference = ? WHERE id = ?`, s.a.cfg.reference(cs.id), cs.id); err != nil {
		return fmt.Errorf("setting reference of case %s: %w", cs.key, err)
	}
	return s.history(ctx, cs.id, "", "new", "case opened")
}

// reopen moves a closed case back to open.
func (s *Session) reopen(ctx context.Context, cs *caseState) error {
	_, err := s.st.exec(ctx, `UPDATE cases SET state = 'open', status = 'open', reopen_count = reopen_count + 1,
		resolved_at = NULL, last_update_at = ?, pending_events = 0, version = version + 1, updated_at = ? WHERE id = ?`,
		s.now, s.now, cs.id)
	if err != nil {
		return fmt.Errorf("reopening case %s: %w", cs.key, err)
	}
	return s.history(ctx, cs.id, cs.prevState, "open", "seen again after closure: reopened")
}

// history records a change of status, written by Finish with the others.
func (s *Session) history(_ context.Context, caseID int64, from, to, reason string) error {
	s.hist = append(s.hist, historyRow{caseID, from, to, reason})
	return nil
}

type historyRow struct {
	caseID           int64
	from, to, reason string
}

// historyBatch is how many status changes one statement records (6
// parameters each).
const historyBatch = 1000

// flushHistory writes the session's status changes, in order.
func (s *Session) flushHistory(ctx context.Context) error {
	rows := s.hist
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), historyBatch)]
		rows = rows[len(chunk):]
		var b strings.Builder
		b.WriteString(`INSERT INTO status_history (case_id, from_status, to_status, at, source, reason, created_at) VALUES `)
		args := make([]any, 0, 6*len(chunk))
		for i, h := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, 'gateway', ?, ?)")
			args = append(args, h.caseID, h.from, h.to, s.now, h.reason, s.now)
		}
		if _, err := s.st.exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("recording status of %d cases: %w", len(chunk), err)
		}
	}
	s.hist = nil
	return nil
}

// Summary counts what a session did.
type Summary struct {
	NewCases      int
	UpdatedCases  int
	ReopenedCases int
	Operations    int
}

// Finish writes the accumulated counters and addresses, and enqueues the
// operations the session's changes cause. Events must already be stored
// (their case ids came from Add), since messages quote them.
func (s *Session) Finish(ctx context.Context) (Summary, error) {
	defer s.st.close()
	var sum Summary
	if err := s.flushHistory(ctx); err != nil {
		return sum, err
	}
	if err := s.flushIPs(ctx); err != nil {
		return sum, err
	}
	for _, cs := range s.order {
		if err := s.flushCounters(ctx, cs); err != nil {
			return sum, err
		}
		switch cs.outcome {
		case OutcomeNew, OutcomeFollowUp:
			sum.NewCases++
		case OutcomeReopened:
			sum.ReopenedCases++
		default:
			sum.UpdatedCases++
		}
	}
	// The first messages of new cases are enqueued without their text: the
	// dispatcher has it written when it sends them (see Compose).
	var ops []outbox.Op
	for _, cs := range s.order {
		o, err := s.ops(ctx, cs)
		if err != nil {
			return sum, err
		}
		ops = append(ops, o...)
	}
	n, err := enqueueAll(ctx, s.tx, ops, s.now)
	sum.Operations = n
	return sum, err
}

func (s *Session) flushCounters(ctx context.Context, cs *caseState) error {
	// Events of a new or reopened case are in its first message; only events
	// of a case already announced wait for the next update.
	pending := 0
	if cs.outcome == OutcomeUpdated {
		pending = cs.events
	}
	_, err := s.st.exec(ctx, `UPDATE cases SET
			events_count = events_count + ?,
			reports_count = reports_count + 1,
			pending_events = pending_events + ?,
			first_seen = CASE WHEN events_count = 0 OR ? < first_seen THEN ? ELSE first_seen END,
			last_seen = CASE WHEN events_count = 0 OR ? > last_seen THEN ? ELSE last_seen END,
			ips_count = (SELECT count(*) FROM case_ips WHERE case_id = ?),
			version = version + 1,
			updated_at = ?
		WHERE id = ?`,
		cs.events, pending, cs.first, cs.first, cs.last, cs.last, cs.id, s.now, cs.id)
	if err != nil {
		return fmt.Errorf("updating counters of case %s: %w", cs.key, err)
	}
	return nil
}

// ipBatch is how many addresses one statement records (7 parameters
// each).
const ipBatch = 1000

// flushIPs records the addresses of the session's cases (case by case,
// each sorted), up to ipBatch in one statement; flushCounters then counts
// them.
func (s *Session) flushIPs(ctx context.Context) error {
	args := make([]any, 0, 7*ipBatch)
	n := 0
	write := func() error {
		if n == 0 {
			return nil
		}
		if _, err := s.st.exec(ctx, upsertIPsSQL(n), args...); err != nil {
			return fmt.Errorf("recording %d addresses: %w", n, err)
		}
		args, n = args[:0], 0
		return nil
	}
	for _, cs := range s.order {
		ips := slices.Sorted(maps.Keys(cs.ips))
		for _, ip := range ips {
			st := cs.ips[ip]
			args = append(args, cs.id, ip, st.first, st.last, st.events, s.now, s.now)
			if n++; n == ipBatch {
				if err := write(); err != nil {
					return err
				}
			}
		}
	}
	return write()
}

// upsertIPsSQL is the statement recording n addresses. An address already
// in the case keeps its earliest first_seen and latest last_seen and adds
// the events.
func upsertIPsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO case_ips (case_id, ip, first_seen, last_seen, events, added_at, seen_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(`
		ON CONFLICT (case_id, ip) DO UPDATE SET
			first_seen = CASE WHEN excluded.first_seen < case_ips.first_seen THEN excluded.first_seen ELSE case_ips.first_seen END,
			last_seen = CASE WHEN excluded.last_seen > case_ips.last_seen THEN excluded.last_seen ELSE case_ips.last_seen END,
			events = case_ips.events + excluded.events,
			seen_at = excluded.seen_at`)
	return b.String()
}
