package steps_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/steps"
)

// TestPAMMovedBeforeTheReboot: EX01 starts as the Primary Active Manager (it owns the cluster core group).
// The dag procedure moves the group to EX02 before the reboot, as StartDagServerMaintenance.ps1 does, so the
// reboot forces no failover of it; the PAM stays on EX02 afterwards (nothing moves it back).
func TestPAMMovedBeforeTheReboot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if got := h.sim.Org().Snapshot().DAGs[0].PrimaryActiveManager; got != "EX01" {
		t.Fatalf("PAM at the start = %s, want EX01", got)
	}
	h.obs.onStart = func(server, step string) {
		if step == "patch" {
			if got := h.sim.Org().Snapshot().DAGs[0].PrimaryActiveManager; got != "EX02" {
				t.Errorf("PAM in maintenance = %s, want EX02", got)
			}
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	dag := h.sim.Org().Snapshot().DAGs[0]
	if dag.UnplannedPAMFailovers != 0 {
		t.Errorf("%d unplanned PAM failovers: the reboot took the core group down with it", dag.UnplannedPAMFailovers)
	}
	if dag.PrimaryActiveManager != "EX02" {
		t.Errorf("PAM after the run = %s, want EX02", dag.PrimaryActiveManager)
	}
}

// TestPreGateRefusals: a file share witness in InvalidConfiguration, a member Exchange reports stopped, or
// Exchange setup running keeps a DAG member from starting, before any change.
func TestPreGateRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault exchsim.Fault
		want  string
	}{
		{"witness", exchsim.Fault{Kind: "witness_invalid", Target: "DAG01"}, "file share witness is InvalidConfiguration"},
		{"stopped member", exchsim.Fault{Kind: "reboot_never_returns", Server: "EX02"}, "DAG DAG01 has stopped members: EX02"},
		{"setup", exchsim.Fault{Kind: "setup_running", Server: "EX01"}, "an installer is at work: ExSetup.exe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			before := h.sim.Org().Snapshot()
			if err := h.sim.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			if tc.fault.Kind == "reboot_never_returns" {
				peer := h.env(t, "EX02", fastSettings())
				if err := peer.Ex.RestartComputer(t.Context(), 0); err != nil {
					t.Fatal(err)
				}
			}
			sr := h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"])
			sr.Begin = func(context.Context) error {
				t.Error("Begin (the silence) ran for a server the pre-gates refused")
				return nil
			}
			res := h.runner.Run(t.Context(), sr)
			if res.Outcome != steps.OutcomeSkipped || res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("outcome %s, err %v; want skipped with %q", res.Outcome, res.Err, tc.want)
			}
			if diffs := before.Equivalent(h.sim.Org().Snapshot()); tc.fault.Kind != "reboot_never_returns" && len(diffs) > 0 {
				t.Errorf("a refused server changed state: %v", diffs)
			}
		})
	}
}

// TestMoveSuppression: Active Manager suppresses the moves off EX01 (the background moves MoveNow starts
// and the first explicit attempt); the step tries again after move_retry_interval and the run completes.
// Suppressed more often than move_attempts allows, the step fails naming the suppression and the server is
// reversed.
func TestMoveSuppression(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		refusals string
		want     string
	}{{"1", steps.OutcomeCompleted}, {"4", steps.OutcomeReversed}} {
		t.Run(tc.refusals, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			before := h.sim.Org().Snapshot()
			h.obs.onStart = func(server, step string) {
				if step == "block-activation" {
					if err := h.sim.InjectFault(exchsim.Fault{Kind: "move_suppressed", Server: "EX01", Target: tc.refusals}); err != nil {
						t.Error(err)
					}
				}
				if step == "patch" || step == "serverwideoffline-inactive" {
					_ = h.sim.ClearFaults()
				}
			}
			res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, err %v; want %s", res.Outcome, res.Err, tc.want)
			}
			if tc.want == steps.OutcomeReversed && !strings.Contains(res.Err.Error(), "after 2 move attempts") || tc.want == steps.OutcomeReversed && !strings.Contains(res.Err.Error(), "suppressed the move") {
				t.Errorf("err = %v; want it to name the attempts and the suppression", res.Err)
			}
			if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 && tc.want == steps.OutcomeCompleted {
				t.Errorf("state not restored: %v", diffs)
			}
		})
	}
}

// TestBeginRunsAfterThePreGates: Begin (where the daemon silences the server) runs once the pre-gates have
// passed and before the first change; an error from it skips the server with nothing changed.
func TestBeginRunsAfterThePreGates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	sr := h.serverRun(h.env(t, "EX03", fastSettings()), steps.BuiltinProcedures()["standalone"])
	sr.Begin = func(context.Context) error {
		if got := h.obs.states("EX03"); !strings.Contains(got, "prechecks") || strings.Contains(got, "entering") {
			t.Errorf("Begin ran at states %q; want after the pre-checks, before entering", got)
		}
		return errors.New("alertmanager unreachable")
	}
	res := h.runner.Run(t.Context(), sr)
	if res.Outcome != steps.OutcomeSkipped || res.Err == nil || res.Err.Error() != "alertmanager unreachable" {
		t.Fatalf("outcome %s, err %v; want skipped with Begin's error", res.Outcome, res.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("a server Begin refused changed state: %v", diffs)
	}
}

// dag3Target is a member of dag3's DAG02 (three members, three copies of each database).
func dag3Target(server string) steps.Target {
	return dagTarget(server, "DAG02", "EX11", "EX12", "EX13")
}

// dagTarget is server as a member of dag with the other members as peers.
func dagTarget(server, dag string, members ...string) steps.Target {
	t := steps.Target{Server: server, FQDN: strings.ToLower(server) + ".exlab.local", DAG: dag}
	for _, m := range members {
		if m != server {
			t.Peers = append(t.Peers, steps.Peer{Server: m, FQDN: strings.ToLower(m) + ".exlab.local"})
		}
	}
	return t
}

// TestThreeMemberDAG runs the dag procedure on two members of a three-member DAG, one after the other:
// EX13 keeps IntrasiteOnly activation and holds a poison message (which never drains: counted as active,
// the drain would stall and the run reverse), EX11 owns the PAM. Each ends patched and back exactly as it
// was — IntrasiteOnly restored, not a default.
func TestThreeMemberDAG(t *testing.T) {
	t.Parallel()
	h := newScenarioHarness(t, "dag3")
	before := h.sim.Org().Snapshot()
	for _, server := range []string{"EX13", "EX11"} {
		env := h.env(t, server, fastSettings())
		env.Target = dag3Target(server)
		sr := h.serverRun(env, steps.BuiltinProcedures()["dag"])
		sr.PreGates.DAGMembers = []string{"EX11", "EX12", "EX13"}
		res := h.runner.Run(t.Context(), sr)
		if res.Outcome != steps.OutcomeCompleted {
			t.Fatalf("%s: outcome %s, err %v", server, res.Outcome, res.Err)
		}
	}
	after := h.sim.Org().Snapshot()
	if diffs := before.Equivalent(after); len(diffs) > 0 {
		t.Errorf("not restored:\n  %s", strings.Join(diffs, "\n  "))
	}
	for _, s := range after.Servers {
		if s.Name == "EX13" && (s.ActivationPolicy != "IntrasiteOnly" || s.Queues["poison"] != 1) {
			t.Errorf("EX13 after its run: policy %s, poison %d; want IntrasiteOnly and the poison message left alone", s.ActivationPolicy, s.Queues["poison"])
		}
	}
	if dag := after.DAGs[0]; dag.UnplannedPAMFailovers != 0 {
		t.Errorf("%d unplanned PAM failovers", dag.UnplannedPAMFailovers)
	}
}

// TestLaggedCopyAndAnotherRequester runs the dag procedure on EX21, then EX23, of dag3lag, where EX23 holds lagged
// copies (a replay queue of 4,200 logs by design) and a health probe (requester Functional) already holds
// EX21's ActiveSyncProxy Inactive. The lagged copies are exempt from the replay threshold (the copy gates
// and "back after the reboot" would otherwise fail), count as no redundancy (redundancy_min_copies 1 is
// met by EX22 alone) and are never activated (exchsim refuses, as Active Manager's best-copy selection
// skips them); the other requester's hold is left exactly as it was.
func TestLaggedCopyAndAnotherRequester(t *testing.T) {
	t.Parallel()
	h := newScenarioHarness(t, "dag3lag")
	settings := fastSettings()
	settings.RedundancyMinCopies = 1
	env := h.env(t, "EX21", settings)
	env.Target = dagTarget("EX21", "DAG03", "EX21", "EX22", "EX23")
	if err := env.Ex.SetComponentState(t.Context(), "EX21", "ActiveSyncProxy", "Inactive", "Functional"); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Org().Snapshot()
	// EX21 holds active copies whose partners are lagged; EX23 holds the lagged copies themselves (its own
	// copy gate and "back" check read a replay queue of 4,200).
	for i, server := range []string{"EX21", "EX23"} {
		e := env
		if server != "EX21" {
			e = h.env(t, server, settings)
			e.Target = dagTarget(server, "DAG03", "EX21", "EX22", "EX23")
		}
		sr := h.serverRun(e, steps.BuiltinProcedures()["dag"])
		sr.RunID = fmt.Sprintf("run-%d", i+1)
		sr.PreGates.DAGMembers = []string{"EX21", "EX22", "EX23"}
		if res := h.runner.Run(t.Context(), sr); res.Outcome != steps.OutcomeCompleted {
			t.Fatalf("%s: outcome %s, err %v", server, res.Outcome, res.Err)
		}
	}
	after := h.sim.Org().Snapshot()
	if diffs := before.Equivalent(after); len(diffs) > 0 {
		t.Errorf("not restored:\n  %s", strings.Join(diffs, "\n  "))
	}
	held := false
	for _, s := range after.Servers {
		for _, r := range s.Components["ActiveSyncProxy"] {
			held = held || s.Name == "EX21" && r.Requester == "Functional" && r.State == "Inactive"
		}
	}
	if !held {
		t.Error("the Functional requester's hold on EX21's ActiveSyncProxy is gone; exmaintd must leave other requesters alone")
	}
	// With redundancy demanding two copies, the lagged one does not count: the pre-gate refuses.
	settings.RedundancyMinCopies = 2
	env2 := h.env(t, "EX21", settings)
	env2.Target = env.Target
	sr := h.serverRun(env2, steps.BuiltinProcedures()["dag"])
	sr.RunID = "run-3"
	sr.PreGates.DAGMembers = []string{"EX21", "EX22", "EX23"}
	res := h.runner.Run(t.Context(), sr)
	if res.Outcome == steps.OutcomeCompleted || res.Err == nil || !strings.Contains(res.Err.Error(), "non-lagged") {
		t.Errorf("redundancy 2 with one lagged copy: outcome %s, err %v; want the redundancy gate to refuse", res.Outcome, res.Err)
	}
}
