package steps_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/steps"
)

// TestDamagedRecordChangesNothing: a step refuses to restore from a record it cannot read (damaged, or
// missing) — with an error naming the step and without sending a single change to the server. Restoring a
// zero value would write defaults over what the server really had. Two steps record only for their Do
// (the peer redirect-message chose, the Primary Active Manager's node at the time) and have nothing to
// restore; a Do that reads its record refuses a damaged one the same way.
func TestDamagedRecordChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings())
	recordsForDoOnly := map[string]bool{"redirect-message": true, "move-primary-active-manager": true}
	doReadsRecord := map[string]bool{"redirect-message": true, "suspend-database-copies": true}
	restoring := 0
	for name, s := range steps.Catalogue() {
		orig, err := s.Record(t.Context(), env)
		if err != nil {
			t.Fatalf("%s: Record: %v", name, err)
		}
		if orig == nil {
			continue // nothing recorded, nothing to damage
		}
		phases := map[string]func(json.RawMessage) error{}
		if !recordsForDoOnly[name] {
			restoring++
			phases["undo"] = func(r json.RawMessage) error { return s.Undo(t.Context(), env, r) }
			phases["verify-undo"] = func(r json.RawMessage) error { return s.VerifyUndo(t.Context(), env, r) }
		}
		if doReadsRecord[name] {
			phases["do"] = func(r json.RawMessage) error { return s.Do(t.Context(), env, r) }
		}
		for phase, f := range phases {
			for _, bad := range []json.RawMessage{json.RawMessage(`{"copies":`), nil} {
				before := len(h.sim.Org().Changes())
				err := f(bad)
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("%s %s with the record %q: %v; want an error naming the step", name, phase, bad, err)
				}
				if changes := h.sim.Org().Changes()[before:]; len(changes) > 0 {
					t.Errorf("%s %s with the record %q changed the server: %v", name, phase, bad, changes)
				}
			}
		}
	}
	if restoring < 9 {
		t.Errorf("%d steps restore recorded values; the catalogue has at least 9", restoring)
	}
}

// TestComponentUndoRestartsTransport: HubTransport's Undo sets the recorded state and then restarts the
// transport services (Microsoft's exit procedure: HubTransport Active, then Restart-Service MSExchangeTransport); a
// failed Set-ServerComponentState is the Undo's error and restarts nothing. FrontendTransport's Undo
// restarts nothing.
func TestComponentUndoRestartsTransport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, step string
		fail       bool
		want       []string // the changes sent, in order
	}{
		{"hub transport", "hubtransport-draining", false, []string{"Set-ServerComponentState", "Restart-Service", "Restart-Service"}},
		{"frontend transport", "frontendtransport-draining", false, []string{"Set-ServerComponentState"}},
		{"hub transport, set refused", "hubtransport-draining", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			env := h.env(t, "EX01", fastSettings())
			s := steps.Catalogue()[tc.step]
			orig, err := s.Record(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			if tc.fail {
				if err := h.sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Set-ServerComponentState"}); err != nil {
					t.Fatal(err)
				}
			}
			before := len(h.sim.Org().Changes())
			err = s.Undo(t.Context(), env, orig)
			if (err != nil) != tc.fail {
				t.Errorf("Undo: %v; an error expected: %v", err, tc.fail)
			}
			var got []string
			for _, c := range h.sim.Org().Changes()[before:] {
				got = append(got, c.Cmdlet)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("changes %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMovesLeftToActiveManager: block-activation's MoveNow makes Active Manager move the server's active
// databases in the background, choosing the best copies; move-active-databases waits for those moves and
// sends no move of its own while they progress (a second move of a database Active Manager is moving
// would race it). Only when the background moves stop (suppressed here) does it move what is left, one
// database at a time — after move_settle without progress, not at move_timeout (measured on a clock that
// advances only when the step sleeps).
func TestMovesLeftToActiveManager(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fault     *exchsim.Fault
		wantMoves bool
	}{
		{"background moves finish", nil, false},
		{"background moves suppressed", &exchsim.Fault{Kind: "move_suppressed", Server: "EX01", Target: "1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			env := h.env(t, "EX01", fastSettings())
			var clock *stoppedClock
			if tc.fault != nil {
				if err := h.sim.InjectFault(*tc.fault); err != nil {
					t.Fatal(err)
				}
				// No background move happens: the step's own waits are all the time that passes.
				clock = &stoppedClock{now: time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)}
				env.Clock = clock
			}
			block, move := steps.Catalogue()["block-activation"], steps.Catalogue()["move-active-databases"]
			orig, err := block.Record(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			if err := block.Do(t.Context(), env, orig); err != nil {
				t.Fatal(err)
			}
			before := len(h.sim.Org().Changes())
			if err := move.Do(t.Context(), env, nil); err != nil {
				t.Fatalf("move-active-databases: %v", err)
			}
			moves := 0
			for _, c := range h.sim.Org().Changes()[before:] {
				if c.Cmdlet == "Move-ActiveMailboxDatabase" {
					moves++
				}
			}
			if (moves > 0) != tc.wantMoves {
				t.Errorf("%d moves sent by exmaintd; moves expected: %v", moves, tc.wantMoves)
			}
			if clock != nil {
				s := env.Settings
				if took, bound := clock.now.Sub(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)), s.MoveSettle+time.Duration(s.MoveAttempts)*(s.MoveRetryInterval+s.PollInterval)+time.Second; took > bound {
					t.Errorf("the step took %v of its own waits; move_settle %v, then the moves: want at most %v (move_timeout is %v)", took, s.MoveSettle, bound, s.MoveTimeout)
				}
			}
			if err := move.Verify(t.Context(), env, nil); err != nil {
				t.Error(err)
			}
		})
	}
}
