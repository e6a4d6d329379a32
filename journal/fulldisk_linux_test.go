package journal_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exmaintd/exmaintd/journal"
)

// tmpfs mounts a tmpfs of size bytes for the test, or skips where mounting is not allowed (not root, no
// CAP_SYS_ADMIN in a container).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil { // detached: a file a failed test left open does not keep it
			t.Errorf("unmounting the test's tmpfs: %v", err)
		}
	})
	return dir
}

// TestFullDisk: on a real 64 KiB file system, appends fail with ENOSPC part-way through a line. Every
// record Append accepted survives a reopen, and once space is freed the next record is written and
// survives too — before the fix the partial line stayed in the file and swallowed it on reopen.
func TestFullDisk(t *testing.T) {
	dir := tmpfs(t, "64k")
	path := filepath.Join(dir, "journal.jsonl")
	j, _, _, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`"` + strings.Repeat("x", 1500) + `"`)
	var accepted []uint64
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		rec, err := j.Append(journal.Record{Type: "note", Server: "EX01", Data: payload})
		if err != nil {
			full = err
			break
		}
		accepted = append(accepted, rec.Seq)
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("appends on a full tmpfs: %v, want ENOSPC", full)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	after, err := j.Append(journal.Record{Type: "note", Server: "EX01", Step: "after-space-returned"})
	if err != nil {
		t.Fatalf("append once space is back: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, recs, rep, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if rep.Corrupt > 0 || rep.TornBytes > 0 {
		t.Errorf("reopen found %d corrupt records and %d torn bytes", rep.Corrupt, rep.TornBytes)
	}
	if len(recs) != len(accepted)+1 || recs[len(recs)-1].Step != "after-space-returned" || recs[len(recs)-1].Seq != after.Seq {
		last := recs[len(recs)-1]
		t.Fatalf("reopen: %d records, the last seq %d step %q; want the %d accepted and then seq %d", len(recs), last.Seq, last.Step, len(accepted), after.Seq)
	}
	if after.Seq != accepted[len(accepted)-1]+1 {
		t.Errorf("seq after the failed append = %d, want %d (a failed record gives its number back)", after.Seq, accepted[len(accepted)-1]+1)
	}
}

// TestDeferOnAFullDisk: Defer keeps what cannot be written, in order; Append and Failing say the journal
// is failing meanwhile (and OnError and OnPending are told); once space returns Flush writes the kept
// records before anything else, and a reopen finds them all, in order.
func TestDeferOnAFullDisk(t *testing.T) {
	dir := tmpfs(t, "64k")
	path := filepath.Join(dir, "journal.jsonl")
	var errs, pending []int
	j, _, _, err := journal.Open(path, journal.Options{
		OnError:   func(error) { errs = append(errs, 1) },
		OnPending: func(n int) { pending = append(pending, n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Defer(journal.Record{Type: journal.Note, Server: "EX01", Step: "before"}); err != nil || j.Failing() != nil {
		t.Fatalf("Defer with space: %v, failing %v", err, j.Failing())
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	big := []byte(`"` + strings.Repeat("y", 5000) + `"`) // more than the page the journal has left
	for _, step := range []string{"undo-1", "undo-2"} {
		if err := j.Defer(journal.Record{Type: journal.UndoDone, Server: "EX01", Step: step, Data: big}); err == nil {
			t.Fatalf("Defer of %s on a full disk returned nil", step)
		}
	}
	if j.Failing() == nil || len(errs) == 0 || fmt.Sprint(pending) != "[1 2]" {
		t.Errorf("while full: failing %v, %d errors reported, pending %v; want failing, errors, [1 2]", j.Failing(), len(errs), pending)
	}
	if _, err := j.Append(journal.Record{Type: journal.Note, Server: "EX01", Step: "forward"}); err == nil {
		t.Error("Append succeeded while deferred records could not be written")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil || j.Failing() != nil || fmt.Sprint(pending) != "[1 2 1 0]" {
		t.Fatalf("flush: %v, failing %v, pending %v", err, j.Failing(), pending)
	}
	if _, err := j.Append(journal.Record{Type: journal.Note, Server: "EX01", Step: "after"}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := journal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range recs {
		order = append(order, r.Step)
	}
	if strings.Join(order, ",") != "before,undo-1,undo-2,after" {
		t.Errorf("records %v; want before, the two deferred in order, after", order)
	}
}
