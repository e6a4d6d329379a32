package steps_test

import (
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/steps"
)

// TestVerifyCatchesNoEffect: a change that reports success and changes nothing (exchsim's cmdlet_noop) is
// caught by the step's verification, not taken on the cmdlet's word: in the entry the step fails its
// verify phase and the run reverses; in the exit the undo fails its verify-undo phase and the server is
// marked rollback_failed (hands off), never reported as restored.
func TestVerifyCatchesNoEffect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cmdlet, step string
		exit               bool // inject when the exit starts (after the reboot), not from the start
		outcome, want      string
	}{
		{"component state", "Set-ServerComponentState", "hubtransport-draining", false, steps.OutcomeReversed, "hubtransport-draining: verify"},
		{"cluster node", "Suspend-ClusterNode", "suspend-cluster-node", false, steps.OutcomeReversed, "suspend-cluster-node: verify"},
		{"activation policy", "Set-MailboxServer", "block-activation", false, steps.OutcomeReversed, "block-activation: verify"},
		{"activation policy restored", "Set-MailboxServer", "block-activation", true, steps.OutcomeRollbackFailed, "block-activation: verify-undo"},
		{"cluster node resumed", "Resume-ClusterNode", "suspend-cluster-node", true, steps.OutcomeRollbackFailed, "suspend-cluster-node: verify-undo"},
		{"component state restored", "Set-ServerComponentState", "serverwideoffline-inactive", true, steps.OutcomeRollbackFailed, "serverwideoffline-inactive: verify-undo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			fault := exchsim.Fault{Kind: "cmdlet_noop", Server: "EX01", Target: tc.cmdlet}
			inject := func() {
				if err := h.sim.InjectFault(fault); err != nil {
					t.Error(err)
				}
			}
			if tc.exit {
				h.obs.onFinish = func(_, step string, undo bool) {
					if step == "reboot" && !undo {
						inject()
					}
				}
			} else {
				inject()
			}
			res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
			if res.Outcome != tc.outcome || res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("outcome %s, err %v; want %s with %q", res.Outcome, res.Err, tc.outcome, tc.want)
			}
		})
	}
}

// TestMoveVerify: move-active-databases' Verify reads the server, not the moves' word: it fails while any
// copy is still active here, naming how many, and passes once none is.
func TestMoveVerify(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX02", fastSettings())
	verify := steps.Catalogue()["move-active-databases"].Verify
	// DB03 is active on EX02 in the demo organisation.
	if err := verify(t.Context(), env, nil); err == nil || !strings.Contains(err.Error(), "1 database copies still active on EX02") {
		t.Errorf("with DB03 active here: %v; want it counted", err)
	}
	if err := env.Ex.MoveActiveDatabase(t.Context(), "DB03", "EX01"); err != nil {
		t.Fatal(err)
	}
	if err := verify(t.Context(), env, nil); err != nil {
		t.Errorf("with nothing active here: %v", err)
	}
}
