// Package app owns the lifecycle of a running abusegw: it opens and migrates
// the database, builds the HTTP server and the background workers, runs them
// until its context ends, and then stops them gracefully. `abusegw serve` is
// a thin wrapper around Serve, so tests run the same thing in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/abusegw/abusegw/gateway/api"
	"github.com/abusegw/abusegw/gateway/channels/httpapi"
	"github.com/abusegw/abusegw/gateway/config"
	"github.com/abusegw/abusegw/gateway/metrics"
	"github.com/abusegw/abusegw/gateway/store"
)

// Options are what the caller adds to the configuration.
type Options struct {
	Version string
	// OnListen, if set, is called with the bound address once the server
	// accepts connections (tests use it with port 0).
	OnListen func(net.Addr)
}

// OpenDB opens the configured database; logger (nil: none) receives what
// goes wrong in its background work.
func OpenDB(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*store.DB, error) {
	u, err := cfg.DatabaseURL()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, u, store.Options{
		BusyTimeout:    cfg.Database.BusyTimeout,
		MaxOpenConns:   cfg.Database.MaxOpenConns,
		ConnectTimeout: cfg.Database.ConnectTimeout,
		Logger:         logger,
	})
}

// Serve runs the gateway until ctx is done, then lets in-flight requests
// finish (up to http.shutdown_timeout) and closes the database.
func Serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts Options) (err error) {
	db, err := OpenDB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing database: %w", cerr))
		}
	}()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.Info("database migrated", "database", db.String(), "applied", applied)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewCollector(db, cfg.Metrics, metrics.CollectorOptions{Logger: logger}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "abusegw_build_info",
			Help:        "Always 1; labelled with the running version and database dialect.",
			ConstLabels: prometheus.Labels{"version": opts.Version, "dialect": db.Dialect().Name()},
		}, func() float64 { return 1 }),
	)
	rt, err := Build(ctx, cfg, db, BuildOptions{Logger: logger, Registerer: reg})
	if err != nil {
		return err
	}
	defer rt.Close()
	router, apiWorkers, err := NewRouter(cfg, rt, reg, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTP.Listen, err)
	}
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// The background work stops with ctx; shutdown waits for it below.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	for _, w := range append(rt.workers(cfg, logger), apiWorkers...) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			w(workCtx)
		}()
	}
	logger.Info("abusegw serving", "listen", ln.Addr().String(), "database", db.String(), "version", opts.Version)
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout.String())
	stopWork()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down http server: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	workers.Wait()
	logger.Info("stopped", "took", time.Since(start).String())
	return nil
}

// NewRouter builds the HTTP handler of serve: probes and metrics, webhooks,
// and the ingest API, whose background processing is among the returned
// workers (Serve runs them beside the runtime's). Tests build the router the
// same way.
func NewRouter(cfg *config.Config, rt *Runtime, reg *prometheus.Registry, logger *slog.Logger) (*gin.Engine, []func(context.Context), error) {
	ingestAPI, err := httpapi.New(httpapi.Options{
		Pipeline: rt.Pipeline, DB: rt.DB, Tokens: cfg.HTTP.Tokens, MaxBodyBytes: cfg.HTTP.MaxReportBytes,
		ReportType: rt.shadowserverFileName, Logger: logger,
	})
	if err != nil {
		return nil, nil, err
	}
	mounts := []func(gin.IRouter){rt.Receiver.Mount, ingestAPI.Mount, metrics.Mount(rt.DB, cfg.Metrics, time.Now)}
	router, err := api.NewRouter(api.Deps{Ready: rt.DB, Registry: reg, Logger: logger, Mount: mounts})
	if err != nil {
		return nil, nil, err
	}
	return router, []func(context.Context){ingestAPI.Run}, nil
}
