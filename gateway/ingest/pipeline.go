package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
	"github.com/abusegw/abusegw/normalizer"
	"github.com/abusegw/abusegw/normalizer/auto"
)

// Options configure a Pipeline.
type Options struct {
	DB       *store.DB
	Contacts contacts.Resolver
	// CatchAll owns the events nobody else does; nil drops them (they are
	// stored and counted as unowned either way).
	CatchAll   *contacts.Customer
	Router     *routing.Router
	Aggregator *cases.Aggregator
	// Normalizer options (Shadowserver schema, generic CSV feeds); Format,
	// Type and Filename are set per report.
	Normalizer auto.Options
	// DataDir holds the spool and reports larger than InlineMax.
	DataDir string
	// InlineMax is the largest report kept inside the database. Default 8 MiB.
	InlineMax int64
	// MaxReport refuses larger reports; 0 means no limit.
	MaxReport int64
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Pipeline stores and processes reports.
type Pipeline struct {
	db        *store.DB
	contacts  contacts.Resolver
	catchAll  *contacts.Customer
	router    *routing.Router
	agg       *cases.Aggregator
	norm      auto.Options
	dataDir   string
	inlineMax int64
	maxReport int64
	log       *slog.Logger
	clock     func() time.Time
}

// New builds a Pipeline.
func New(o Options) (*Pipeline, error) {
	if o.DB == nil || o.Contacts == nil || o.Router == nil || o.Aggregator == nil {
		return nil, errors.New("ingest: DB, Contacts, Router and Aggregator are required")
	}
	p := &Pipeline{
		db: o.DB, contacts: o.Contacts, catchAll: o.CatchAll, router: o.Router, agg: o.Aggregator,
		norm: o.Normalizer, dataDir: o.DataDir, inlineMax: o.InlineMax, maxReport: o.MaxReport,
		log: o.Logger, clock: o.Now,
	}
	if p.dataDir == "" {
		p.dataDir = "."
	}
	if p.inlineMax <= 0 {
		p.inlineMax = 8 << 20
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	return p, nil
}

// Summary counts what processing did.
type Summary struct {
	Reports      int `json:"reports"`
	Duplicates   int `json:"duplicates"`
	Unrecognized int `json:"unrecognized"`
	Failed       int `json:"failed"`
	Events       int `json:"events"`
	Rejected     int `json:"rejected"`
	Unowned      int `json:"unowned"`
	Ignored      int `json:"ignored"`
	NewCases     int `json:"new_cases"`
	UpdatedCases int `json:"updated_cases"`
	Reopened     int `json:"reopened_cases"`
	Operations   int `json:"operations"`
}

// Add accumulates another summary.
func (s *Summary) Add(o Summary) {
	s.Reports += o.Reports
	s.Duplicates += o.Duplicates
	s.Unrecognized += o.Unrecognized
	s.Failed += o.Failed
	s.Events += o.Events
	s.Rejected += o.Rejected
	s.Unowned += o.Unowned
	s.Ignored += o.Ignored
	s.NewCases += o.NewCases
	s.UpdatedCases += o.UpdatedCases
	s.Reopened += o.Reopened
	s.Operations += o.Operations
}

// Ingest stores one report and processes it: the one entry point of every
// channel. A report stored before is recognised and changes nothing, unless
// its earlier processing did not finish, which this run then completes.
func (p *Pipeline) Ingest(ctx context.Context, src Source, r io.Reader) (Stored, Summary, error) {
	st, err := p.Store(ctx, src, r)
	if err != nil {
		return st, Summary{}, err
	}
	sum, err := p.Process(ctx, st.ID)
	if st.Duplicate && sum.Reports == 0 {
		sum.Duplicates++
	}
	return st, sum, err
}

// reportRow is a stored report awaiting processing.
type reportRow struct {
	ID         int64     `db:"id"`
	Name       string    `db:"source_name"`
	Raw        []byte    `db:"raw"`
	RawRef     string    `db:"raw_ref"`
	ReceivedAt time.Time `db:"received_at"`
	Status     string    `db:"status"`
}

// ProcessPending processes every stored report whose processing has not
// completed (after a crash, or reports stored by a channel that only
// stores).
func (p *Pipeline) ProcessPending(ctx context.Context) (Summary, error) {
	var ids []int64
	if err := p.db.SelectContext(ctx, &ids, `SELECT id FROM reports WHERE status IN ('received', 'processing') ORDER BY id`); err != nil {
		return Summary{}, fmt.Errorf("listing pending reports: %w", err)
	}
	var total Summary
	for _, id := range ids {
		sum, err := p.Process(ctx, id)
		total.Add(sum)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Process normalizes a stored report and applies its events, in one
// transaction. A report already processed is left alone (Summary.Reports is
// then 0).
func (p *Pipeline) Process(ctx context.Context, reportID int64) (Summary, error) {
	for attempt := 1; ; attempt++ {
		sum, err := p.processOnce(ctx, reportID)
		if !store.Retryable(err) || attempt == maxAttempts {
			return sum, err
		}
		// Rolled back whole: run it again from the stored report.
		p.log.Warn("report met another transaction, processing it again", "report", reportID, "attempt", attempt, "err", err)
	}
}

// maxAttempts bounds how often Process runs a report whose transaction
// PostgreSQL gave up (store.Retryable).
const maxAttempts = 5

func (p *Pipeline) processOnce(ctx context.Context, reportID int64) (Summary, error) {
	var sum Summary
	var perr *processError
	start := time.Now()
	// The report is opened and its first events read before the write
	// transaction begins: on SQLite, where writers queue for one lock, the
	// reading of one report then runs beside the database work of another.
	o, err := p.open(ctx, reportID)
	if err != nil || o == nil {
		return Summary{}, err
	}
	defer o.close()
	err = p.db.InTx(ctx, func(tx *sqlx.Tx) error {
		s, err := p.process(ctx, tx, o)
		sum = s
		if errors.As(err, &perr) {
			return nil // recorded on the report below, in its own transaction
		}
		return err
	})
	if err != nil {
		return Summary{}, err
	}
	if sum.Reports > 0 {
		p.log.Debug("report processed", "report", reportID, "events", sum.Events, "new_cases", sum.NewCases,
			"took", time.Since(start)) // with the commit, unlike "report stages"
	}
	if perr != nil {
		sum.Reports, sum.Failed = 1, 1
		if err := p.markFailed(ctx, reportID, perr); err != nil {
			return sum, err
		}
		p.log.Warn("report failed", "report", reportID, "err", perr.err)
	}
	return sum, nil
}

// opened is a report opened for processing, its events being read.
type opened struct {
	id   int64
	info auto.Info
	// openErr is why the report could not be opened; chunks is then nil.
	openErr error
	chunks  <-chan *chunk
	stop    context.CancelFunc
	raw     io.Closer
}

// open loads a report that still awaits processing and starts reading its
// events; it returns nil when the report was processed already.
func (p *Pipeline) open(ctx context.Context, reportID int64) (*opened, error) {
	var rep reportRow
	if err := p.db.GetContext(ctx, &rep, p.db.Rebind(`SELECT id, source_name, raw, raw_ref, received_at, status FROM reports WHERE id = ?`), reportID); err != nil {
		return nil, fmt.Errorf("loading report %d: %w", reportID, err)
	}
	if rep.Status != "received" && rep.Status != "processing" {
		return nil, nil
	}
	raw, err := p.openRaw(rep.Raw, rep.RawRef)
	if err != nil {
		return nil, err
	}
	o := &opened{id: reportID, raw: raw, stop: func() {}}
	opts := p.norm
	opts.Filename = rep.Name
	reader, info, err := auto.Open(raw, opts)
	o.info = info
	if err != nil {
		o.openErr = err
		return o, nil
	}
	pctx, stop := context.WithCancel(ctx)
	o.chunks, o.stop = p.produce(pctx, reader, reportID, rep.ReceivedAt.UTC(), p.now()), stop
	return o, nil
}

// close stops the reading and closes the report.
func (o *opened) close() {
	o.stop()
	// Drain, so that the producer has ended before the report's reader is
	// closed.
	if o.chunks != nil {
		for range o.chunks {
		}
	}
	_ = o.raw.Close()
}

// processError is a report that cannot be processed (a read error in the
// middle of its stream); it is recorded, not retried in a loop.
type processError struct{ err error }

func (e *processError) Error() string { return e.err.Error() }

func (p *Pipeline) markFailed(ctx context.Context, id int64, perr *processError) error {
	_, err := p.db.ExecContext(ctx, p.db.Rebind(`UPDATE reports SET status = 'failed', error = ?, processed_at = ? WHERE id = ?`),
		perr.err.Error(), p.now(), id)
	if err != nil {
		return fmt.Errorf("recording failure of report %d: %w", id, err)
	}
	return nil
}

func (p *Pipeline) process(ctx context.Context, tx *sqlx.Tx, o *opened) (Summary, error) {
	var sum Summary
	reportID := o.id
	// Claim the report: on PostgreSQL the row lock makes a second replica
	// wait here and then find it processed.
	res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE reports SET status = 'processing' WHERE id = ? AND status IN ('received', 'processing')`), reportID)
	if err != nil {
		return sum, fmt.Errorf("claiming report %d: %w", reportID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sum, nil
	}
	if tx.DriverName() == "postgres" {
		// The batch statements of a large report look expensive enough to
		// PostgreSQL's planner to compile them (JIT), which then costs more
		// than running them: about 130 ms each.
		if _, err := tx.ExecContext(ctx, `SET LOCAL jit = off`); err != nil {
			return sum, fmt.Errorf("configuring the transaction of report %d: %w", reportID, err)
		}
	}
	sum.Reports = 1
	info := o.info
	if errors.Is(o.openErr, normalizer.ErrUnrecognized) {
		sum.Unrecognized = 1
		return sum, finishReport(ctx, tx, reportID, "unrecognized", info, Summary{}, o.openErr.Error(), p.now())
	}
	if o.openErr != nil {
		return sum, &processError{fmt.Errorf("opening report %d: %w", reportID, o.openErr)}
	}

	session := p.agg.Begin(p.db, tx)
	w := newEventWriter(tx, p.db.Dialect(), p.db.Stmts(tx), reportID)
	var lastErr string
	// Where the time went, for the debug log: the database work on this
	// goroutine, and how long it waited for the reading side.
	st := stageTimes{start: time.Now()}
	st.mark = st.start
	defer func() {
		p.log.Debug("report stages", "report", reportID, "events", sum.Events, "total", time.Since(st.start),
			"waiting_for_events", st.wait, "cases", st.cases, "storing_events", st.events, "finishing_cases", st.finish)
	}()
	for c := range o.chunks {
		st.wait += st.lap()
		if c.err != nil {
			return sum, c.err
		}
		if c.lastErr != "" {
			lastErr = c.lastErr
		}
		if c.unrecognized != nil && sum.Events+c.sum.Events == 0 {
			sum.Add(c.sum)
			sum.Unrecognized = 1
			return sum, finishReport(ctx, tx, reportID, "unrecognized", info, sum, c.unrecognized.Error(), p.now())
		}
		sum.Add(c.sum)
		if err := session.AddAll(ctx, c.items, c.assigned); err != nil {
			return sum, err
		}
		st.cases += st.lap()
		for i := range c.events {
			row := c.row(i)
			if j := c.itemOf[i]; j >= 0 {
				row[colCustomer], row[colCase] = nullInt(c.assigned[j].CustomerID), nullInt(c.assigned[j].CaseID)
			}
			if err := w.add(ctx, row); err != nil {
				return sum, err
			}
		}
		st.events += st.lap()
	}
	if err := w.flush(ctx); err != nil {
		return sum, err
	}
	st.events += st.lap()
	cs, err := session.Finish(ctx)
	if err != nil {
		return sum, err
	}
	st.finish += st.lap()
	sum.NewCases, sum.UpdatedCases, sum.Reopened, sum.Operations = cs.NewCases, cs.UpdatedCases, cs.ReopenedCases, cs.Operations
	status := "processed"
	if sum.Rejected > 0 {
		status = "partial"
		if sum.Events == 0 {
			status = "failed"
		}
	}
	return sum, finishReport(ctx, tx, reportID, status, info, sum, lastErr, p.now())
}

// stageTimes add up where processing a report spent its time.
type stageTimes struct {
	start, mark                 time.Time
	wait, cases, events, finish time.Duration
}

// lap returns the time since the last lap (or the start).
func (s *stageTimes) lap() time.Duration {
	now := time.Now()
	d := now.Sub(s.mark)
	s.mark = now
	return d
}

func finishReport(ctx context.Context, tx *sqlx.Tx, id int64, status string, info auto.Info, sum Summary, msg string, now time.Time) error {
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE reports SET status = ?, format = ?, detail = ?, events_count = ?, rejected_count = ?,
		unowned_count = ?, ignored_count = ?, error = ?, processed_at = ? WHERE id = ?`),
		status, info.Format, info.Detail, sum.Events, sum.Rejected, sum.Unowned, sum.Ignored, msg, now, id)
	if err != nil {
		return fmt.Errorf("recording outcome of report %d: %w", id, err)
	}
	return nil
}

// place finds the event's owner and route: the item for its case, or
// none when it is unowned (without a catch-all) or ignored.
func (p *Pipeline) place(ctx context.Context, ev *normalizer.Event, received time.Time, sum *Summary) (eventRow, *cases.Item, error) {
	row := eventRow{disposition: "unowned"}
	q := contacts.Query{FQDN: ev.String("source.fqdn")}
	if a, ok := ev.Addr("source.ip"); ok {
		q.IP = a
	}
	if asn, ok := ev.Int("source.asn"); ok {
		q.ASN = asn
	}
	if q.FQDN == "" {
		if u, err := url.Parse(ev.String("source.url")); err == nil {
			q.FQDN = u.Hostname()
		}
	}
	cust, ok, err := p.contacts.Lookup(ctx, q)
	if err != nil {
		// Every source failed: the event cannot be placed now. Failing the
		// report rolls it back, and a later run places it.
		return row, nil, fmt.Errorf("looking up the owner of %v: %w", q.IP, err)
	}
	if !ok {
		sum.Unowned++
		if p.catchAll == nil {
			return row, nil, nil
		}
		cust = *p.catchAll
	}
	in := routing.Input{
		Customer: cust.Key, Tags: cust.Tags, CustomerConnector: cust.Connector, CustomerQueue: cust.Queue,
		ClassificationType: ev.String("classification.type"), ClassificationIdentifier: ev.String("classification.identifier"),
		Feed: ev.String("feed.name"), IP: q.IP,
	}
	route := p.router.Decide(in)
	if route.Ignore {
		sum.Ignored++
		row.disposition = "ignored"
		return row, nil, nil
	}
	at := received
	for _, k := range []string{"time.source", "time.observation"} {
		if t, ok := ev.Time(k); ok {
			at = t
			break
		}
	}
	if ok {
		row.disposition = "case"
	}
	return row, &cases.Item{
		Event: ev, At: at, Route: route,
		Customer: cases.Customer{Key: cust.Key, Name: cust.Name, Emails: cust.Emails, Connector: cust.Connector,
			Queue: cust.Queue, Language: cust.Language, Tags: cust.Tags},
	}, nil
}

// nullInt turns 0 into NULL.
func nullInt(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v != 0} }
