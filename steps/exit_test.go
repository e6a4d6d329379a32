package steps_test

import (
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/steps"
)

// TestOtherRequesters: the exit tells holds that appeared during the run from holds that were there
// before it (the permissions gate's baseline). A hold from before is never touched nor reported — it is
// not ours (e.g. HealthApi's ForwardSyncDaemon on-premises); a new one is reported, and cleared only with
// fix_other_requesters.
func TestOtherRequesters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		before, fix bool
		wantHeld    bool
		wantWarning bool
	}{
		{name: "held before, reported never", before: true, wantHeld: true},
		{name: "held before, fix leaves it", before: true, fix: true, wantHeld: true},
		{name: "held during the run, reported", wantHeld: true, wantWarning: true},
		{name: "held during the run, fixed", fix: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			s := fastSettings()
			s.Patch = nil
			s.FixOtherRequesters = tc.fix
			env := h.env(t, "EX03", s)
			hold := func() {
				if err := env.Ex.SetComponentState(t.Context(), "EX03", "ActiveSyncProxy", "Inactive", "Functional"); err != nil {
					t.Error(err)
				}
			}
			if tc.before {
				hold()
			} else {
				h.obs.onStart = func(_, step string) {
					if step == "reboot" {
						hold()
					}
				}
			}
			res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
			if res.Outcome != steps.OutcomeCompleted {
				t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
			}
			warned := false
			for _, w := range res.Warnings {
				warned = warned || strings.Contains(w, "ActiveSyncProxy is held Inactive by requester Functional")
			}
			if warned != tc.wantWarning {
				t.Errorf("warnings %q; a warning about the Functional hold expected: %v", res.Warnings, tc.wantWarning)
			}
			held := false
			for _, srv := range h.sim.Org().Snapshot().Servers {
				for _, r := range srv.Components["ActiveSyncProxy"] {
					held = held || srv.Name == "EX03" && r.Requester == "Functional" && r.State == "Inactive"
				}
			}
			if held != tc.wantHeld {
				t.Errorf("Functional's hold on ActiveSyncProxy present: %v, want %v", held, tc.wantHeld)
			}
		})
	}
}
