// Package shadowserverapi is the Shadowserver Reports API channel: on a cron
// schedule it lists the reports the configured key can see (reports/list,
// one day at a time, page by page), downloads those not fetched before
// (reports/download) and ingests each under its file name, from which the
// report type is detected.
//
// Every fetched report id is remembered in the cursors table, so nothing is
// ingested twice; a report whose download fails is not remembered and is
// tried again by the next run. The date of the last run without failures is
// remembered too: the next run starts a day before it, and the first run
// looks `days` back.
package shadowserverapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/store"
)

// Channel is the ingest channel name of reports from the API.
const Channel = "shadowserver-api"

// Cursor names in the cursors table.
const (
	cursorLastRun = "shadowserver-api:last-run" // YYYY-MM-DD of the last run without failures
	cursorReport  = "shadowserver-api:report:"  // + report id; value: file name
)

// keepFetched is how long fetched report ids are remembered; the API only
// lists reports of recent days.
const keepFetched = 90 * 24 * time.Hour

// maxPages bounds the paging of one day's list.
const maxPages = 1000

// Options are a Fetcher's surroundings.
type Options struct {
	DB       *store.DB
	Pipeline *ingest.Pipeline
	Logger   *slog.Logger
	// HTTPClient defaults to one with the configured timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil waits for real (tests record).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Fetcher pulls reports from the API into the pipeline.
type Fetcher struct {
	cfg    Config
	o      Options
	log    *slog.Logger
	now    func() time.Time
	sched  cron.Schedule
	client *Client
}

// Result counts what one run did.
type Result struct {
	Listed     int // reports listed (after the type filter)
	Skipped    int // fetched before
	Fetched    int // downloaded and ingested now
	Duplicates int // of those, bytes already stored by another channel
	Failed     int // downloads or ingests that failed (tried again next run)
	Events     int
}

// New builds a Fetcher. The key and secret are read at each run, so a
// missing variable fails the run (and `check`), not the whole program, and a
// rotated secret file is picked up.
func New(cfg Config, o Options) (*Fetcher, error) {
	cfg = cfg.WithDefaults()
	cfg.Enabled = true
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.DB == nil || o.Pipeline == nil {
		return nil, errors.New("shadowserver_api: DB and Pipeline are required")
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf("shadowserver_api: schedule: %w", err)
	}
	f := &Fetcher{cfg: cfg, o: o, log: o.Logger, now: o.Now, sched: sched}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	base := cfg.URL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	f.client = &Client{base: base, key: cfg.Key(), secret: cfg.Secret(), http: hc, retries: cfg.Retries, sleep: sleep}
	return f, nil
}

// Client returns the API client (for `check`).
func (f *Fetcher) Client() *Client { return f.client }

// Check lists today's reports: the key, the secret and the URL work.
func (f *Fetcher) Check(ctx context.Context) error {
	day := f.now().UTC().Format(time.DateOnly)
	_, err := f.client.List(ctx, day, day, f.cfg.Lists, 1, 1)
	return err
}

// Run fetches once at start and then on the schedule, until ctx ends.
func (f *Fetcher) Run(ctx context.Context) {
	for {
		r, err := f.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			f.log.Error("shadowserver api fetch failed", "err", err, "fetched", r.Fetched, "failed", r.Failed)
		} else if r.Fetched > 0 {
			f.log.Info("shadowserver api reports fetched", "listed", r.Listed, "fetched", r.Fetched, "events", r.Events)
		}
		next := f.sched.Next(f.now())
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// RunOnce lists, downloads and ingests the new reports. It goes on past a
// failed download and returns the failures joined.
func (f *Fetcher) RunOnce(ctx context.Context) (Result, error) {
	var r Result
	now := f.now().UTC()
	today := now.Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -f.cfg.Days)
	if last, ok, err := f.cursor(ctx, cursorLastRun); err != nil {
		return r, err
	} else if ok {
		if t, err := time.Parse(time.DateOnly, last); err == nil {
			from = t.AddDate(0, 0, -1) // a day of overlap
		}
	}
	if from.After(today) {
		from = today
	}
	var errs []error
	for day := from; !day.After(today); day = day.AddDate(0, 0, 1) {
		d := day.Format(time.DateOnly)
		for page := 1; page <= maxPages; page++ {
			list, err := f.client.List(ctx, d, d, f.cfg.Lists, f.cfg.PageSize, page)
			if err != nil {
				return r, fmt.Errorf("listing the reports of %s: %w", d, err)
			}
			for _, rep := range list {
				if err := f.one(ctx, rep, &r); err != nil {
					if ctx.Err() != nil {
						return r, ctx.Err()
					}
					r.Failed++
					f.log.Warn("shadowserver report not fetched; trying again next run", "file", rep.File, "id", rep.ID, "err", err)
					errs = append(errs, err)
				}
			}
			if len(list) < f.cfg.PageSize {
				break
			}
		}
	}
	if len(errs) == 0 {
		if err := f.setCursor(ctx, cursorLastRun, today.Format(time.DateOnly), now); err != nil {
			return r, err
		}
	}
	if _, err := f.o.DB.ExecContext(ctx, f.o.DB.Rebind(`DELETE FROM cursors WHERE name LIKE ? AND updated_at < ?`),
		cursorReport+"%", store.Time(now.Add(-keepFetched))); err != nil {
		errs = append(errs, fmt.Errorf("forgetting old report ids: %w", err))
	}
	return r, errors.Join(errs...)
}

// wanted applies the report type filter.
func (f *Fetcher) wanted(rep Report) bool {
	if len(f.cfg.Reports) == 0 {
		return true
	}
	return slices.ContainsFunc(f.cfg.Reports, func(t string) bool {
		return strings.EqualFold(t, rep.Type) || rep.Type == "" && strings.Contains(rep.File, "-"+t+"-")
	})
}

// one fetches one listed report unless it was fetched before.
func (f *Fetcher) one(ctx context.Context, rep Report, r *Result) error {
	if rep.ID == "" || !f.wanted(rep) {
		return nil
	}
	r.Listed++
	name := cursorReport + rep.ID
	if _, ok, err := f.cursor(ctx, name); err != nil {
		return err
	} else if ok {
		r.Skipped++
		return nil
	}
	body, err := f.client.Download(ctx, rep.ID)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", rep.File, err)
	}
	defer body.Close()
	file := rep.File
	if file == "" {
		file = rep.ID + ".csv"
	}
	st, sum, err := f.o.Pipeline.Ingest(ctx, ingest.Source{Channel: Channel, Name: file, ContentType: "text/csv"}, body)
	if err != nil {
		return fmt.Errorf("ingesting %s: %w", file, err)
	}
	r.Fetched++
	if st.Duplicate {
		r.Duplicates++
	}
	r.Events += sum.Events
	return f.setCursor(ctx, name, file, f.now())
}

func (f *Fetcher) cursor(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := f.o.DB.GetContext(ctx, &v, f.o.DB.Rebind(`SELECT value FROM cursors WHERE name = ?`), name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading cursor %s: %w", name, err)
	}
	return v, true, nil
}

func (f *Fetcher) setCursor(ctx context.Context, name, value string, now time.Time) error {
	_, err := f.o.DB.ExecContext(ctx, f.o.DB.Rebind(`INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
		name, value, store.Time(now))
	if err != nil {
		return fmt.Errorf("writing cursor %s: %w", name, err)
	}
	return nil
}
