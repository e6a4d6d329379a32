package journal_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/journal"
)

func open(tb testing.TB, path string) (*journal.Journal, []journal.Record, journal.Report) {
	tb.Helper()
	j, recs, rep, err := journal.Open(path, journal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = j.Close() })
	return j, recs, rep
}

func appendAll(tb testing.TB, j *journal.Journal, recs ...journal.Record) {
	tb.Helper()
	for _, r := range recs {
		if _, err := j.Append(r); err != nil {
			tb.Fatal(err)
		}
	}
}

func sample() []journal.Record {
	return []journal.Record{
		{Type: journal.RunStarted, Run: "r1", Window: "patch", Server: "EX01", Data: json.RawMessage(`{"procedure":"dag"}`)},
		{Type: journal.Recorded, Run: "r1", Server: "EX01", Step: "block-activation", Data: json.RawMessage(`{"policy":"IntrasiteOnly"}`)},
		{Type: journal.StepStarted, Run: "r1", Server: "EX01", Step: "block-activation"},
		{Type: journal.StepDone, Run: "r1", Server: "EX01", Step: "block-activation"},
		{Type: journal.Recorded, Run: "r1", Server: "EX01", Step: "serverwideoffline-inactive", Data: json.RawMessage(`{}`)},
		{Type: journal.StepStarted, Run: "r1", Server: "EX01", Step: "serverwideoffline-inactive"},
	}
}

func TestAppendReopenFold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "journal.jsonl")
	j, recs, _ := open(t, path)
	if len(recs) != 0 {
		t.Fatalf("new journal has %d records", len(recs))
	}
	appendAll(t, j, sample()...)
	_ = j.Close()
	j2, recs, rep := open(t, path)
	if len(recs) != 6 || rep.Corrupt != 0 || rep.TornBytes != 0 || recs[5].Seq != 6 {
		t.Fatalf("reopened: %d records, %+v", len(recs), rep)
	}
	un := journal.Unfinished(recs)
	if len(un) != 1 || un[0].Procedure != "dag" {
		t.Fatalf("unfinished = %+v", un)
	}
	todo := un[0].ToUndo()
	if len(todo) != 2 || todo[0].Name != "serverwideoffline-inactive" || string(todo[1].Original) != `{"policy":"IntrasiteOnly"}` {
		t.Fatalf("to undo = %+v", todo)
	}
	if at := todo[0].StartedAt; at.IsZero() || !at.Equal(recs[5].Time) {
		t.Errorf("the step started at %v; its step_started record says %v", at, recs[5].Time)
	}
	r, err := j2.Append(journal.Record{Type: journal.RunFinished, Run: "r1", Server: "EX01", Outcome: "reversed"})
	if err != nil || r.Seq != 7 {
		t.Fatalf("append after reopen: %+v, %v (sequence must continue)", r, err)
	}
}

// TestTornAndCorrupt: a partial last line (a crash mid-write) is cut and every earlier record kept; a line in
// the middle whose checksum fails is skipped and reported, and the records after it are kept.
func TestTornAndCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _, _ := open(t, path)
	appendAll(t, j, sample()...)
	_ = j.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	// Flip a byte inside record 3's JSON, and append half of a record.
	lines[2] = strings.Replace(lines[2], "block-activation", "block-activatioN", 1)
	torn, _ := journal.Encode(journal.Record{Seq: 7, Type: journal.StepDone, Run: "r1", Server: "EX01", Step: "serverwideoffline-inactive"})
	broken := strings.Join(lines, "") + string(torn[:len(torn)/2])
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	// ReadFile sees the same but leaves the file alone (a writer may be appending).
	recs, rep, err := journal.ReadFile(path)
	if err != nil || rep.Corrupt != 1 || rep.TornBytes != int64(len(torn)/2) || len(recs) != 5 {
		t.Fatalf("ReadFile: report %+v with %d records, %v; want 1 corrupt, the torn half seen, 5 kept", rep, len(recs), err)
	}
	if info, err := os.Stat(path); err != nil || info.Size() != int64(len(broken)) {
		t.Fatalf("ReadFile changed the file: %v", err)
	}
	_, recs, rep = open(t, path)
	if rep.Corrupt != 1 || rep.TornBytes != int64(len(torn)/2) || len(recs) != 5 {
		t.Fatalf("report %+v with %d records; want 1 corrupt, the torn half cut, 5 kept", rep, len(recs))
	}
	info, err := os.Stat(path)
	if err != nil || info.Size() != int64(len(broken)-len(torn)/2) {
		t.Fatalf("file size %d after recovery, want the torn tail truncated", info.Size())
	}
}

func TestBlocked(t *testing.T) {
	recs := []journal.Record{
		{Type: journal.RollbackFailed, Run: "r1", Server: "EX01"},
		{Type: journal.RollbackFailed, Run: "r1", Server: "EX02"},
		{Type: journal.Cleared, Server: "EX01"},
	}
	b := journal.Blocked(recs)
	if b["EX01"] || !b["EX02"] {
		t.Errorf("blocked = %v, want EX02 only", b)
	}
}

func FuzzOpen(f *testing.F) {
	line, _ := journal.Encode(sample()[0])
	f.Add(line)
	f.Add(append(line, line[:10]...))
	f.Add([]byte("00000000 {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, recs, rep, err := journal.Open(path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if rep.Records != len(recs) {
			t.Fatalf("report %+v vs %d records", rep, len(recs))
		}
		if _, err := j.Append(journal.Record{Type: journal.Note}); err != nil {
			t.Fatal(err)
		}
		_ = journal.Fold(recs)
	})
}

func TestStepDurations(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	var recs []journal.Record
	for i, d := range []time.Duration{3 * time.Minute, 5 * time.Minute, 40 * time.Minute} {
		run := string(rune('a' + i))
		recs = append(recs,
			journal.Record{Type: journal.StepStarted, Run: run, Server: "EX01", Step: "drain-queues", Time: t0},
			journal.Record{Type: journal.StepDone, Run: run, Server: "EX01", Step: "drain-queues", Time: t0.Add(d)})
	}
	recs = append(recs, journal.Record{Type: journal.StepStarted, Run: "z", Server: "EX01", Step: "patch", Time: t0}) // never finished
	got := journal.StepDurations(recs)
	if got["drain-queues"] != 5*time.Minute || len(got) != 1 {
		t.Errorf("durations = %v, want the median 5m for drain-queues only", got)
	}
}

// TestRecordedButNotStarted: a crash between a step's recorded and step_started records leaves its
// original values journaled; the step is undone (Undo is idempotent), while a step with neither is not.
func TestRecordedButNotStarted(t *testing.T) {
	recs := []journal.Record{
		{Type: journal.RunStarted, Run: "r1", Server: "EX01"},
		{Type: journal.Recorded, Run: "r1", Server: "EX01", Step: "hubtransport-draining", Data: []byte(`{"component":"HubTransport","state":"Active"}`)},
		{Type: journal.StepStarted, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		{Type: journal.UndoStarted, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		{Type: journal.UndoDone, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		{Type: journal.Recorded, Run: "r1", Server: "EX01", Step: "block-activation", Data: []byte(`{"policy":"Blocked"}`)},
		{Type: journal.StepFailed, Run: "r1", Server: "EX01", Step: "verify-maintenance"},
	}
	un := journal.Unfinished(recs)
	if len(un) != 1 {
		t.Fatalf("unfinished = %+v", un)
	}
	todo := un[0].ToUndo()
	if len(todo) != 1 || todo[0].Name != "block-activation" {
		names := []string{}
		for _, s := range todo {
			names = append(names, s.Name)
		}
		t.Fatalf("to undo %v; want only block-activation (recorded, never started; the undone and the never-recorded step not)", names)
	}
}

// TestOnErrorOnlyForFailures: successful appends never reach OnError (it feeds the journal-errors metric and
// its alert), and Failing stays nil.
func TestOnErrorOnlyForFailures(t *testing.T) {
	var errs []error
	j, _, _, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), journal.Options{OnError: func(err error) { errs = append(errs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range 3 {
		if _, err := j.Append(journal.Record{Type: journal.Note, Run: fmt.Sprintf("r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Defer(journal.Record{Type: journal.Note, Run: "deferred"}); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 0 || j.Failing() != nil {
		t.Errorf("OnError called %d times (%v), Failing %v; want neither after successful writes", len(errs), errs, j.Failing())
	}
}
