package steps_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
	"github.com/exmaintd/exmaintd/syncbuf"
)

// TestGateRecords: each gate's result goes to the journal with what it read (a pass: the queue and copy
// values), why it failed, or the error that kept it from being evaluated — the report's material.
func TestGateRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		fault                exchsim.Fault
		gate, result, detail string
	}{
		{"a pass with its values", exchsim.Fault{}, "queues", steps.GatePass, "active (max 500)"},
		{"a failure with its reason", exchsim.Fault{Kind: "setup_running", Server: "EX01"}, "setup", steps.GateFail, "ExSetup"},
		{"an error", exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Get-MailboxDatabaseCopyStatus", Message: "copies unreadable (injected)"},
			"copies", steps.GateError, "copies unreadable (injected)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tc.fault.Kind != "" {
				if err := h.sim.InjectFault(tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			proc := steps.Procedure{Name: "one", Steps: []string{"hubtransport-draining"}}
			s := fastSettings()
			s.Patch = nil
			h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", s), proc))
			recs, _, err := journal.ReadFile(h.journalPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				var d journal.GateData
				if r.Type != journal.Gate || json.Unmarshal(r.Data, &d) != nil || d.Gate != tc.gate || d.When != "pre-gates" {
					continue
				}
				if r.Outcome != tc.result || !strings.Contains(d.Detail, tc.detail) {
					t.Errorf("%s gate record: %s %q; want %s with %q", tc.gate, r.Outcome, d.Detail, tc.result, tc.detail)
				}
				return
			}
			t.Errorf("no pre-gates record of gate %s in %d records", tc.gate, len(recs))
		})
	}
}

// TestStopCause: a run that an abort stops, or the window's end, says so (Result.Stopped), and its
// run_finished record keeps it; a run that fails on its own says nothing.
func TestStopCause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		stop string // how the run is stopped while it drains: "abort", "window end" or "" (a failure)
	}{
		{"abort", steps.StopAbort},
		{"window end", steps.StopWindowEnd},
		{"own failure", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if err := h.sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX01"}); err != nil {
				t.Fatal(err)
			}
			s := fastSettings()
			s.DrainTimeout, s.DrainStall = time.Hour, 30*time.Minute // only the stop ends the drain
			if tc.stop == "" {
				s.DrainTimeout, s.DrainStall = 2*time.Second, time.Second
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var logs syncbuf.Buffer
			h.runner.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			sr := h.serverRun(h.env(t, "EX01", s), steps.BuiltinProcedures()["dag"])
			sr.Deadline = time.Now().Add(time.Hour)
			h.obs.onStart = func(_, step string) {
				if step == "drain-queues" && tc.stop == steps.StopAbort {
					cancel()
				}
			}
			if tc.stop == steps.StopWindowEnd {
				// Reached while the stuck drain waits: generous, because the pre-gates before it take seconds on
				// a loaded machine (3 s was reached during them once in a parallel make test).
				sr.Deadline = time.Now().Add(20 * time.Second)
			}
			res := h.runner.Run(ctx, sr)
			if res.Outcome != steps.OutcomeReversed || res.Stopped != tc.stop {
				t.Fatalf("outcome %s, stopped %q (%v); want reversed, %q", res.Outcome, res.Stopped, res.Err, tc.stop)
			}
			// A stop is logged as one, at warning level; only a failure as a failure.
			wantLog := `level=ERROR msg="server run failed; reversing"`
			if tc.stop != "" {
				wantLog = `level=WARN msg="server run stopped (` + tc.stop + `); reversing"`
			}
			if l := logs.String(); !strings.Contains(l, wantLog) || strings.Count(l, "; reversing") != 1 {
				t.Errorf("log lacks %s, or says it twice:\n%s", wantLog, l)
			}
			recs, _, err := journal.ReadFile(h.journalPath)
			if err != nil {
				t.Fatal(err)
			}
			last := recs[len(recs)-1]
			var d journal.FinishedData
			_ = json.Unmarshal(last.Data, &d) // no data: no stop cause
			if last.Type != journal.RunFinished || d.Stopped != tc.stop || (tc.stop == "") != (len(last.Data) == 0) {
				t.Errorf("run_finished %s %s; want the stop cause %q in it (no data without one, nor warnings)", last.Type, last.Data, tc.stop)
			}
		})
	}
}

// TestRunFinishedKeepsWarnings: a run's warnings are journaled with its end, for the status after a
// restart and the report (SE has no UMCallRouter: its step is skipped with one).
func TestRunFinishedKeepsWarnings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := fastSettings()
	s.Patch, s.WatchFor = nil, time.Second // the watch polls the gates about ten times, all passing
	res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", s), steps.Procedure{Name: "two", Steps: []string{"hubtransport-draining", "umcallrouter-draining"}}))
	if res.Outcome != steps.OutcomeCompleted || len(res.Warnings) != 1 {
		t.Fatalf("outcome %s, warnings %q (%v)", res.Outcome, res.Warnings, res.Err)
	}
	recs, _, err := journal.ReadFile(h.journalPath)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	var d journal.FinishedData
	if err := json.Unmarshal(last.Data, &d); err != nil || last.Type != journal.RunFinished || d.Stopped != "" || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "UMCallRouter") {
		t.Errorf("run_finished %s %s (%v); want the warning in it", last.Type, last.Data, err)
	}
	// The watch keeps only what it finds wrong: none of its passes is journaled; the post-gates' are.
	post, watched := 0, 0
	for _, r := range recs {
		var g journal.GateData
		if r.Type != journal.Gate || json.Unmarshal(r.Data, &g) != nil {
			continue
		}
		if g.When == "watch" {
			watched++
		}
		if g.When == "post-gates" && r.Outcome == steps.GatePass {
			post++
		}
	}
	if watched != 0 || post != 2 {
		t.Errorf("%d watch gate records, %d post-gates passes; want 0 and 2", watched, post)
	}
}
