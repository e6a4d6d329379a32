// Package steps is the heart of exmaintd: the catalogue of maintenance steps (each with Do, Undo and
// Verify), the built-in procedures (dag, standalone) and custom ones, the health gates, and the runner that
// executes a procedure on a server — gate, record, do, verify, gate — and reverses every step it started on
// any failure, an abort or the window's hard end.
package steps
