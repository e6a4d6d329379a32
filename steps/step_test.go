package steps_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
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
	// The Do (and Verify) phases that read the record; the others act on the live server.
	doReadsRecord := map[string][]string{"redirect-message": {"do"}, "suspend-database-copies": {"do", "verify"}, "dismount-databases": {"do", "verify"}}
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
		if slices.Contains(doReadsRecord[name], "do") {
			phases["do"] = func(r json.RawMessage) error { return s.Do(t.Context(), env, r) }
		}
		if slices.Contains(doReadsRecord[name], "verify") {
			phases["verify"] = func(r json.RawMessage) error { return s.Verify(t.Context(), env, r) }
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
// failed Set-ServerComponentState is the Undo's error and restarts nothing, and services that cannot be
// read back, or that stopped again, after the restart are its error too. FrontendTransport's Undo restarts
// nothing.
func TestComponentUndoRestartsTransport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, step string
		fault      *exchsim.Fault
		wantErr    string   // "" when the Undo succeeds
		want       []string // the changes sent, in order
	}{
		{"hub transport", "hubtransport-draining", nil, "", []string{"Set-ServerComponentState", "Restart-Service", "Restart-Service"}},
		{"frontend transport", "frontendtransport-draining", nil, "", []string{"Set-ServerComponentState"}},
		{"hub transport, set refused", "hubtransport-draining", &exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Set-ServerComponentState"},
			"Set-ServerComponentState", nil},
		{"hub transport, services unreadable after the restart", "hubtransport-draining", &exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Get-Service"},
			"Get-Service", []string{"Set-ServerComponentState", "Restart-Service", "Restart-Service"}},
		{"hub transport, transport stops after its restart", "hubtransport-draining", &exchsim.Fault{Kind: "service_stops", Server: "EX01", Target: "MSExchangeTransport"},
			"services not running: MSExchangeTransport", []string{"Set-ServerComponentState", "Restart-Service", "Restart-Service"}},
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
			if tc.fault != nil {
				h.setFault(t, tc.fault.Kind, tc.fault.Server, tc.fault.Target)
			}
			before := len(h.sim.Org().Changes())
			err = s.Undo(t.Context(), env, orig)
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Undo: %v; want an error containing %q", err, tc.wantErr)
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
// would race it). Only when the background moves stop (suppressed here) does it move what is left — after
// move_settle without progress, not at move_timeout — with Move-ActiveMailboxDatabase -Server, which names
// the server the databases leave. exchsim's model runs on the step's clock: background moves and the
// step's waits interleave exactly, whatever the machine's load (on the wall clock, a background move that
// finished between the step's read and a per-database move made that move fail, one run in six).
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
			start := time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)
			clock := modelClock{org.NewManualClock(start)}
			h := newHarnessWith(t, simtest.Options{Clock: clock.ManualClock}, t.TempDir())
			env := h.env(t, "EX01", fastSettings())
			env.Clock = clock
			if tc.fault != nil {
				h.setFault(t, tc.fault.Kind, tc.fault.Server, tc.fault.Target)
			}
			block, move := steps.Catalogue()["block-activation"], steps.Catalogue()["move-active-databases"]
			orig, err := block.Record(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			if err := block.Do(t.Context(), env, orig); err != nil {
				t.Fatal(err)
			}
			before, moved := len(h.sim.Org().Changes()), clock.Now()
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
			// Suppressed: move_settle without progress, the refused first move at once, one retry interval,
			// the second move — and no wait before the first move.
			s := env.Settings
			if took, bound := clock.Now().Sub(moved), s.MoveSettle+s.MoveRetryInterval+s.PollInterval; took > bound {
				t.Errorf("the step took %v of its own waits; move_settle %v, then the moves: want at most %v (move_timeout is %v)", took, s.MoveSettle, bound, s.MoveTimeout)
			}
			if err := move.Verify(t.Context(), env, nil); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSuspendCopiesRestoresWhatItSuspended: suspend-database-copies suspends activation of the server's
// passive copies and resumes exactly those — a copy an operator had suspended before the run stays
// suspended. Its Verify reads every recorded copy back (a suspension that did nothing is caught), and a
// refused suspension or resume is the Do's or Undo's error.
func TestSuspendCopiesRestoresWhatItSuspended(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX02", fastSettings())
	ctx := t.Context()
	s := steps.Catalogue()["suspend-database-copies"]
	suspended := func() map[string]bool {
		t.Helper()
		cs, err := env.Ex.CopyStatus(ctx, "EX02")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, c := range cs {
			out[c.Name] = c.ActivationSuspended
		}
		return out
	}
	// The demo: DB01 and DB02 are active on EX01, so EX02 holds their passive copies; DB03 is active here.
	// The operator has suspended DB02's copy for reasons of their own.
	if err := env.Ex.SuspendDatabaseCopy(ctx, `DB02\EX02`, true); err != nil {
		t.Fatal(err)
	}
	orig, err := s.Record(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(orig), `DB01\\EX02`) || strings.Contains(string(orig), "DB02") || strings.Contains(string(orig), "DB03") {
		t.Fatalf("recorded %s; want DB01's passive copy only", orig)
	}
	// A refused suspension is the Do's error.
	h.setFault(t, "cmdlet_error", "EX02", "Suspend-MailboxDatabaseCopy")
	if err := s.Do(ctx, env, orig); err == nil {
		t.Error("Do succeeded with the suspension refused")
	}
	h.setFault(t, "", "", "")
	// A suspension that reports success and changes nothing fails the Verify.
	h.setFault(t, "cmdlet_noop", "EX02", "Suspend-MailboxDatabaseCopy")
	if err := s.Do(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, env, orig); err == nil || !strings.Contains(err.Error(), `DB01\EX02`) {
		t.Errorf("Verify after a suspension without effect: %v; want it to name the copy", err)
	}
	h.setFault(t, "", "", "")
	if err := s.Do(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, env, orig); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := suspended(); !got[`DB01\EX02`] || !got[`DB02\EX02`] {
		t.Errorf("after Do: %v; want DB01's and DB02's copies suspended", got)
	}
	h.setFault(t, "cmdlet_error", "EX02", "Resume-MailboxDatabaseCopy")
	if err := s.Undo(ctx, env, orig); err == nil {
		t.Error("Undo succeeded with every resume refused")
	}
	h.setFault(t, "", "", "")
	if err := s.Undo(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyUndo(ctx, env, orig); err != nil {
		t.Errorf("VerifyUndo: %v", err)
	}
	if got := suspended(); got[`DB01\EX02`] || !got[`DB02\EX02`] {
		t.Errorf("after Undo: %v; want DB01's copy resumed and the operator's DB02 suspension kept", got)
	}
	// A copy status that cannot be read is the verification's error, not a pass.
	h.setFault(t, "cmdlet_error", "EX02", "Get-MailboxDatabaseCopyStatus")
	if err := s.VerifyUndo(ctx, env, orig); err == nil {
		t.Error("VerifyUndo passed without reading the copies")
	}
}

// TestDismountDatabases: dismount-databases (standalone servers only, or allow_outage) dismounts what was
// mounted here and mounts exactly that again; every read or change that fails is the phase's error, and
// Verify and VerifyUndo read the databases back.
func TestDismountDatabases(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX03", fastSettings())
	ctx := t.Context()
	s := steps.Catalogue()["dismount-databases"]
	fault := func(kind, cmdlet string) { t.Helper(); h.setFault(t, kind, "EX03", cmdlet) }
	fault("cmdlet_error", "Get-MailboxDatabase")
	if _, err := s.Record(ctx, env); err == nil {
		t.Error("Record succeeded without reading the databases")
	}
	fault("", "")
	orig, err := s.Record(ctx, env)
	if err != nil || string(orig) != `{"databases":["DB10"]}` {
		t.Fatalf("Record = %s, %v; want DB10, mounted on EX03 in the demo", orig, err)
	}
	fault("cmdlet_error", "Dismount-Database")
	if err := s.Do(ctx, env, orig); err == nil {
		t.Error("Do succeeded with the dismount refused")
	}
	fault("cmdlet_noop", "Dismount-Database")
	if err := s.Do(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, env, orig); err == nil || !strings.Contains(err.Error(), "DB10") {
		t.Errorf("Verify after a dismount without effect: %v; want it to name DB10", err)
	}
	fault("", "")
	if err := s.Do(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, env, orig); err != nil {
		t.Errorf("Verify: %v", err)
	}
	fault("cmdlet_error", "Get-MailboxDatabase")
	if err := s.Verify(ctx, env, orig); err == nil {
		t.Error("Verify passed without reading the databases")
	}
	fault("cmdlet_error", "Mount-Database")
	if err := s.Undo(ctx, env, orig); err == nil {
		t.Error("Undo succeeded with the mount refused")
	}
	fault("", "")
	if err := s.Undo(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyUndo(ctx, env, orig); err != nil {
		t.Errorf("VerifyUndo: %v", err)
	}
}

// TestPAMStep: move-primary-active-manager moves the cluster core group off the server that owns it, and
// its Verify asks both sides: the cluster (the group Online on another node) and Exchange (the DAG no
// longer names the server as its Primary Active Manager). A read that fails is an error, never a pass, and
// so is a DAG that names no Primary Active Manager; a server outside a DAG is checked on the cluster side
// only.
func TestPAMStep(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings()) // EX01 is the PAM of DAG01 in the demo
	ctx := t.Context()
	s := steps.Catalogue()["move-primary-active-manager"]
	h.setFault(t, "cmdlet_error", "EX01", "Get-ClusterGroup")
	if _, err := s.Record(ctx, env); err == nil {
		t.Error("Record succeeded without reading the cluster group")
	}
	if err := s.Verify(ctx, env, nil); err == nil {
		t.Error("Verify passed without reading the cluster group")
	}
	h.setFault(t, "", "", "")
	if err := s.Verify(ctx, env, nil); err == nil || !strings.Contains(err.Error(), "on EX01") {
		t.Errorf("Verify before the move: %v; want the core group named on EX01", err)
	}
	orig, err := s.Record(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Do(ctx, env, orig); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx, env, orig); err != nil {
		t.Errorf("Verify after the move: %v", err)
	}
	h.setFault(t, "cmdlet_error", "", "Get-DatabaseAvailabilityGroup") // names the DAG, not a server: fails wherever it runs
	if err := s.Verify(ctx, env, orig); err == nil {
		t.Error("Verify passed without asking Exchange for the DAG's Primary Active Manager")
	}
	// -Status without a Primary Active Manager: unknown, not "not EX01".
	h.setFault(t, "pam_unknown", "", "")
	if err := s.Verify(ctx, env, orig); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("Verify with no Primary Active Manager reported: %v; want it unknown", err)
	}
	// Outside a DAG there is no DAG to ask: the cluster's answer is the whole check.
	standalone := *env
	standalone.Target.DAG = ""
	if err := s.Verify(ctx, &standalone, orig); err != nil {
		t.Errorf("Verify with no DAG: %v", err)
	}
}

// modelClock is a step clock that is also exchsim's model clock: the model moves on only as the steps
// sleep, so background work and the steps' waits interleave exactly, whatever the machine's load.
type modelClock struct{ *org.ManualClock }

func (c modelClock) Sleep(ctx context.Context, d time.Duration) bool {
	c.Advance(d)
	return ctx.Err() == nil
}

// TestMovesSettleOnProgress: move_settle counts from the last database Active Manager moved, not from the
// start: with background moves 2 s apart and move_settle 3 s, the wait lasts through both moves (4 s in
// all) and exmaintd sends no move of its own.
func TestMovesSettleOnProgress(t *testing.T) {
	t.Parallel()
	clock := modelClock{org.NewManualClock(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC))}
	h := newHarnessWith(t, simtest.Options{Clock: clock.ManualClock, Edit: func(sc *org.Scenario) { sc.Timing.Move.Duration = 2 * time.Second }}, t.TempDir())
	s := fastSettings()
	s.MoveSettle = 3 * time.Second
	env := h.env(t, "EX01", s)
	env.Clock = clock
	block, move := steps.Catalogue()["block-activation"], steps.Catalogue()["move-active-databases"]
	orig, err := block.Record(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := block.Do(t.Context(), env, orig); err != nil {
		t.Fatal(err)
	}
	start, before := clock.Now(), len(h.sim.Org().Changes())
	if err := move.Do(t.Context(), env, nil); err != nil {
		t.Fatalf("move-active-databases: %v", err)
	}
	for _, c := range h.sim.Org().Changes()[before:] {
		if c.Cmdlet == "Move-ActiveMailboxDatabase" {
			t.Errorf("exmaintd moved a database itself (%v after the start) while Active Manager's moves progressed", c.Time.Sub(start))
		}
	}
	if took := clock.Now().Sub(start); took < 4*time.Second || took > 5*time.Second {
		t.Errorf("the wait took %v; want the two background moves, 4 s", took)
	}
}

// TestTransportVerifies: restart-transport's Verify reads the transport services again (a service that
// stopped after the restart is caught here too), and drain-queues' Verify fails when the queues cannot be
// read — neither passes on a failed read.
func TestTransportVerifies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := fastSettings()
	s.TransportBootTimeout = time.Second // a cmdlet error reads as a transport still booting until then
	env := h.env(t, "EX03", s)
	ctx := t.Context()
	restart, drain := steps.Catalogue()["restart-transport"], steps.Catalogue()["drain-queues"]
	if err := restart.Verify(ctx, env, nil); err != nil {
		t.Fatalf("restart-transport Verify with transport running: %v", err)
	}
	h.setFault(t, "service_stops", "EX03", "MSExchangeTransport")
	if err := env.Ex.RestartService(ctx, "MSExchangeTransport"); err != nil {
		t.Fatal(err)
	}
	if err := restart.Verify(ctx, env, nil); err == nil || !strings.Contains(err.Error(), "MSExchangeTransport") {
		t.Errorf("restart-transport Verify with transport stopped: %v; want it named", err)
	}
	h.setFault(t, "cmdlet_error", "EX03", "Get-Queue")
	if err := drain.Verify(ctx, env, nil); err == nil {
		t.Error("drain-queues Verify passed without reading the queues")
	}
}

// TestVerifyMaintenance: verify-maintenance names everything that is not in maintenance — on a DAG member
// also the cluster node, the Primary Active Manager and the active copies, which a standalone server has
// not — and a read that fails is its error, never a pass.
func TestVerifyMaintenance(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := fastSettings()
	s.TransportBootTimeout = time.Second
	verify := steps.Catalogue()["verify-maintenance"].Verify
	ctx := t.Context()
	dag := h.env(t, "EX01", s)
	err := verify(ctx, dag, nil)
	for _, want := range []string{"components still Active", "Paused", "cluster core group", "database copies active"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("EX01, a DAG member out of maintenance: %v; want %q named", err, want)
		}
	}
	standalone := h.env(t, "EX03", s)
	err = verify(ctx, standalone, nil)
	if err == nil || !strings.Contains(err.Error(), "components still Active") || strings.Contains(err.Error(), "Paused") || strings.Contains(err.Error(), "database copies") {
		t.Errorf("EX03, standalone: %v; want its components named and no DAG checks", err)
	}
	for _, cmdlet := range []string{"Get-Queue", "Get-MailboxDatabaseCopyStatus"} {
		h.setFault(t, "cmdlet_error", "EX01", cmdlet)
		if err := verify(ctx, dag, nil); err == nil || strings.Contains(err.Error(), "not fully in maintenance") {
			t.Errorf("with %s failing: %v; want the read's error", cmdlet, err)
		}
	}
}
