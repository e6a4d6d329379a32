// Package report tells how a run went: the vocabulary of its outcomes (outcome.go: the words of
// api/outcome.go from the runner's results) and the story of one run from the journal alone, per server
// each gate with what it read, each step and undo with its duration and error, as text and JSON
// (`exmaintd report`).
package report
