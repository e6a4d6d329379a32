package steps_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
)

// undoOrder reads the journal and returns, for run, the steps in the order they started and in the order
// their undos started.
func undoOrder(t *testing.T, path, run string) (started, undone []string) {
	t.Helper()
	recs, _, err := journal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Run != run {
			continue
		}
		switch r.Type {
		case journal.StepStarted:
			started = append(started, r.Step)
		case journal.UndoStarted:
			if !slices.Contains(undone, r.Step) {
				undone = append(undone, r.Step)
			}
		}
	}
	return started, undone
}

// assertNewestFirst: every started step is undone, newest first.
func assertNewestFirst(t *testing.T, what string, started, undone []string) {
	t.Helper()
	want := slices.Clone(started)
	slices.Reverse(want)
	if len(started) < 3 || !slices.Equal(undone, want) {
		t.Errorf("%s: undos ran %v; want the %d started steps newest first: %v", what, undone, len(started), want)
	}
}

// TestUndoOrder: the exit, a reverse after a failure and the recovery of a crashed run all undo newest
// first — exchsim accepts undos in any order, so only the journal can show it (an oldest-first reverse
// passed every other test).
func TestUndoOrder(t *testing.T) {
	t.Parallel()
	t.Run("exit", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
		if res.Outcome != steps.OutcomeCompleted {
			t.Fatalf("outcome %s, %v", res.Outcome, res.Err)
		}
		started, undone := undoOrder(t, h.journalPath, "run-1")
		assertNewestFirst(t, "exit", started, undone)
		if got := h.obs.undos("EX01"); !slices.Equal(got, undone) {
			t.Errorf("the observer saw undos %v, the journal %v", got, undone)
		}
	})
	t.Run("reverse", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.obs.onStart = func(_, step string) {
			if step == "move-active-databases" {
				_ = h.sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Target: "Move-ClusterGroup", Server: "EX01"})
			}
		}
		res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
		if res.Outcome != steps.OutcomeReversed {
			t.Fatalf("outcome %s, %v", res.Outcome, res.Err)
		}
		started, undone := undoOrder(t, h.journalPath, "run-1")
		assertNewestFirst(t, "reverse", started, undone)
	})
	t.Run("recovery", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		env := h.env(t, "EX03", fastSettings())
		// What a crash after three started steps leaves: their records, no undo, no run_finished.
		orig := func(comp string) json.RawMessage {
			b, _ := json.Marshal(map[string]string{"component": comp, "state": "Active"})
			return b
		}
		base := journal.Record{Run: "r-crash", Window: "w", Server: "EX03"}
		for _, r := range []journal.Record{
			{Type: journal.RunStarted},
			{Type: journal.Recorded, Step: "hubtransport-draining", Data: orig("HubTransport")},
			{Type: journal.StepStarted, Step: "hubtransport-draining"},
			{Type: journal.Recorded, Step: "frontendtransport-draining", Data: orig("FrontendTransport")},
			{Type: journal.StepStarted, Step: "frontendtransport-draining"},
			{Type: journal.Recorded, Step: "serverwideoffline-inactive", Data: orig("ServerWideOffline")},
			{Type: journal.StepStarted, Step: "serverwideoffline-inactive"},
		} {
			r.Run, r.Window, r.Server = base.Run, base.Window, base.Server
			if _, err := h.journal.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		recs, _, err := journal.ReadFile(h.journalPath)
		if err != nil {
			t.Fatal(err)
		}
		un := journal.Unfinished(recs)
		if len(un) != 1 {
			t.Fatalf("%d unfinished runs", len(un))
		}
		if res := h.runner.Recover(t.Context(), un[0], env, steps.RecoverReverse); res.Outcome != steps.OutcomeRecovered {
			t.Fatalf("recovery: %s, %v", res.Outcome, res.Err)
		}
		started, undone := undoOrder(t, h.journalPath, "r-crash")
		assertNewestFirst(t, "recovery", started, undone)
		if !strings.Contains(strings.Join(undone, ","), "serverwideoffline-inactive,frontendtransport-draining,hubtransport-draining") {
			t.Errorf("recovery undos %v", undone)
		}
	})
}
