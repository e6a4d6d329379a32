package journal_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/exmaintd/exmaintd/journal"
)

// BenchmarkAppend is one durable record: encode, CRC, write, fsync. A dag window writes about 62.
func BenchmarkAppend(b *testing.B) {
	j, _, _, err := journal.Open(filepath.Join(b.TempDir(), "journal.jsonl"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := journal.Record{Type: journal.Recorded, Run: "monthly-20261114T210000Z-a1b2c3", Window: "monthly", Server: "EX01", Step: "block-activation",
		Data: json.RawMessage(`{"policy":"IntrasiteOnly","move_now":false}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen reads and folds a journal of 10,000 records (about 160 monthly windows of a DAG pair).
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "journal.jsonl")
	j, _, _, err := journal.Open(path, journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		typ := []string{journal.RunStarted, journal.Recorded, journal.StepStarted, journal.StepDone}[i%4]
		if _, err := j.Append(journal.Record{Type: typ, Run: "r", Server: "EX01", Step: "drain-queues", Data: json.RawMessage(`{"x":1}`)}); err != nil {
			b.Fatal(err)
		}
	}
	_ = j.Close()
	b.ReportAllocs()
	for b.Loop() {
		j, recs, _, err := journal.Open(path, journal.Options{})
		if err != nil || len(recs) != 10000 {
			b.Fatal(err, len(recs))
		}
		_ = journal.Unfinished(recs)
		_ = j.Close()
	}
}
