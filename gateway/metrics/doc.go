// Package metrics computes abusegw's compliance figures: how many reports
// were acted on, how fast, and why not. It reads the cases, which keep what
// the figures need of their status history, their outbox operations and
// the customer's other cases (migration 00008_case_facts), aggregating in
// SQL on both dialects, and serves the figures three ways: Compute (for
// `abusegw report`), Mount (the GET /api/v1/metrics/compliance route) and
// Collector (Prometheus series for /metrics). The definitions are in
// README.md, "Compliance metrics".
package metrics
