// Package monitoring holds exmaintd's Prometheus alert rules (exmaintd-rules.yml, unit-tested with
// promtool in exmaintd-rules_test.yml) and its Grafana dashboard; the Go tests here check both against what
// the metrics package exports.
package monitoring
