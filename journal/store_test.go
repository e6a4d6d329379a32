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
