package steps_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
	"github.com/exmaintd/exmaintd/syncbuf"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		proc  steps.Procedure
		t     steps.Target
		allow bool
		want  string // error substring, "" for success
	}{
		{"dag", steps.BuiltinProcedures()["dag"], target("EX01"), false, ""},
		{"seed on standalone", steps.SeedProcedure(), target("EX03"), false, ""},
		{"seed on DAG member", steps.SeedProcedure(), target("EX01"), false, "refused on EX01 at step dismount-databases"},
		{"seed on DAG member, override", steps.SeedProcedure(), target("EX01"), true, ""},
		{"unknown step", steps.Procedure{Name: "x", Steps: []string{"drain-queues", "mailboxdelivery-draining"}}, target("EX01"), false, `step 2: unknown step "mailboxdelivery-draining"`},
		{"repeated", steps.Procedure{Name: "x", Steps: []string{"drain-queues", "drain-queues"}}, target("EX01"), false, "appears twice"},
		{"empty", steps.Procedure{Name: "x"}, target("EX01"), false, "no steps"},
	}
	for _, tt := range tests {
		_, err := tt.proc.Resolve(tt.t, tt.allow)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Resolve = %v, want %q", tt.name, err, tt.want)
		}
	}
	var re *steps.RefusedError
	if _, err := steps.SeedProcedure().Resolve(target("EX02"), false); !errors.As(err, &re) || !strings.Contains(re.Reason, "users lose access") {
		t.Errorf("refusal %v does not explain the outage", err)
	}
}

// TestSeedProcedure: the seed's list runs to completion on a standalone server (its databases dismounted and
// mounted again) and is refused on a DAG member without the override, before anything is changed.
func TestSeedProcedure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	env := h.env(t, "EX03", fastSettings())
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.SeedProcedure()))
	if res.Outcome != steps.OutcomeCompleted || res.Err != nil {
		t.Fatalf("seed on EX03: %s, %v", res.Outcome, res.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("EX03 not restored: %v", diffs)
	}
	dag := h.env(t, "EX01", fastSettings())
	res = h.runner.Run(t.Context(), h.serverRun(dag, steps.SeedProcedure()))
	var re *steps.RefusedError
	if res.Outcome != steps.OutcomeSkipped || !errors.As(res.Err, &re) {
		t.Fatalf("seed on EX01: %s, %v; want refused", res.Outcome, res.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("refusal changed state: %v", diffs)
	}
}

// TestRollbackFailed: an Undo that keeps failing marks the server rollback_failed in the journal and the
// observer, and RunWindow then leaves it alone.
func TestRollbackFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings())
	h.obs.onStart = func(server, step string) {
		if step == "serverwideoffline-inactive" { // fail SWO, and every Set-MailboxServer from now on
			for _, f := range []exchsim.Fault{{Kind: "cmdlet_error", Server: "EX01", Target: "Set-ServerComponentState"}, {Kind: "cmdlet_error", Server: "EX01", Target: "Set-MailboxServer"}} {
				if err := h.sim.InjectFault(f); err != nil {
					t.Error(err)
				}
			}
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeRollbackFailed {
		t.Fatalf("outcome %s, err %v; want rollback_failed", res.Outcome, res.Err)
	}
	if got := h.obs.states("EX01"); !strings.HasSuffix(got, "rolling_back rollback_failed") {
		t.Errorf("states %s", got)
	}
	_ = h.journal.Close()
	_, recs, _, err := journal.Open(h.journalPath, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blocked := journal.Blocked(recs)
	if !blocked["EX01"] {
		t.Fatalf("journal does not hold EX01 as rollback_failed")
	}
	if err := h.sim.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	j2, _, _, err := journal.Open(h.journalPath, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	h.runner.Journal = j2
	wr := h.runner.RunWindow(t.Context(), []steps.Group{{Name: "DAG01", Servers: []steps.ServerRun{h.serverRun(env, steps.BuiltinProcedures()["dag"])}}}, 1, blocked)
	var be *steps.BlockedError
	if !errors.As(wr["EX01"].Err, &be) {
		t.Errorf("a rollback_failed server was touched: %+v", wr["EX01"])
	}
}

// TestAbortAndDeadline: cancelling the run (an operator's abort, SIGTERM) or reaching the window's hard end
// while the drain waits reverses everything, even though the run's context is over.
func TestAbortAndDeadline(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"abort", "deadline"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			before := h.sim.Org().Snapshot()
			if err := h.sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX01"}); err != nil {
				t.Fatal(err)
			}
			s := fastSettings()
			s.DrainStall, s.DrainTimeout = time.Hour, time.Hour
			env := h.env(t, "EX01", s)
			sr := h.serverRun(env, steps.BuiltinProcedures()["dag"])
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			h.obs.onStart = func(server, step string) {
				if step != "drain-queues" {
					return
				}
				if err := h.sim.ClearFaults(); err != nil { // the undo must work; the queue stays stuck by its messages
					t.Error(err)
				}
				if err := h.sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX01"}); err != nil {
					t.Error(err)
				}
				if mode == "abort" {
					cancel() // the operator's abort arrives while the drain starts
				}
			}
			if mode == "deadline" {
				// The drain never ends, so the deadline is what stops it. It must fall after the pre-gates and the
				// steps before the drain (well under a second alone, several seconds with the suite in parallel on
				// two cores): 15 s is a generous bound, not a measure.
				sr.Deadline = time.Now().Add(15 * time.Second)
				sr.PreGates.Deadline = sr.Deadline
				sr.PreGates.Estimate = time.Second
			}
			res := h.runner.Run(ctx, sr)
			if res.Outcome != steps.OutcomeReversed {
				t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
			}
			if err := h.sim.ClearFaults(); err != nil {
				t.Fatal(err)
			}
			if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
				t.Errorf("not restored after %s: %v", mode, diffs)
			}
		})
	}
}

// TestRollingWindow: DAG members one at a time, a failure stops the rest of the DAG, the standalone server
// runs independently.
func TestRollingWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := fastSettings()
	s.Patch = nil
	h.obs.onStart = func(server, step string) {
		if server == "EX01" && step == "restart-transport" { // EX03 runs the same step in parallel
			_ = h.sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Restart-Service"})
		}
	}
	h.obs.onFinish = func(server, step string, undo bool) {
		if server == "EX01" && step == "restart-transport" && !undo {
			_ = h.sim.ClearFaults()
		}
	}
	groups := []steps.Group{
		{Name: "DAG01", Servers: []steps.ServerRun{h.serverRun(h.env(t, "EX01", s), steps.BuiltinProcedures()["dag"]), h.serverRun(h.env(t, "EX02", s), steps.BuiltinProcedures()["dag"])}},
		{Name: "EX03", Servers: []steps.ServerRun{h.serverRun(h.env(t, "EX03", s), steps.BuiltinProcedures()["standalone"])}},
	}
	res := h.runner.RunWindow(t.Context(), groups, 2, nil)
	var se *steps.StoppedError
	if res["EX01"].Outcome != steps.OutcomeReversed || res["EX02"].Outcome != steps.OutcomeSkipped || !errors.As(res["EX02"].Err, &se) || res["EX03"].Outcome != steps.OutcomeCompleted {
		t.Errorf("results: EX01 %s (%v), EX02 %s (%v), EX03 %s (%v)", res["EX01"].Outcome, res["EX01"].Err, res["EX02"].Outcome, res["EX02"].Err, res["EX03"].Outcome, res["EX03"].Err)
	}
}

func TestEstimate(t *testing.T) {
	p := steps.Procedure{Name: "p", Steps: []string{"drain-queues", "serverwideoffline-inactive"}}
	got := p.Estimate(map[string]time.Duration{"drain-queues": 10 * time.Minute, "reboot": 6 * time.Minute}, time.Minute)
	// 10 + 1 (swo) + 1 (patch, default) + 6 (reboot) = 18, plus half for the exit.
	if got != 27*time.Minute {
		t.Errorf("Estimate = %v, want 27m", got)
	}
}

// TestRecoverHold: with the hold policy an interrupted run is not touched; the server is held for an operator.
func TestRecoverHold(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings())
	interruptedInDrain(t, h)
	before := h.sim.Requests()["Command"]
	res := h.runner.Recover(t.Context(), journal.Unfinished(mustRecords(t, h))[0], env, steps.RecoverHold)
	if res.Outcome != steps.OutcomeRollbackFailed || h.sim.Requests()["Command"] != before {
		t.Errorf("hold: outcome %s; the server was contacted: %v", res.Outcome, h.sim.Requests()["Command"] != before)
	}
	if !journal.Blocked(mustRecords(t, h))["EX01"] {
		t.Error("held server not blocked in the journal")
	}
}

// interruptedInDrain journals run r0 on EX01 as a crash inside hubtransport-draining leaves it.
func interruptedInDrain(tb testing.TB, h *harness) {
	tb.Helper()
	for _, rec := range []journal.Record{
		{Type: journal.RunStarted, Run: "r0", Server: "EX01"},
		{Type: journal.Recorded, Run: "r0", Server: "EX01", Step: "hubtransport-draining", Data: []byte(`{"component":"HubTransport","state":"Active"}`)},
		{Type: journal.StepStarted, Run: "r0", Server: "EX01", Step: "hubtransport-draining"},
	} {
		if _, err := h.journal.Append(rec); err != nil {
			tb.Fatal(err)
		}
	}
}

func mustRecords(tb testing.TB, h *harness) []journal.Record {
	tb.Helper()
	j, recs, _, err := journal.Open(h.journalPath, journal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	_ = j.Close()
	return recs
}

// TestExitUndoFailureUndoesTheRest: when an Undo keeps failing during the exit (after the patch), the run
// ends rollback_failed, but every other step is still undone — the server is left as little in maintenance
// as possible, exactly as a reverse after a failure leaves it.
func TestExitUndoFailureUndoesTheRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	env := h.env(t, "EX01", fastSettings())
	h.obs.onFinish = func(server, step string, undo bool) {
		if step == "verify-maintenance" && undo { // the exit has begun: block-activation's Undo will fail
			if err := h.sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Set-MailboxServer"}); err != nil {
				t.Error(err)
			}
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	var se *steps.StepError
	if res.Outcome != steps.OutcomeRollbackFailed || !errors.As(res.Err, &se) || se.Step != "block-activation" {
		t.Fatalf("outcome %s, err %v; want rollback_failed in block-activation", res.Outcome, res.Err)
	}
	if err := h.sim.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	// What may differ: block-activation's own settings, and where the active copies are (the exit did not
	// get to the rebalance). Components, the cluster node and the transport queues must be back.
	diffs := before.Equivalent(h.sim.Org().Snapshot())
	blockActivation := false
	for _, d := range diffs {
		switch {
		case strings.Contains(d, "activation policy"), strings.Contains(d, "MoveNow"):
			blockActivation = true
		case strings.Contains(d, "Mounted") && strings.Contains(d, "Healthy"):
		default:
			t.Errorf("left in maintenance beyond the failed step: %s", d)
		}
	}
	if !blockActivation {
		t.Errorf("block-activation's Undo failed, yet its settings are back: %v", diffs)
	}
}

// TestAbortWaitsForTheRunningPatch: an abort while a patch task runs does not bring the server back while
// it installs. The reverse waits (up to patch_grace) for the task, restarts the server for the restart the
// install left pending, and only then undoes the earlier steps; the server ends restored.
func TestAbortWaitsForTheRunningPatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	if err := h.sim.InjectFault(exchsim.Fault{Kind: "patch_hangs", Server: "EX03"}); err != nil {
		t.Fatal(err)
	}
	env := h.env(t, "EX03", fastSettings())
	boot, err := env.Ex.LastBootUpTime(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var patchDone atomic.Bool
	h.obs.onStart = func(_, step string) {
		if step == "patch" {
			go func() {
				// Abort once the task runs; release the "installer" a few polls into the reverse's wait.
				waitForState(t, h, "EX03", "running")
				cancel()
				waitForLog(t, h, "rolling_back")
				patchDone.Store(true)
				if err := h.sim.ClearFaults(); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	h.obs.onFinish = func(_, step string, undo bool) {
		if undo && step != "patch" && !patchDone.Load() {
			t.Errorf("step %s was undone while the patch task was still running", step)
		}
	}
	res := h.runner.Run(ctx, h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
	if res.Outcome != steps.OutcomeReversed {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("not restored after the abort: %v", diffs)
	}
	// The install finished during the wait and left a restart pending: the reverse restarted the server
	// before returning it to service.
	after, err := env.Ex.LastBootUpTime(t.Context())
	if err != nil || !after.After(boot) {
		t.Errorf("LastBootUpTime %v → %v (%v): the pending restart was not made before the server came back", boot, after, err)
	}
	if p, err := env.Ex.PendingReboot(t.Context()); err != nil || len(p.Reasons()) != 0 {
		t.Errorf("still pending after the reverse: %+v, %v", p, err)
	}
}

// TestPatchOutlastingTheGraceHoldsTheServer: a patch task still running when patch_grace ends leaves the
// server in maintenance, marked rollback_failed with the reason — not returned to service mid-install. The
// wait is logged once a minute, not at every poll (it was 20 lines for these 2 s).
func TestPatchOutlastingTheGraceHoldsTheServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.sim.InjectFault(exchsim.Fault{Kind: "patch_hangs", Server: "EX03"}); err != nil {
		t.Fatal(err)
	}
	s := fastSettings()
	s.PatchGrace = 2 * time.Second
	env := h.env(t, "EX03", s)
	var logs syncbuf.Buffer
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	defer func() {
		if n := logs.Count("a patch task still runs"); n != 1 {
			t.Errorf("the wait was logged %d times in 2 s; want once a minute", n)
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.obs.onStart = func(_, step string) {
		if step == "patch" {
			go func() { waitForState(t, h, "EX03", "running"); cancel() }()
		}
	}
	res := h.runner.Run(ctx, h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
	var hold *steps.HoldError
	if res.Outcome != steps.OutcomeRollbackFailed || !errors.As(res.Err, &hold) || !strings.Contains(res.Err.Error(), "still runs after patch_grace 2s") {
		t.Fatalf("outcome %s, err %v; want rollback_failed holding the server for the running patch", res.Outcome, res.Err)
	}
	for _, sv := range h.sim.Org().Snapshot().Servers {
		if sv.Name == "EX03" && sv.Effective["ServerWideOffline"] != "Inactive" {
			t.Errorf("ServerWideOffline is %s: the server was returned to service while its patch runs", sv.Effective["ServerWideOffline"])
		}
	}
	if !strings.Contains(h.obs.states("EX03"), "rollback_failed") {
		t.Errorf("states %s lack rollback_failed", h.obs.states("EX03"))
	}
}

// TestPatchTaskRemovedOnce: a detached patch's task is unregistered once, when it has finished — not again
// by the patch step's Undo in the exit, which used to log "unregistering the finished patch task failed …
// No MSFT_ScheduledTask objects found" on every server patched.
func TestPatchTaskRemovedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX03", fastSettings())
	var logs syncbuf.Buffer
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	before := len(h.sim.Org().Changes())
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
	if res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	removals := 0
	for _, c := range h.sim.Org().Changes()[before:] {
		if c.Cmdlet == "Unregister-ScheduledTask" {
			removals++
		}
	}
	if removals != 1 {
		t.Errorf("the patch task was unregistered %d times; want once", removals)
	}
	if n := logs.Count("unregistering the finished patch task failed"); n != 0 {
		t.Errorf("%d failed removals logged:\n%s", n, logs.String())
	}
}

// waitForState polls until the patch task of the harness's run is in state on server.
func waitForState(t *testing.T, h *harness, server, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, sv := range h.sim.Org().Snapshot().Servers {
			if sv.Name == server && strings.EqualFold(sv.Tasks[`\exmaintd\exmaintd-run-1-1`], want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling the simulation with a deadline, not waiting for time to pass
	}
	t.Errorf("the patch task on %s never reached %s", server, want)
}

// waitForLog polls until the recorder has seen state.
func waitForLog(t *testing.T, h *harness, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(h.obs.states("EX03"), state) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("state %s never reached", state)
}

// TestPlanShowsTheRestartAndTheMoves: what `exmaintd plan` shows for the dag procedure — the reboot step
// restarts with shutdown.exe after restart_delay and names its bound, and what is left after the
// background moves is moved with -Server.
func TestPlanShowsTheRestartAndTheMoves(t *testing.T) {
	s := fastSettings()
	s.RestartDelay = 5 * time.Second
	planned, err := steps.BuiltinProcedures()["dag"].Plan(target("EX01"), s, false)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]steps.PlannedStep{}
	for _, p := range planned {
		byName[p.Name] = p
	}
	text := func(p steps.PlannedStep) string {
		var b strings.Builder
		for _, op := range p.Ops {
			b.WriteString(op.Text() + "\n")
		}
		return b.String() + p.Note
	}
	if got := text(byName["reboot"]); !strings.Contains(got, "shutdown.exe /r /t 5 /d p:2:17") || !strings.Contains(got, "5s after it answers") || !strings.Contains(got, "timeout "+s.RebootTimeout.String()) {
		t.Errorf("reboot plan:\n%s", got)
	}
	if got := text(byName["move-active-databases"]); !strings.Contains(got, "Move-ActiveMailboxDatabase -Server 'EX01'") {
		t.Errorf("move-active-databases plan:\n%s", got)
	}
	// The patch plan: each task as its account (a named account's password never read, never shown), and
	// a note per patch with its account and whether a pending restart is made first.
	s.Patch = []steps.PatchCommand{
		{Name: "cu", Command: `& 'D:\CU\Setup.exe' /Mode:Upgrade`, Detached: true, RunAs: simAccount, RunAsPassword: simPassword, Timeout: time.Hour},
		{Name: "wu", Command: "Get-Date", Detached: true, RunAs: `EXLAB\gmsa-patch$`, RestartBefore: steps.RestartBeforeNever},
		{Name: "su", Command: "Get-Date", Detached: true},
		{Name: "inline", Command: "Get-Date"},
	}
	planned, err = steps.BuiltinProcedures()["dag"].Plan(target("EX01"), s, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range planned {
		byName[p.Name] = p
	}
	got := text(byName["patch"])
	for _, want := range []string{
		`-User 'EXLAB\Administrator' -Password $exmPw -RunLevel Highest`, "$exmPw = '<run_as_password>'",
		"-ExecutionTimeLimit '0.01:15:00'", // the command's timeout and a quarter of an hour
		`New-ScheduledTaskPrincipal -UserId 'EXLAB\gmsa-patch$' -LogonType Password`, "New-ScheduledTaskPrincipal -UserId 'S-1-5-18'",
		`cu: runs as EXLAB\Administrator (its password from run_as_password, read when the task is registered); first a restart if one is pending (restart_before = if-pending), once no installer is at work`,
		`wu: runs as EXLAB\gmsa-patch$ (a group managed service account); run as things are, even with a restart pending (restart_before = never)`,
		"su: runs as SYSTEM; first a restart",
		"inline: runs as in the session, as the WinRM account",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("patch plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "not read by plan") || strings.Count(got, "Register-ScheduledTask -TaskName") != 3 {
		t.Errorf("patch plan:\n%s", got)
	}
}

// TestInstallerOutlivingItsTask: a patch command that sets $ErrorActionPreference = 'Stop' itself ends
// at its installer's first line on stderr — the task records exit 1 and the step fails — while the
// installer (an Exchange security update: Windows Installer's mutex) runs on. The reverse does not undo a
// step while it is at work: it waits up to patch_grace and, if the install ends, returns the server as
// before; if not, it holds the server in maintenance naming the installer.
func TestInstallerOutlivingItsTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		release bool // the install ends during the reverse's wait
	}{{"ends during the wait", true}, {"outlasts the grace", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			before := h.sim.Org().Snapshot()
			for _, kind := range []string{"patch_stderr", "patch_hangs"} {
				if err := h.sim.InjectFault(exchsim.Fault{Kind: kind, Server: "EX03"}); err != nil {
					t.Fatal(err)
				}
			}
			s := fastSettings()
			s.Patch = []steps.PatchCommand{{Name: "su", Command: "$ErrorActionPreference = 'Stop'\n& 'D:\\Updates\\ExchangeSE-KB5049233-x64-en.exe' /passive /norestart", Detached: true, Timeout: time.Minute}}
			s.PatchGrace = 3 * time.Second
			if tc.release {
				s.PatchGrace = time.Minute
			}
			env := h.env(t, "EX03", s)
			var logs syncbuf.Buffer
			env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			var released atomic.Bool
			h.obs.onFinish = func(_, step string, undo bool) {
				// the patch step's own undo is what waits (and, held, reports its failure)
				if undo && step != "patch" && h.sim.Org().InstallerRunning("EX03") {
					t.Errorf("step %s was undone while the installer was at work", step)
				}
			}
			if tc.release {
				h.obs.onFinish = func(_, step string, undo bool) {
					if undo && !released.Load() {
						t.Errorf("step %s (undo) finished while the installer was at work", step)
					}
				}
				go func() {
					// Once the reverse has begun (the task has failed) with the installer still at work — polled
					// with a deadline generous for a loaded machine; releasing it earlier would let the job end
					// before its wrapper gave up, and the run complete.
					deadline := time.Now().Add(2 * time.Minute)
					for !strings.Contains(h.obs.states("EX03"), "rolling_back") || !h.sim.Org().InstallerRunning("EX03") {
						if time.Now().After(deadline) {
							t.Error("the reverse never began with the installer at work")
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
					time.Sleep(500 * time.Millisecond) // a few polls of the wait: the undo must not be done by now
					released.Store(true)
					if err := h.sim.ClearFaults(); err != nil {
						t.Error(err)
					}
				}()
			}
			res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
			if res.Err == nil || !strings.Contains(res.Err.Error(), "NativeCommandError") && !strings.Contains(res.Err.Error(), "exit code 1") {
				t.Errorf("err %v; want the task's failure", res.Err)
			}
			if tc.release {
				if res.Outcome != steps.OutcomeReversed {
					t.Fatalf("outcome %s, err %v; want reversed once the install ended", res.Outcome, res.Err)
				}
				if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
					t.Errorf("not restored: %v", diffs)
				}
				return
			}
			var hold *steps.HoldError
			if res.Outcome != steps.OutcomeRollbackFailed || !errors.As(res.Err, &hold) || !strings.Contains(res.Err.Error(), "Windows Installer") {
				t.Fatalf("outcome %s, err %v; want rollback_failed naming Windows Installer", res.Outcome, res.Err)
			}
			if n := logs.Count("an installer is at work"); n != 1 {
				t.Errorf("the wait was logged %d times in 3 s; want once a minute", n)
			}
			for _, sv := range h.sim.Org().Snapshot().Servers {
				if sv.Name == "EX03" && sv.Effective["ServerWideOffline"] != "Inactive" {
					t.Errorf("ServerWideOffline is %s: returned to service while the installer runs", sv.Effective["ServerWideOffline"])
				}
			}
		})
	}
}

// TestRestartBeforeThePatch: Windows updates leave a restart pending, and Exchange setup refuses to run
// with one pending. With restart_before = if-pending (the default) the patch step restarts the server
// between them and the update installs; with never, setup refuses and the run reverses, naming why.
func TestRestartBeforeThePatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		before  string
		outcome string
		err     string
	}{{"", steps.OutcomeCompleted, ""}, {steps.RestartBeforeNever, steps.OutcomeReversed, "A reboot from a previous installation is pending"}} {
		t.Run("restart_before="+tc.before, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			s := fastSettings()
			s.Patch = []steps.PatchCommand{
				{Name: "windows-updates", Command: `& wusa.exe 'D:\WU\windows10.0-kb5048661-x64.msu' /quiet /norestart`, Detached: true, Timeout: time.Minute},
				{Name: "exchange-cu", Command: `& 'D:\CU\Setup.exe' /Mode:Upgrade /IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF`, Detached: true, Timeout: time.Minute, RestartBefore: tc.before, RunAs: simAccount, RunAsPassword: simPassword},
			}
			env := h.env(t, "EX03", s)
			boot, err := env.Ex.LastBootUpTime(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var boots atomic.Int32 // restarts seen while the patch step ran
			h.obs.onStart = func(_, step string) {
				if step == "reboot" {
					if b, err := env.Ex.LastBootUpTime(t.Context()); err == nil && b.After(boot) {
						boots.Add(1)
					}
				}
			}
			res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
			if res.Outcome != tc.outcome || (tc.err != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.err))) {
				t.Fatalf("outcome %s, err %v; want %s %q", res.Outcome, res.Err, tc.outcome, tc.err)
			}
			if want := int32(1); tc.before == "" && boots.Load() != want {
				t.Errorf("the server restarted %d times before the reboot step; want once, between the patches", boots.Load())
			}
		})
	}
}

// TestRestartBeforeFails: a restart before a patch that fails fails the patch step with that reason — the
// patch is not run on a server that did not restart.
func TestRestartBeforeFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := fastSettings()
	s.Patch = []steps.PatchCommand{{Name: "exchange-cu", Command: `& 'D:\CU\Setup.exe' /Mode:Upgrade`, Detached: true, Timeout: time.Minute, RunAs: simAccount, RunAsPassword: simPassword}}
	s.AllowPendingReboot = true
	env := h.env(t, "EX03", s)
	for _, f := range []exchsim.Fault{{Kind: "pending_reboot", Server: "EX03"}, {Kind: "cmdlet_error", Target: "shutdown.exe", Server: "EX03"}} {
		if err := h.sim.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
	if res.Err == nil || !strings.Contains(res.Err.Error(), `patch command "exchange-cu": restarting first, as a restart is pending`) {
		t.Fatalf("outcome %s, err %v; want the patch step failed by its restart", res.Outcome, res.Err)
	}
}
