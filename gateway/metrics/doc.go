// Package metrics computes abusegw's compliance figures: how many reports
// were acted on, how fast, and why not. It reads the cases, their status
// history and the outbox, aggregating in SQL on both dialects, and serves
// the figures three ways: Compute (for `abusegw report`), Mount (the
// GET /api/v1/metrics/compliance route) and Collector (Prometheus series for
// /metrics). The definitions are in README.md, "Compliance metrics".
package metrics
