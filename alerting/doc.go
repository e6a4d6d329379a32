// Package alerting connects exmaintd to Prometheus and Alertmanager: silences scoped to one server while it
// is in maintenance (Alertmanager API v2), a pre-gate that refuses to start a server while matching alerts
// fire (Prometheus' ALERTS series, which exmaintd's own silences cannot hide), and webhook notifications
// for users ahead of, at the start and end of, and on abort of a window.
package alerting
