package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/abusegw/abusegw/connectors"
	"github.com/abusegw/abusegw/connectors/registry"
	"github.com/abusegw/abusegw/gateway/cases"
	"github.com/abusegw/abusegw/gateway/channels/imap"
	"github.com/abusegw/abusegw/gateway/channels/shadowserverapi"
	"github.com/abusegw/abusegw/gateway/channels/spool"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/contacts"
	"github.com/abusegw/abusegw/gateway/content"
	"github.com/abusegw/abusegw/gateway/ingest"
	"github.com/abusegw/abusegw/gateway/outbox"
	"github.com/abusegw/abusegw/gateway/routing"
	"github.com/abusegw/abusegw/gateway/store"
	gwsync "github.com/abusegw/abusegw/gateway/sync"
	"github.com/abusegw/abusegw/normalizer/auto"
	"github.com/abusegw/abusegw/normalizer/shadowserver"
)

// Runtime is the wired pipeline: everything the configuration names, built
// once and shared by the commands and the server.
type Runtime struct {
	DB         *store.DB
	Contacts   *contacts.Chain
	Router     *routing.Router
	Renderer   *content.Renderer
	Aggregator *cases.Aggregator
	Pipeline   *ingest.Pipeline
	Connectors map[string]connectors.Connector
	Dispatcher *outbox.Dispatcher
	Applier    *gwsync.Applier
	Receiver   *gwsync.Receiver
	Reconciler *gwsync.Reconciler
	// IMAP polls the configured mailboxes (one poller per account).
	IMAP []*imap.Poller
	// Shadowserver pulls the Reports API; nil unless enabled.
	Shadowserver *shadowserverapi.Fetcher

	// Schema is the Shadowserver schema reports are parsed with.
	Schema *shadowserver.Schema
}

// BuildOptions are the runtime's surroundings.
type BuildOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
	Now        func() time.Time      // nil: time.Now
}

// Build wires the pipeline from the configuration over an open database.
func Build(ctx context.Context, cfg *config.Config, db *store.DB, o BuildOptions) (*Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rt := &Runtime{DB: db, Connectors: map[string]connectors.Connector{}}
	limits := map[string]outbox.Limits{}
	for _, k := range cfg.Connectors {
		limits[k.Name()] = outbox.Limits{Concurrency: k.Config.Base().Concurrency, RateLimit: k.Config.Base().RateLimit}
		t, err := registry.Lookup(k.Type())
		if err != nil {
			return nil, err
		}
		c, err := t.New(k.Config, connectors.Deps{Logger: o.Logger.With("connector", k.Name()), Now: o.Now})
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", k.Name(), err)
		}
		rt.Connectors[k.Name()] = c
	}
	var err error
	rt.Router, err = routing.New(cfg.Routing, cfg.ConnectorNames())
	if err != nil {
		return nil, err
	}
	templatesDir := cfg.Templates.Dir
	if templatesDir != "" && !filepath.IsAbs(templatesDir) && cfg.Dir != "" {
		templatesDir = filepath.Join(cfg.Dir, templatesDir)
	}
	rt.Renderer, err = content.New(content.Options{Dir: templatesDir, Now: o.Now, MaxIPs: cfg.Templates.MaxIPs})
	if err != nil {
		return nil, fmt.Errorf("loading ticket templates: %w", err)
	}
	rt.Aggregator, err = cases.New(cfg.Cases, cases.Options{Renderer: rt.Renderer, Desk: cfg.Desk, Now: o.Now})
	if err != nil {
		return nil, err
	}
	rt.Contacts, err = contacts.New(ctx, cfg.Contacts, contacts.Options{
		Dir: cfg.Dir, CacheTTL: cfg.ContactsCache.TTL, NegativeTTL: cfg.ContactsCache.NegativeTTL, CacheSize: cfg.ContactsCache.Size,
		Unowned: cfg.Unowned, Now: o.Now, Logger: o.Logger, Registerer: o.Registerer,
	})
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	schema, _, err := shadowserver.LoadSchemaFrom(cfg.DataDir)
	if err != nil {
		rt.Close()
		return nil, err
	}
	rt.Schema = schema
	var catchAll *contacts.Customer
	if c, ok := rt.Contacts.CatchAll(); ok {
		catchAll = &c
	}
	rt.Pipeline, err = ingest.New(ingest.Options{
		DB: db, Contacts: rt.Contacts, CatchAll: catchAll, Router: rt.Router, Aggregator: rt.Aggregator,
		Normalizer: auto.Options{ShadowserverSchema: schema, CSV: cfg.Normalizer.CSV},
		DataDir:    cfg.DataDir, InlineMax: cfg.Ingest.InlineMax, MaxReport: cfg.Ingest.MaxReport,
		Logger: o.Logger, Now: o.Now,
	})
	if err != nil {
		rt.Close()
		return nil, err
	}
	for _, m := range cfg.IMAP {
		p, err := imap.New(m.Resolve(cfg.Dir), imap.Options{DB: db, Pipeline: rt.Pipeline, Logger: o.Logger, Now: o.Now})
		if err != nil {
			rt.Close()
			return nil, err
		}
		rt.IMAP = append(rt.IMAP, p)
	}
	if cfg.ShadowserverAPI.Enabled {
		rt.Shadowserver, err = shadowserverapi.New(cfg.ShadowserverAPI.Resolve(cfg.Dir), shadowserverapi.Options{
			DB: db, Pipeline: rt.Pipeline, Logger: o.Logger, Now: o.Now,
		})
		if err != nil {
			rt.Close()
			return nil, err
		}
	}
	rt.Dispatcher, err = outbox.NewDispatcher(db, outbox.Config{}, outbox.Options{
		Connectors: rt.Connectors, Limits: limits, Logger: o.Logger, Registerer: o.Registerer, Now: o.Now,
		Composer: rt.Aggregator,
	})
	if err != nil {
		rt.Close()
		return nil, err
	}
	rt.Applier = gwsync.NewApplier(db, o.Now, o.Logger)
	if rt.Receiver, err = gwsync.NewReceiver(db, rt.Connectors, rt.Applier, o.Now, o.Logger, o.Registerer); err != nil {
		rt.Close()
		return nil, err
	}
	rt.Reconciler, err = gwsync.NewReconciler(db, rt.Connectors, rt.Applier, gwsync.ReconcilerOptions{
		Overlap: cfg.Sync.Overlap, Now: o.Now, Logger: o.Logger, Registerer: o.Registerer,
	})
	if err != nil {
		rt.Close()
		return nil, err
	}
	return rt, nil
}

// Close releases what Build opened (not the database).
func (rt *Runtime) Close() error {
	var errs []error
	if rt.Contacts != nil {
		errs = append(errs, rt.Contacts.Close())
	}
	return errors.Join(errs...)
}

// workers are the background loops of `serve`: the outbox dispatcher (when a
// helpdesk is configured), and the periodic work that turns pending events
// into updates and finishes reports whose processing was interrupted.
func (rt *Runtime) workers(cfg *config.Config, logger *slog.Logger) []func(context.Context) {
	var ws []func(context.Context)
	if len(rt.Connectors) > 0 {
		ws = append(ws, func(ctx context.Context) {
			if err := rt.Dispatcher.Run(ctx); err != nil {
				logger.Error("outbox dispatcher stopped", "err", err)
			}
		})
	}
	ws = append(ws, func(ctx context.Context) { rt.Receiver.Run(ctx, 30*time.Second) })
	if sched := rt.reconcileSchedule(cfg, logger); sched != nil {
		ws = append(ws, func(ctx context.Context) {
			sched.Start()
			<-ctx.Done()
			<-sched.Stop().Done() // a running reconcile finishes first
		})
	}
	if cfg.Spool.Dir != "" {
		ws = append(ws, func(ctx context.Context) { rt.watchSpool(ctx, cfg, logger) })
	}
	for _, p := range rt.IMAP {
		for _, mailbox := range p.Config().Mailboxes {
			ws = append(ws, func(ctx context.Context) { p.Run(ctx, mailbox) })
		}
	}
	if rt.Shadowserver != nil {
		ws = append(ws, rt.Shadowserver.Run)
	}
	ws = append(ws, func(ctx context.Context) {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if sum, err := rt.Pipeline.ProcessPending(ctx); err != nil {
				if ctx.Err() == nil {
					logger.Error("processing pending reports", "err", err)
				}
			} else if sum.Reports > 0 {
				logger.Info("processed pending reports", "reports", sum.Reports, "events", sum.Events)
			}
			if n, err := rt.Aggregator.FlushUpdates(ctx, rt.DB); err != nil {
				if ctx.Err() == nil {
					logger.Error("enqueuing case updates", "err", err)
				}
			} else if n > 0 {
				logger.Info("case updates enqueued", "cases", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return ws
}

// reconcileSchedule is the cron of the reconcile runs, one entry per
// connector with a schedule; nil when there is none.
func (rt *Runtime) reconcileSchedule(cfg *config.Config, logger *slog.Logger) *cron.Cron {
	c := cron.New(cron.WithLocation(time.UTC))
	n := 0
	for _, k := range cfg.Connectors {
		spec := cfg.Sync.ScheduleOf(k.Name())
		if spec == "" {
			continue
		}
		name := k.Name()
		_, err := c.AddFunc(spec, func() {
			st, err := rt.Reconciler.Run(context.Background(), name, gwsync.Options{})
			switch {
			case errors.Is(err, gwsync.ErrBusy):
				logger.Info("reconcile skipped: another replica is running it", "connector", name)
			case err != nil:
				logger.Error("reconcile failed; the watermark stays", "connector", name, "err", err)
			default:
				logger.Info("reconcile done", "connector", name, "tickets", st.Tickets, "changed", st.Changed)
			}
		})
		if err != nil {
			logger.Error("bad reconcile schedule", "connector", name, "schedule", spec, "err", err)
			continue
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return c
}

// watchSpool runs the watched directory (spool.dir) until ctx ends.
func (rt *Runtime) watchSpool(ctx context.Context, cfg *config.Config, logger *slog.Logger) {
	dir := cfg.Spool.Dir
	if !filepath.IsAbs(dir) && cfg.Dir != "" {
		dir = filepath.Join(cfg.Dir, dir)
	}
	w, err := spool.New(spool.Options{
		Dir: dir, Pipeline: rt.Pipeline, DB: rt.DB, Interval: cfg.Spool.Interval, StableFor: cfg.Spool.StableFor,
		Logger: logger.With("channel", "spool"),
	})
	if err != nil {
		logger.Error("spool directory not watched", "err", err)
		return
	}
	w.Run(ctx)
}

// shadowserverFileName resolves a Shadowserver report type (schema key, file
// name or feed name) to the name its files carry.
func (rt *Runtime) shadowserverFileName(t string) (string, bool) {
	if rt.Schema == nil {
		return "", false
	}
	r, ok := rt.Schema.Lookup(t)
	if !ok {
		return "", false
	}
	if r.FileName() != "" {
		return r.FileName(), true
	}
	return r.Name(), true
}
