// Package api is exmaintd's HTTP interface: /metrics, /healthz, /readyz, the status document, and the three
// operator actions (start a window now, abort a run, clear a server marked rollback_failed). One ServeMux
// with method patterns; every error is JSON of one stable shape; actions need a bearer token.
package api
