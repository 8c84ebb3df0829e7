// Package api is abusegw's HTTP surface (gin): health and readiness probes,
// Prometheus metrics, and, as later capabilities land, the ingest API and
// the helpdesk webhooks.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readier reports whether the service can do its work (database reachable,
// schema current).
type Readier interface {
	Ready(ctx context.Context) error
}

// Deps are what the router needs.
type Deps struct {
	Ready    Readier
	Registry *prometheus.Registry // metrics to serve and to register into
	Logger   *slog.Logger
	// ReadyTimeout bounds one readiness check. Default 5 s.
	ReadyTimeout time.Duration
	// Mount lets other packages add their routes (ingest API, webhooks,
	// compliance metrics) without this package knowing them.
	Mount []func(r gin.IRouter)
}

// Error is the JSON body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
}

// NewRouter builds the HTTP handler.
func NewRouter(d Deps) (*gin.Engine, error) {
	if d.Ready == nil || d.Registry == nil || d.Logger == nil {
		return nil, errors.New("api: Ready, Registry and Logger are required")
	}
	if d.ReadyTimeout <= 0 {
		d.ReadyTimeout = 5 * time.Second
	}
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(recoverJSON(d.Logger), m.middleware(), logRequests(d.Logger))
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, Error{Error: "not found"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, Error{Error: "method not allowed"}) })

	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d.ReadyTimeout)
		defer cancel()
		if err := d.Ready.Ready(ctx); err != nil {
			d.Logger.Warn("not ready", "err", err)
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(d.Logger.Handler(), slog.LevelError),
		EnableOpenMetrics: false,
	})))
	for _, m := range d.Mount {
		m(r)
	}
	return r, nil
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abusegw_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abusegw_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *httpMetrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		// The route pattern, not the path: bounded label values.
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(c.Writer.Status())).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
}

func logRequests(l *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			level = slog.LevelWarn
		}
		l.Log(c.Request.Context(), level, "http request",
			"method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
			"duration", time.Since(start), "remote", c.ClientIP())
	}
}

// recoverJSON turns a panic in a handler into a logged 500 with a JSON body,
// so that no input can take the process down.
func recoverJSON(l *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.Error("panic in HTTP handler", "panic", p, "path", c.Request.URL.Path)
				c.AbortWithStatusJSON(http.StatusInternalServerError, Error{Error: "internal error"})
			}
		}()
		c.Next()
	}
}
