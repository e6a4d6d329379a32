package steps_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
)

// TestFullDiskStillReverses: the journal's file system fills up while EX01 is entering maintenance (a
// real 256 KiB tmpfs; skipped where the test cannot mount one). The step whose record cannot be written
// fails, and the reverse runs anyway — before, undo_started could not be written, no undo ran and EX01
// stayed drained. Every undo is done and the server is back; the reverse's records wait and are written
// once space returns, and the journal says it is failing meanwhile.
func TestFullDiskStillReverses(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	h := newHarnessIn(t, "", dir)
	// Registered after the harness's own clean-ups, so it runs first: the journal is closed by then.
	t.Cleanup(func() {
		_ = h.journal.Close()
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil { // detached: a file a failed test left open does not keep it
			t.Errorf("unmounting the test's tmpfs: %v", err)
		}
	})
	before := h.sim.Org().Snapshot()
	filler := filepath.Join(dir, "filler")
	h.obs.onStart = func(server, step string) {
		// At the fourth step: tmpfs allocates whole pages, so the journal's last page still takes a few
		// records; the failure comes wherever the next page is needed — soon, with each step's gate records.
		if step == "redirect-message" {
			if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("filling the tmpfs: %v, want ENOSPC", err)
			}
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeReversed || res.Err == nil || !strings.Contains(res.Err.Error(), "no space left") {
		t.Fatalf("outcome %s, err %v; want reversed after the journal failed", res.Outcome, res.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Fatalf("EX01 not restored with the journal failing:\n  %s", strings.Join(diffs, "\n  "))
	}
	if h.journal.Failing() == nil {
		t.Error("the journal does not say it is failing")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := h.journal.Flush(); err != nil || h.journal.Failing() != nil {
		t.Fatalf("flush once space is back: %v, failing %v", err, h.journal.Failing())
	}
	recs, _, err := journal.ReadFile(h.journalPath)
	if err != nil {
		t.Fatal(err)
	}
	started, undone := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		switch r.Type {
		case journal.StepStarted:
			started[r.Step] = true
		case journal.UndoDone:
			undone[r.Step] = true
		}
	}
	for s := range started {
		if !undone[s] {
			t.Errorf("step %s started but its undo_done is not in the journal", s)
		}
	}
	if last := recs[len(recs)-1]; len(started) < 3 || last.Type != journal.RunFinished || last.Outcome != steps.OutcomeReversed {
		t.Errorf("journal after the flush: %d steps started, last %s/%s; want run_finished reversed", len(started), last.Type, last.Outcome)
	}
}
