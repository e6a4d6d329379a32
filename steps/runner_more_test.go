package steps_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
)

// failAt is a journal store that refuses one record (by type and step) with an ordinary write error, as a
// full or failing disk would.
type failAt struct {
	journal.Store
	typ, step string
}

func (f *failAt) Put(r journal.Record, line []byte) error {
	if r.Type == f.typ && r.Step == f.step {
		return errors.New("injected: the journal cannot be written")
	}
	return f.Store.Put(r, line)
}

// TestJournalFailureStopsTheRun: when a step's step_done record cannot be written, no further step starts:
// the run reverses (the undos still run; their records wait), and its error names the journal.
func TestJournalFailureStopsTheRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	fs, err := journal.OpenFileStore(h.journalPath+".failing", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j, _, _, err := journal.OpenStore(&failAt{Store: fs, typ: journal.StepDone, step: "drain-queues"}, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	h.runner.Journal = j
	var mu sync.Mutex
	var startedAfter []string
	failed := false
	h.obs.onStart = func(_, step string) {
		mu.Lock()
		defer mu.Unlock()
		if failed {
			startedAfter = append(startedAfter, step)
		}
		if step == "drain-queues" {
			failed = true
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeReversed || res.Err == nil || !strings.Contains(res.Err.Error(), "the journal cannot be written") {
		t.Fatalf("outcome %s, err %v; want reversed, naming the journal", res.Outcome, res.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(startedAfter) > 0 {
		t.Errorf("steps started after drain-queues' record failed: %v", startedAfter)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("not restored: %v", diffs)
	}
}

// TestNoPatchNoPatchStep: with no patch commands the run has no patch step at all (not an empty one in
// the journal and the metrics).
func TestNoPatchNoPatchStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := fastSettings()
	s.Patch = nil
	if res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX03", s), steps.BuiltinProcedures()["standalone"])); res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	recs, _, err := journal.ReadFile(h.journalPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Step == "patch" {
			t.Fatalf("a %s record for a patch step with no patch commands", r.Type)
		}
	}
}

// TestUndoSucceedsOnTheLastAttempt: an undo that fails until its last allowed attempt (undo_attempts) is
// done, and the server is back — every attempt is made, not one fewer.
func TestUndoSucceedsOnTheLastAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	settings := fastSettings()
	var mu sync.Mutex
	failures := 0
	h.obs.onFinish = func(_, step string, undo bool) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case step == "reboot" && !undo: // the exit starts: the activation policy's undo fails from now on
			if err := h.sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Set-MailboxServer"}); err != nil {
				t.Error(err)
			}
		case step == "block-activation" && undo:
			failures++
			if failures == settings.UndoAttempts-1 {
				if err := h.sim.ClearFaults(); err != nil {
					t.Error(err)
				}
			}
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", settings), steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v; want completed on the last undo attempt", res.Outcome, res.Err)
	}
	if failures != settings.UndoAttempts {
		t.Errorf("%d undo attempts of block-activation; want %d", failures, settings.UndoAttempts)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("not restored: %v", diffs)
	}
}

// TestRecoverFinishesTheRun: a recovery ends its run in the journal with the outcome it reached and its
// cause (the failed Undo when it failed), and leaves the server's state where it is: idle when recovered, still
// rollback_failed when an Undo kept failing — never idle over a server that is not back.
func TestRecoverFinishesTheRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fault     *exchsim.Fault
		outcome   string
		lastState string
	}{
		{name: "recovered", outcome: steps.OutcomeRecovered, lastState: "idle"},
		{name: "undo keeps failing", fault: &exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Set-ServerComponentState"},
			outcome: steps.OutcomeRollbackFailed, lastState: "rollback_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			env := h.env(t, "EX01", fastSettings())
			interruptedInDrain(t, h)
			if tc.fault != nil {
				if err := h.sim.InjectFault(*tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			res := h.runner.Recover(t.Context(), journal.Unfinished(mustRecords(t, h))[0], env, steps.RecoverReverse)
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%v), want %s", res.Outcome, res.Err, tc.outcome)
			}
			var fin *journal.Record
			for _, r := range mustRecords(t, h) {
				if r.Type == journal.RunFinished && r.Run == "r0" {
					fin = &r
				}
			}
			switch {
			case fin == nil:
				t.Fatal("no run_finished record for the recovered run")
			case fin.Outcome != tc.outcome:
				t.Errorf("run_finished outcome %q, want %q", fin.Outcome, tc.outcome)
			case fin.Error == "": // a recovery always has a cause, the crash, and a failed one the Undo's error too
				t.Error("run_finished has no error")
			case tc.fault != nil && !strings.Contains(fin.Error, "hubtransport-draining"):
				t.Errorf("run_finished error %q does not name the step", fin.Error)
			}
			states := strings.Fields(h.obs.states("EX01"))
			if len(states) == 0 || states[len(states)-1] != tc.lastState {
				t.Errorf("states %v, want the last to be %s", states, tc.lastState)
			}
		})
	}
}

// TestInSessionPatch: a command that is not detached runs in the WinRS session, bounded by its timeout
// (two hours when none is set); an exit code other than 0, 3010 or 1641 fails the step with the
// command's last lines, and the run reverses.
func TestInSessionPatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, command string
		outcome       string
		want          string // in the error
	}{
		{"succeeds, no timeout set", `Write-Output 'installed'`, steps.OutcomeCompleted, ""},
		{"exit code 1", `Write-Output 'setup failed: disk full'; $global:LASTEXITCODE = 1`, steps.OutcomeReversed, `patch command "p": exit code 1: setup failed: disk full`},
		{"exit code 3010", `Write-Output 'restart required'; $global:LASTEXITCODE = 3010`, steps.OutcomeCompleted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			s := fastSettings()
			s.Patch = []steps.PatchCommand{{Name: "p", Command: tc.command}}
			res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX03", s), steps.BuiltinProcedures()["standalone"]))
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %s (%v), want %s", res.Outcome, res.Err, tc.outcome)
			}
			if tc.want != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.want)) {
				t.Errorf("error %v; want %q", res.Err, tc.want)
			}
		})
	}
}
