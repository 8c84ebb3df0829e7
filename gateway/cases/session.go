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
	nowArg    any // now as a statement argument (store.Dialect.TimeArg), made once
	customers map[string]int64
	cases     map[string]*caseState // by base key
	order     []*caseState
	hist      []historyRow // status changes not yet written
}

// caseState is what a session knows and accumulates about one case.
type caseState struct {
	id         int64
	key        string
	baseKey    string
	generation int
	customerID int64
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

// Begin starts a session in tx, a transaction of db.
func (a *Aggregator) Begin(db *store.DB, tx *sqlx.Tx) *Session {
	now := a.Now()
	return &Session{
		a: a, tx: tx, st: newStmtCache(tx, db.Stmts(tx), db.Dialect()), now: now, nowArg: db.Dialect().TimeArg(now),
		customers: map[string]int64{},
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
	var out [1]Assigned
	if err := s.AddAll(ctx, []Item{it}, out[:]); err != nil {
		return 0, 0, err
	}
	return out[0].CaseID, out[0].CustomerID, nil
}

// Assigned is where AddAll put an item.
type Assigned struct{ CaseID, CustomerID int64 }

// AddAll is Add for many items at once, out[i] receiving where items[i]
// went. The customers and cases it meets for the first time are looked up
// and created together: a few statements for a batch of events instead of
// several per new case (on PostgreSQL each is a round trip).
func (s *Session) AddAll(ctx context.Context, items []Item, out []Assigned) error {
	if len(out) < len(items) {
		return errors.New("cases: AddAll needs an out slot per item")
	}
	keys := make([]string, len(items))
	var fresh []int // the first item of each key this session has not met
	seen := map[string]bool{}
	for i := range items {
		if err := items[i].Customer.validate(); err != nil {
			return err
		}
		keys[i] = buildKey(s.a.key, items[i].Customer.Key, items[i].Event)
		if _, ok := s.cases[keys[i]]; !ok && !seen[keys[i]] {
			seen[keys[i]] = true
			fresh = append(fresh, i)
		}
	}
	if len(fresh) > 0 {
		if err := s.openAll(ctx, items, keys, fresh); err != nil {
			return err
		}
	}
	for i := range items {
		cs := s.cases[keys[i]]
		cs.add(&items[i])
		out[i] = Assigned{CaseID: cs.id, CustomerID: cs.customerID}
	}
	return nil
}

// add counts an event into the case.
func (cs *caseState) add(it *Item) {
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
}

// batchRows bounds the rows of one multi-row statement, well inside both
// databases' parameter limits (SQLite 32,766; PostgreSQL 65,535).
const batchRows = 500

// upsertCustomers records the customers this session has not yet, and
// learns their ids.
func (s *Session) upsertCustomers(ctx context.Context, cs []Customer) error {
	for len(cs) > 0 {
		chunk := cs[:s.st.rows(len(cs), batchRows)]
		cs = cs[len(chunk):]
		var b strings.Builder
		b.WriteString(`INSERT INTO customers (key, name, emails, connector, queue, language, tags, created_at, updated_at) VALUES `)
		args := make([]any, 0, 9*len(chunk))
		for i, c := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			emails, _ := json.Marshal(nonNil(c.Emails))
			tags, _ := json.Marshal(nonNil(c.Tags))
			args = append(args, c.Key, c.Name, string(emails), c.Connector, c.Queue, c.Language, string(tags), s.now, s.now)
		}
		b.WriteString(`
		ON CONFLICT (key) DO UPDATE SET name = excluded.name, emails = excluded.emails, connector = excluded.connector,
			queue = excluded.queue, language = excluded.language, tags = excluded.tags, updated_at = excluded.updated_at
		RETURNING id, key`)
		var rows []struct {
			ID  int64  `db:"id"`
			Key string `db:"key"`
		}
		if err := s.st.batchSel(ctx, len(chunk), batchRows, &rows, b.String(), args...); err != nil {
			return fmt.Errorf("recording %d customers: %w", len(chunk), err)
		}
		for _, r := range rows {
			s.customers[r.Key] = r.ID
		}
		for _, c := range chunk {
			if _, ok := s.customers[c.Key]; !ok {
				return fmt.Errorf("recording customer %s: no id returned", c.Key)
			}
		}
	}
	return nil
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
	BaseKey    string       `db:"base_key"`
	Generation int          `db:"generation"`
	State      string       `db:"state"`
	ResolvedAt sql.NullTime `db:"resolved_at"`
	UpdatedAt  time.Time    `db:"updated_at"`
	Connector  string       `db:"connector"`
	Queue      string       `db:"queue"`
	Notify     bool         `db:"notify"`
}

// latestCases returns the newest case of each base key that has one.
func (s *Session) latestCases(ctx context.Context, keys []string) (map[string]latestCase, error) {
	out := make(map[string]latestCase, len(keys))
	for len(keys) > 0 {
		chunk := keys[:s.st.rows(len(keys), batchRows)]
		keys = keys[len(chunk):]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		var rows []latestCase
		err := s.st.batchSel(ctx, len(chunk), batchRows, &rows, `SELECT id, case_key, base_key, generation, state, resolved_at, updated_at, connector, queue, notify
			FROM cases WHERE base_key IN (`+store.Placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("finding the cases of %d keys: %w", len(chunk), err)
		}
		for _, r := range rows {
			if l, ok := out[r.BaseKey]; !ok || r.Generation > l.Generation {
				out[r.BaseKey] = r
			}
		}
	}
	return out, nil
}

// openAll finds or creates the cases of the keys of items[fresh], deciding
// for each between adding to an open case, reopening a closed one and
// following up a case closed before the reopen window.
func (s *Session) openAll(ctx context.Context, items []Item, keys []string, fresh []int) error {
	var custs []Customer
	pending := map[string]bool{}
	for _, i := range fresh {
		c := items[i].Customer
		if _, ok := s.customers[c.Key]; !ok && !pending[c.Key] {
			pending[c.Key] = true
			custs = append(custs, c)
		}
	}
	if err := s.upsertCustomers(ctx, custs); err != nil {
		return err
	}
	bases := make([]string, len(fresh))
	for j, i := range fresh {
		bases[j] = keys[i]
	}
	latest, err := s.latestCases(ctx, bases)
	if err != nil {
		return err
	}
	var created []*caseState
	for _, i := range fresh {
		it := items[i]
		cs := &caseState{
			baseKey: keys[i], customerID: s.customers[it.Customer.Key], route: it.Route,
			classTax: it.Event.String("classification.taxonomy"), classType: it.Event.String("classification.type"),
			classID: it.Event.String("classification.identifier"), feed: it.Event.String("feed.name"),
			ips: map[string]*ipState{}, feeds: map[string]bool{},
		}
		if cs.classID == "" {
			cs.classID = cs.classType
		}
		s.cases[cs.baseKey] = cs
		s.order = append(s.order, cs)
		l, ok := latest[cs.baseKey]
		switch {
		case !ok:
			cs.generation, cs.outcome = 1, OutcomeNew
			created = append(created, cs)
			continue
		case !closedState(l.State):
			cs.id, cs.key, cs.generation, cs.outcome = l.ID, l.Key, l.Generation, OutcomeUpdated
			// The case keeps the route it was created with: its ticket is there.
			cs.route.Connector, cs.route.Queue, cs.route.Notify = l.Connector, l.Queue, l.Notify
			continue
		}
		closedAt := l.UpdatedAt
		if l.ResolvedAt.Valid {
			closedAt = l.ResolvedAt.Time
		}
		cs.closedAt = closedAt.UTC()
		if s.now.Sub(cs.closedAt) <= s.a.cfg.ReopenWindow {
			cs.id, cs.key, cs.generation, cs.outcome = l.ID, l.Key, l.Generation, OutcomeReopened
			cs.prevState = l.State
			cs.route.Connector, cs.route.Queue, cs.route.Notify = l.Connector, l.Queue, l.Notify
			if err := s.reopen(ctx, cs); err != nil {
				return err
			}
			continue
		}
		cs.generation, cs.previousID, cs.outcome = l.Generation+1, l.ID, OutcomeFollowUp
		created = append(created, cs)
	}
	return s.createAll(ctx, created)
}

// createAll inserts new case rows (counters are written by Finish).
func (s *Session) createAll(ctx context.Context, created []*caseState) error {
	for len(created) > 0 {
		chunk := created[:s.st.rows(len(created), batchRows)]
		created = created[len(chunk):]
		var b strings.Builder
		b.WriteString(`INSERT INTO cases
		(case_key, base_key, generation, customer_id, classification_taxonomy, classification_type, classification_identifier,
		 feed_name, connector, queue, template, notify, state, status, first_seen, last_seen, last_update_at,
		 previous_case_id, created_at, updated_at) VALUES `)
		args := make([]any, 0, 18*len(chunk))
		byKey := make(map[string]*caseState, len(chunk))
		for i, cs := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 'new', ?, ?, ?, ?, ?, ?)")
			cs.key = generationKey(cs.baseKey, cs.generation)
			byKey[cs.key] = cs
			var prev any
			if cs.previousID != 0 {
				prev = cs.previousID
			}
			args = append(args, cs.key, cs.baseKey, cs.generation, cs.customerID, cs.classTax, cs.classType, cs.classID,
				cs.feed, cs.route.Connector, cs.route.Queue, cs.route.Template, cs.route.Notify, s.now, s.now, s.now,
				prev, s.now, s.now)
		}
		b.WriteString(` RETURNING id, case_key`)
		var rows []struct {
			ID  int64  `db:"id"`
			Key string `db:"case_key"`
		}
		if err := s.st.batchSel(ctx, len(chunk), batchRows, &rows, b.String(), args...); err != nil {
			return fmt.Errorf("creating %d cases: %w", len(chunk), err)
		}
		ids := make([]any, 0, len(rows)+1)
		ids = append(ids, s.a.cfg.ReferencePrefix)
		for _, r := range rows {
			if cs := byKey[r.Key]; cs != nil {
				cs.id = r.ID
				ids = append(ids, r.ID)
			}
		}
		for _, cs := range chunk {
			if cs.id == 0 {
				return fmt.Errorf("creating case %s: no id returned", cs.key)
			}
			s.hist = append(s.hist, historyRow{cs.id, "", "new", "case opened"})
		}
		// The reference is the prefix and the id ("ABUSE-42"), known only now.
		if _, err := s.st.batchExec(ctx, len(rows), batchRows, `UPDATE cases SET reference = ? || '-' || CAST(id AS TEXT) WHERE id IN (`+store.Placeholders(len(rows))+`)`, ids...); err != nil {
			return fmt.Errorf("setting references of %d cases: %w", len(rows), err)
		}
	}
	return nil
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
		chunk := rows[:s.st.rows(len(rows), historyBatch)]
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
		if _, err := s.st.batchExec(ctx, len(chunk), historyBatch, b.String(), args...); err != nil {
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
	var sum Summary
	if err := s.flushHistory(ctx); err != nil {
		return sum, err
	}
	if err := s.flushIPs(ctx); err != nil {
		return sum, err
	}
	if err := s.flushCounters(ctx); err != nil {
		return sum, err
	}
	for _, cs := range s.order {
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

// flushCounters adds the session's counts to its cases, up to batchRows
// cases in one statement.
func (s *Session) flushCounters(ctx context.Context) error {
	// PostgreSQL types the VALUES from their first row: say what they are.
	row := "(?, ?, ?, ?, ?)"
	if s.tx.DriverName() == "postgres" {
		row = "(?::bigint, ?::integer, ?::integer, ?::timestamptz, ?::timestamptz)"
	}
	todo := s.order
	for len(todo) > 0 {
		chunk := todo[:s.st.rows(len(todo), batchRows)]
		todo = todo[len(chunk):]
		var b strings.Builder
		b.WriteString(`UPDATE cases SET
			events_count = cases.events_count + v.column2,
			reports_count = cases.reports_count + 1,
			pending_events = cases.pending_events + v.column3,
			first_seen = CASE WHEN cases.events_count = 0 OR v.column4 < cases.first_seen THEN v.column4 ELSE cases.first_seen END,
			last_seen = CASE WHEN cases.events_count = 0 OR v.column5 > cases.last_seen THEN v.column5 ELSE cases.last_seen END,
			ips_count = (SELECT count(*) FROM case_ips WHERE case_ips.case_id = cases.id),
			version = cases.version + 1,
			updated_at = ?
		FROM (VALUES `)
		args := make([]any, 0, 1+5*len(chunk))
		args = append(args, s.now)
		for i, cs := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			// Events of a new or reopened case are in its first message;
			// only events of a case already announced wait for the next
			// update.
			pending := 0
			if cs.outcome == OutcomeUpdated {
				pending = cs.events
			}
			args = append(args, cs.id, cs.events, pending, cs.first, cs.last)
		}
		b.WriteString(`) AS v WHERE cases.id = v.column1`)
		if _, err := s.st.batchExec(ctx, len(chunk), batchRows, b.String(), args...); err != nil {
			return fmt.Errorf("updating counters of %d cases: %w", len(chunk), err)
		}
	}
	return nil
}

// ipBatch is how many addresses one statement records (7 parameters
// each).
const ipBatch = 1000

// ipArgs are the parameters of one address (upsertIPsSQL).
const ipArgs = 7

// flushIPs records the addresses of the session's cases (case by case,
// each sorted), up to ipBatch in one statement; flushCounters then counts
// them.
func (s *Session) flushIPs(ctx context.Context) error {
	upsert := s.order
	if s.tx.DriverName() == "postgres" {
		// The addresses of cases this session opened cannot be there yet:
		// COPY them, several times faster than upserting.
		upsert = nil
		var fresh []*caseState
		for _, cs := range s.order {
			if cs.outcome == OutcomeNew || cs.outcome == OutcomeFollowUp {
				fresh = append(fresh, cs)
			} else {
				upsert = append(upsert, cs)
			}
		}
		if err := s.copyIPs(ctx, fresh); err != nil {
			return err
		}
	}
	args := make([]any, 0, ipArgs*ipBatch)
	n := 0
	write := func() error {
		rest := args
		for n > 0 {
			k := s.st.rows(n, ipBatch)
			if _, err := s.st.batchExec(ctx, k, ipBatch, upsertIPsSQL(k), rest[:ipArgs*k]...); err != nil {
				return fmt.Errorf("recording %d addresses: %w", k, err)
			}
			rest, n = rest[ipArgs*k:], n-k
		}
		args = args[:0]
		return nil
	}
	for _, cs := range upsert {
		ips := slices.Sorted(maps.Keys(cs.ips))
		for _, ip := range ips {
			st := cs.ips[ip]
			args = append(args, cs.id, ip, st.first, st.last, st.events, s.nowArg, s.nowArg)
			if n++; n == ipBatch {
				if err := write(); err != nil {
					return err
				}
			}
		}
	}
	return write()
}

// copyIPs records the addresses of new cases with COPY (PostgreSQL).
func (s *Session) copyIPs(ctx context.Context, fresh []*caseState) error {
	if len(fresh) == 0 {
		return nil
	}
	st, err := s.tx.PrepareContext(ctx, `COPY case_ips (case_id, ip, first_seen, last_seen, events, added_at, seen_at) FROM STDIN`)
	if err != nil {
		return fmt.Errorf("recording addresses of %d new cases: %w", len(fresh), err)
	}
	defer st.Close()
	for _, cs := range fresh {
		for _, ip := range slices.Sorted(maps.Keys(cs.ips)) {
			a := cs.ips[ip]
			if _, err := st.ExecContext(ctx, cs.id, ip, a.first, a.last, a.events, s.now, s.now); err != nil {
				return fmt.Errorf("recording addresses of case %s: %w", cs.key, err)
			}
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		return fmt.Errorf("recording addresses of %d new cases: %w", len(fresh), err)
	}
	return st.Close()
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
