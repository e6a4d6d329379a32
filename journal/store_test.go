package journal_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/journaltest"
)

// TestFileStoreSuite runs the suite every store passes (journal/journaltest) against the local file.
func TestFileStoreSuite(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journaltest.Backend {
		t.Helper()
		path := filepath.Join(t.TempDir(), "journal.jsonl")
		return journaltest.Backend{
			Open: func(t *testing.T) journal.Store {
				t.Helper()
				s, err := journal.OpenFileStore(path, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			Corrupt: func(t *testing.T, seq uint64) {
				t.Helper()
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitAfter(string(b), "\n")
				for i, l := range lines {
					if strings.Contains(l, `"seq":`+strconv.FormatUint(seq, 10)+`,`) {
						lines[i] = strings.Replace(l, `"seq"`, `"seQ"`, 1)
					}
				}
				if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			Tear: func(t *testing.T, rec journal.Record) {
				t.Helper()
				line, err := journal.Encode(rec)
				if err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.Write(line[:len(line)/2]); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// lostStore refuses every write from the n-th on as lost leadership, counting the attempts.
type lostStore struct {
	journal.Store
	from, puts int
}

type lostErr struct{}

func (lostErr) Error() string { return "injected: leadership lost" }
func (lostErr) Lost() bool    { return true }

func (s *lostStore) Put(r journal.Record, line []byte) error {
	s.puts++
	if s.puts >= s.from {
		return lostErr{}
	}
	return s.Store.Put(r, line)
}

// TestLostLeadership: once the store says this instance may not write (journal.IsLost), nothing is kept to
// be written later (Defer's usual promise would let a deposed leader act), and every later write fails at
// once without asking the store again.
func TestLostLeadership(t *testing.T) {
	fs, err := journal.OpenFileStore(filepath.Join(t.TempDir(), "j.jsonl"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending := -1
	s := &lostStore{Store: fs, from: 2}
	j, _, _, err := journal.OpenStore(s, journal.Options{OnPending: func(n int) { pending = n }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	if _, err := j.Append(journal.Record{Type: journal.Note}); err != nil {
		t.Fatal(err)
	}
	if err := j.Defer(journal.Record{Type: journal.UndoStarted}); !journal.IsLost(err) {
		t.Fatalf("Defer: %v; want lost", err)
	}
	if pending > 0 {
		t.Fatalf("%d records kept for later after leadership was lost", pending)
	}
	if _, err := j.Append(journal.Record{Type: journal.Note}); !journal.IsLost(err) {
		t.Fatalf("Append after the loss: %v; want lost", err)
	}
	if err := j.Failing(); !journal.IsLost(err) {
		t.Fatalf("Failing: %v; want lost", err)
	}
	if s.puts != 2 {
		t.Fatalf("the store was asked %d times; want 2 (nothing after the loss)", s.puts)
	}
}

// TestInstanceInRecords: Options.Instance is written into every record that does not name its own.
func TestInstanceInRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j, _, _, err := journal.Open(path, journal.Options{Instance: "exm1"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := j.Append(journal.Record{Type: journal.Note})
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.Append(journal.Record{Type: journal.Note, Instance: "migrated"})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	if a.Instance != "exm1" || b.Instance != "migrated" {
		t.Fatalf("instances %q, %q; want exm1 and the record's own", a.Instance, b.Instance)
	}
	recs, _, err := journal.ReadFile(path)
	if err != nil || len(recs) != 2 || recs[0].Instance != "exm1" {
		t.Fatalf("read back: %+v, %v", recs, err)
	}
}
