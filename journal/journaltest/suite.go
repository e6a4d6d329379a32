// Package journaltest is the suite every journal.Store passes: the file and etcd stores give the journal
// the same guarantees — records come back in sequence order, a sequence number is never used twice, a
// failed write leaves nothing, a damaged record is skipped and counted, deferred records keep their order.
package journaltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/exmaintd/exmaintd/journal"
)

// Backend is a store under test.
type Backend struct {
	// Open returns a store over the same storage on every call, as a restarted daemon opens it.
	Open func(t *testing.T) journal.Store
	// Corrupt damages the stored record with sequence number seq (a flipped bit on disk, a bad value).
	Corrupt func(t *testing.T, seq uint64)
	// Tear leaves what a crash in the middle of writing rec leaves; nil where a write is atomic (etcd),
	// which the backend's own tests then show.
	Tear func(t *testing.T, rec journal.Record)
}

// Run runs the suite; newBackend gives each case empty storage.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	t.Run("append and reopen", func(t *testing.T) { appendReopen(t, newBackend(t)) })
	t.Run("concurrent appends", func(t *testing.T) { concurrent(t, newBackend(t)) })
	t.Run("deferred records keep their order", func(t *testing.T) { deferred(t, newBackend(t)) })
	t.Run("a lost answer", func(t *testing.T) { lostAnswer(t, newBackend(t)) })
	t.Run("never overwrites", func(t *testing.T) { neverOverwrites(t, newBackend(t)) })
	t.Run("damaged record", func(t *testing.T) { damaged(t, newBackend(t)) })
	t.Run("torn record", func(t *testing.T) { torn(t, newBackend(t)) })
}

func open(t *testing.T, s journal.Store) (*journal.Journal, []journal.Record, journal.Report) {
	t.Helper()
	j, recs, rep, err := journal.OpenStore(s, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, recs, rep
}

func rec(i int) journal.Record {
	return journal.Record{Type: journal.Note, Run: "r1", Server: fmt.Sprintf("EX%02d", i), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
}

// servers lists the records' Server fields, in order.
func servers(recs []journal.Record) []string {
	var s []string
	for _, r := range recs {
		s = append(s, r.Server)
	}
	return s
}

// contiguous fails unless the records' sequence numbers are exactly 1..len.
func contiguous(t *testing.T, recs []journal.Record) {
	t.Helper()
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has sequence number %d; want %d (all: %v)", i, r.Seq, i+1, seqs(recs))
		}
	}
}

// reopened opens the backend's storage again and fails unless it holds exactly the records of the named
// servers, in order, numbered 1..n.
func reopened(t *testing.T, b Backend, want ...string) {
	t.Helper()
	_, recs, _ := open(t, b.Open(t))
	contiguous(t, recs)
	if got := servers(recs); !slices.Equal(got, want) {
		t.Fatalf("records %v; want %v", got, want)
	}
}

func seqs(recs []journal.Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

func appendReopen(t *testing.T, b Backend) {
	t.Helper()
	j, recs, _ := open(t, b.Open(t))
	if len(recs) != 0 {
		t.Fatalf("empty store returned %d records", len(recs))
	}
	for i := range 6 {
		if _, err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	j2, recs, rep := open(t, b.Open(t))
	if rep.Records != 6 || rep.Corrupt != 0 || rep.TornBytes != 0 {
		t.Fatalf("reopened: %+v", rep)
	}
	contiguous(t, recs)
	if got, want := servers(recs), []string{"EX00", "EX01", "EX02", "EX03", "EX04", "EX05"}; !slices.Equal(got, want) {
		t.Fatalf("records %v; want %v", got, want)
	}
	if recs[3].Time.IsZero() || string(recs[3].Data) != `{"i":3}` {
		t.Fatalf("record 4 came back as %+v", recs[3])
	}
	r, err := j2.Append(rec(6))
	if err != nil || r.Seq != 7 {
		t.Fatalf("append after reopen: seq %d, %v; want 7", r.Seq, err)
	}
}

func concurrent(t *testing.T, b Backend) {
	t.Helper()
	j, _, _ := open(t, b.Open(t))
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := j.Append(rec(w*each + i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_ = j.Close()
	_, recs, _ := open(t, b.Open(t))
	if len(recs) != writers*each {
		t.Fatalf("%d records; want %d", len(recs), writers*each)
	}
	contiguous(t, recs)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.Server] {
			t.Fatalf("record %s twice", r.Server)
		}
		seen[r.Server] = true
	}
}

// flaky fails the next fail Puts without writing; with land set, it writes them and then fails (the
// answer to a write that did happen was lost).
type flaky struct {
	journal.Store
	mu   sync.Mutex
	fail int
	land bool
}

func (f *flaky) Put(r journal.Record, line []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == 0 {
		return f.Store.Put(r, line)
	}
	f.fail--
	if f.land {
		if err := f.Store.Put(r, line); err != nil {
			return err
		}
	}
	return errors.New("injected: no answer from the store")
}

func deferred(t *testing.T, b Backend) {
	t.Helper()
	f := &flaky{Store: b.Open(t)}
	j, _, _ := open(t, f)
	if _, err := j.Append(rec(0)); err != nil {
		t.Fatal(err)
	}
	f.fail = 2
	if err := j.Defer(rec(1)); err == nil {
		t.Fatal("Defer with the store failing returned nil")
	}
	if err := j.Defer(rec(2)); err == nil {
		t.Fatal("second Defer with the store failing returned nil")
	}
	if j.Failing() == nil {
		t.Fatal("Failing is nil with two records deferred")
	}
	if _, err := j.Append(rec(3)); err != nil {
		t.Fatalf("append once the store works: %v", err)
	}
	if err := j.Failing(); err != nil {
		t.Fatalf("Failing after everything was written: %v", err)
	}
	_ = j.Close()
	reopened(t, b, "EX00", "EX01", "EX02", "EX03")
}

func lostAnswer(t *testing.T, b Backend) {
	t.Helper()
	f := &flaky{Store: b.Open(t), land: true}
	j, _, _ := open(t, f)
	f.fail = 1
	if _, err := j.Append(rec(0)); err == nil {
		t.Fatal("Append whose answer was lost returned nil")
	}
	// The caller was told the record failed; the next one must not reuse its sequence number.
	if r, err := j.Append(rec(1)); err != nil || r.Seq != 2 {
		t.Fatalf("next append: seq %d, %v; want 2", r.Seq, err)
	}
	// A deferred record whose answer was lost is written again when flushed: the same record must not
	// appear twice.
	f.fail = 1
	if err := j.Defer(rec(2)); err == nil {
		t.Fatal("Defer whose answer was lost returned nil")
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, err := j.Append(rec(3)); err != nil || r.Seq != 4 {
		t.Fatalf("append after the flush: seq %d, %v; want 4", r.Seq, err)
	}
	_ = j.Close()
	reopened(t, b, "EX00", "EX01", "EX02", "EX03")
}

func neverOverwrites(t *testing.T, b Backend) {
	t.Helper()
	s := b.Open(t)
	j, _, _ := open(t, s)
	first, err := j.Append(rec(0))
	if err != nil {
		t.Fatal(err)
	}
	other := rec(9)
	other.Seq = first.Seq
	line, err := journal.Encode(other)
	if err != nil {
		t.Fatal(err)
	}
	var taken *journal.SeqTakenError
	if err := s.Put(other, line); !errors.As(err, &taken) || taken.Seq != first.Seq {
		t.Fatalf("Put over record %d: %v; want a SeqTakenError", first.Seq, err)
	}
	_ = j.Close()
	_, recs, _ := open(t, b.Open(t))
	if len(recs) != 1 || recs[0].Server != "EX00" {
		t.Fatalf("after a refused overwrite: %v", servers(recs))
	}
}

func damaged(t *testing.T, b Backend) {
	t.Helper()
	j, _, _ := open(t, b.Open(t))
	for i := range 3 {
		if _, err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	b.Corrupt(t, 2)
	j2, recs, rep := open(t, b.Open(t))
	if rep.Corrupt != 1 || rep.Records != 2 || !slices.Equal(servers(recs), []string{"EX00", "EX02"}) {
		t.Fatalf("with record 2 damaged: %v, %+v", servers(recs), rep)
	}
	if r, err := j2.Append(rec(3)); err != nil || r.Seq != 4 {
		t.Fatalf("append after a damaged record: seq %d, %v; want 4", r.Seq, err)
	}
}

func torn(t *testing.T, b Backend) {
	t.Helper()
	if b.Tear == nil {
		t.Skip("this store writes a record atomically: a crash cannot tear one")
	}
	j, _, _ := open(t, b.Open(t))
	for i := range 2 {
		if _, err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close()
	r := rec(2)
	r.Seq = 3
	b.Tear(t, r)
	j2, recs, _ := open(t, b.Open(t))
	if !slices.Equal(servers(recs), []string{"EX00", "EX01"}) {
		t.Fatalf("after a torn record: %v", servers(recs))
	}
	if r, err := j2.Append(rec(3)); err != nil || r.Seq != 3 {
		t.Fatalf("append after a torn record: seq %d, %v; want 3", r.Seq, err)
	}
	_ = j2.Close()
	_, recs, rep := open(t, b.Open(t))
	if rep.Corrupt != 0 || !slices.Equal(servers(recs), []string{"EX00", "EX01", "EX03"}) {
		t.Fatalf("reopened after appending over a torn record: %v, %+v", servers(recs), rep)
	}
}
