// Package daemon is exmaintd's long-running process: it recovers interrupted runs from the journal, schedules
// windows, runs them with the steps runner (servers of a DAG one at a time), serves the HTTP API, reloads
// its configuration atomically and, on shutdown, lets every running server finish its reverse.
package daemon
