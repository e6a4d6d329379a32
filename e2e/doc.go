// Package e2e holds the end-to-end test with real components: Debian's Prometheus and Alertmanager, the
// exmaintd binary, and exchsim, all on loopback.
package e2e
