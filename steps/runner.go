package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/exmaintd/exmaintd/journal"
)

// Outcomes of one server's run.
const (
	OutcomeCompleted      = "completed"       // patched and back, post-gates passed
	OutcomeSkipped        = "skipped"         // a pre-gate failed: nothing was changed
	OutcomeReversed       = "reversed"        // a failure or abort: every started step was undone and verified
	OutcomeRollbackFailed = "rollback_failed" // an Undo failed after retries: hands off until an operator clears it
	OutcomeRecovered      = "recovered"       // an interrupted run (crash) was brought back on start
	// OutcomeHandedOver: this instance lost its leadership (the journal refused its writes) and stopped at
	// once, acting no more on the server; the new leader recovers it from the journal.
	OutcomeHandedOver = "handed_over"
)

// Runner runs procedures on servers and journals every transition before acting on it.
type Runner struct {
	Journal  *journal.Journal
	Observer Observer
	Clock    Clock
	Logger   *slog.Logger
	// ReverseTimeout bounds a reverse that runs after an abort or the window's end (default 40 min, below
	// the systemd unit's TimeoutStopSec).
	ReverseTimeout time.Duration
}

// ServerRun is one server's part of a window's run.
type ServerRun struct {
	RunID, Window string
	Procedure     Procedure
	Env           *Env
	Deadline      time.Time // the window's hard end: the forward phases stop there and the reverse begins
	PreGates      PreGateOptions
	AllowOutage   bool
	// Begin, when set, runs once the pre-gates have passed, before the first change (the daemon creates the
	// server's Alertmanager silence there: a server that is skipped is never silenced); an error skips the
	// server. End runs after the server's run in RunWindow, whatever its outcome (the silence is expired).
	Begin func(ctx context.Context) error
	End   func(ctx context.Context, r Result)
}

// Result is what a server run ended with.
type Result struct {
	Outcome  string
	Err      error    // the failure that ended it (nil when completed)
	Warnings []string // exit findings that did not fail the run (e.g. components held Inactive by others)
	// Stopped says why a run that did not complete stopped when it was not its own failure: StopAbort (the
	// caller's context ended: an abort, a shutdown, a lost leadership) or StopWindowEnd (the window's hard
	// end); "" otherwise.
	Stopped string
}

// Why a server run stopped when it was not its own failure (Result.Stopped).
const (
	StopAbort     = "abort"
	StopWindowEnd = "window end"
)

// stopCause is Result.Stopped for a run whose caller's context is ctx and whose forward phases ran under
// fwd (ctx with the window's hard end).
func stopCause(ctx, fwd context.Context) string {
	if ctx.Err() != nil {
		return StopAbort
	}
	if fwd.Err() != nil {
		return StopWindowEnd
	}
	return ""
}

type started struct {
	step Step
	orig json.RawMessage
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) journal(rec journal.Record) error {
	if _, err := r.Journal.Append(rec); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// journalAnyway records what a reverse does without letting a failing journal stop it: a server must not
// stay drained because the disk is full. The record is written as soon as the journal can be written again
// (journal.Defer); meanwhile the journal-errors metric and its alert say so. The one error it returns is
// lost leadership (journal.IsLost): then another instance owns the server and this one must stop at once.
func (r *Runner) journalAnyway(rec journal.Record) error {
	err := r.Journal.Defer(rec)
	if journal.IsLost(err) {
		r.logger().Error("leadership lost: stopping without touching the server again", "server", rec.Server, "record", rec.Type, "step", rec.Step, "err", err)
		return err
	}
	if err != nil {
		r.logger().Error("journal cannot be written; going on with the reverse", "server", rec.Server, "record", rec.Type, "step", rec.Step, "err", err)
	}
	return nil
}

// handedOver is the result of a run this instance stopped because it lost its leadership.
func handedOver(err error) Result {
	return Result{Outcome: OutcomeHandedOver, Err: fmt.Errorf("leadership lost; the new leader recovers this server: %w", err)}
}

// Run runs sr's procedure: pre-gates; then per step gate → record → do → verify → gate; the patch and the
// reboot; then the exit (every step's Undo in reverse, verified), exit checks, post-gates and the health watch.
// Any failure, an abort (ctx cancelled) or the deadline reverses every step that started. Each journal record
// is durable before the action that depends on it.
func (r *Runner) Run(ctx context.Context, sr ServerRun) Result {
	env := sr.Env
	srv := env.Target.Server
	base := journal.Record{Run: sr.RunID, Window: sr.Window, Server: srv}
	rec := func(typ, step string, data json.RawMessage, err error) error {
		x := base
		x.Type, x.Step, x.Data = typ, step, data
		if err != nil {
			x.Error = err.Error()
		}
		return r.journal(x)
	}
	finish := func(res Result) Result {
		x := base
		x.Type, x.Outcome = journal.RunFinished, res.Outcome
		if res.Err != nil {
			x.Error = res.Err.Error()
		}
		if res.Stopped != "" || len(res.Warnings) > 0 {
			x.Data, _ = json.Marshal(journal.FinishedData{Stopped: res.Stopped, Warnings: res.Warnings})
		}
		_ = r.journalAnyway(x) // the outcome is written even if it has to wait for the disk
		if res.Outcome != OutcomeRollbackFailed {
			r.Observer.ServerState(srv, StateIdle)
		}
		for _, w := range WaitingSteps() {
			r.Observer.DrainStalled(srv, w, false)
		}
		return res
	}

	steps, err := sr.Procedure.Resolve(env.Target, sr.AllowOutage)
	if err != nil {
		return Result{Outcome: OutcomeSkipped, Err: err}
	}
	data, _ := json.Marshal(map[string]any{"procedure": sr.Procedure.Name, "steps": sr.Procedure.Steps})
	if err := rec(journal.RunStarted, "", data, nil); err != nil {
		return Result{Outcome: OutcomeSkipped, Err: err}
	}
	fwd, cancel := context.WithDeadline(ctx, sr.Deadline)
	if sr.Deadline.IsZero() {
		fwd, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	// Each gate's result and what it read go to the journal, for the run's report (journal.Gate): when says
	// which gates (pre-gates, before or after a step, post-gates, watch), gateStep the step.
	when, gateStep := "pre-gates", ""
	env.journalGate = func(gate, result, detail string) {
		if when == "watch" && result == GatePass {
			return // the watch polls for minutes: only what it finds wrong is kept
		}
		x := base
		x.Type, x.Step, x.Outcome = journal.Gate, gateStep, result
		x.Data, _ = json.Marshal(journal.GateData{Gate: gate, When: when, Detail: detail})
		if _, err := r.Journal.Append(x); err != nil && !journal.IsLost(err) { // a lost leadership stops the run at its next record
			r.logger().Warn("journaling a gate's result", "server", srv, "gate", gate, "err", err)
		}
	}
	defer func() { env.journalGate = nil }()
	r.Observer.ServerState(srv, StatePrechecks)
	if err := preGates(fwd, env, sr.PreGates); err != nil {
		return finish(Result{Outcome: OutcomeSkipped, Err: err, Stopped: stopCause(ctx, fwd)})
	}
	if sr.Begin != nil {
		if err := sr.Begin(fwd); err != nil {
			return finish(Result{Outcome: OutcomeSkipped, Err: err, Stopped: stopCause(ctx, fwd)})
		}
	}

	var done []started
	fail := func(err error) Result {
		if journal.IsLost(err) {
			return handedOver(err) // no reverse: the new leader owns the server
		}
		stop := stopCause(ctx, fwd)
		if stop != "" {
			// Not a failure: an abort or the window's end. Said as such, at warning level.
			r.logger().Warn("server run stopped ("+stop+"); reversing", "server", srv, "run", sr.RunID, "err", err)
		} else {
			r.logger().Error("server run failed; reversing", "server", srv, "run", sr.RunID, "err", err)
		}
		res := r.reverse(ctx, env, base, done, err)
		res.Stopped = stop
		return finish(res)
	}
	runStep := func(s Step, gates bool) error {
		if gates {
			when, gateStep = "before", s.Name()
			if err := stepGates(fwd, env); err != nil {
				return err
			}
		}
		orig, err := s.Record(fwd, env)
		if err != nil {
			return &StepError{Server: srv, Step: s.Name(), Phase: "record", Err: err}
		}
		if err := rec(journal.Recorded, s.Name(), orig, nil); err != nil {
			return err
		}
		if err := rec(journal.StepStarted, s.Name(), nil, nil); err != nil {
			return err
		}
		done = append(done, started{s, orig})
		at := env.Clock.Now()
		r.Observer.StepStarted(srv, s.Name(), at)
		r.logger().Info("step", "server", srv, "step", s.Name(), "do", s.Describe())
		err = s.Do(fwd, env, orig)
		phase := "do"
		if err == nil {
			err, phase = s.Verify(fwd, env, orig), "verify"
		}
		r.Observer.StepFinished(srv, s.Name(), false, env.Clock.Now().Sub(at), err)
		if err != nil {
			serr := &StepError{Server: srv, Step: s.Name(), Phase: phase, Err: err}
			x := base
			x.Type, x.Step, x.Error = journal.StepFailed, s.Name(), serr.Error()
			if err := r.journalAnyway(x); err != nil {
				return err
			}
			return serr
		}
		if err := rec(journal.StepDone, s.Name(), nil, nil); err != nil {
			return err
		}
		if gates {
			when, gateStep = "after", s.Name()
			return stepGates(fwd, env)
		}
		return nil
	}

	r.Observer.ServerState(srv, StateEntering)
	for _, s := range steps {
		if err := runStep(s, true); err != nil {
			return fail(err)
		}
	}
	r.Observer.ServerState(srv, StateInMaintenance)
	if len(env.Settings.Patch) > 0 {
		r.Observer.ServerState(srv, StatePatching)
		if err := runStep(patchStep{runID: sr.RunID}, false); err != nil {
			return fail(err)
		}
	}
	r.Observer.ServerState(srv, StateRebooting)
	if err := runStep(rebootStep{}, false); err != nil {
		return fail(err)
	}

	r.Observer.ServerState(srv, StateExiting)
	if remaining, err := r.undoAll(fwd, env, base, done); err != nil {
		// The exit failed part-way (an Undo failed after its retries, or the deadline): finish it as a
		// reverse of the steps not yet undone, under the reverse budget — which tries the failed one again
		// and, like any reverse, undoes every earlier step even if one fails, then marks rollback_failed.
		done = remaining
		return fail(err)
	}
	warnings := append(env.warnings, exitChecks(fwd, env)...)
	when, gateStep = "post-gates", ""
	if err := stepGates(fwd, env); err != nil {
		return finish(Result{Outcome: OutcomeCompleted, Err: fmt.Errorf("post-gates: %w", err), Warnings: warnings})
	}
	if env.Settings.WatchFor > 0 {
		when = "watch"
		r.Observer.ServerState(srv, StateWatching)
		if err := watch(fwd, env); err != nil {
			return finish(Result{Outcome: OutcomeCompleted, Err: fmt.Errorf("post-window watch: %w", err), Warnings: warnings})
		}
	}
	return finish(Result{Outcome: OutcomeCompleted, Warnings: warnings})
}

// undoAll runs the exit chain (every started step's Undo in reverse) under ctx. On a failure it returns the
// steps not yet undone, the failed one included.
func (r *Runner) undoAll(ctx context.Context, env *Env, base journal.Record, done []started) ([]started, error) {
	for i := len(done) - 1; i >= 0; i-- {
		if err := r.undoOne(ctx, env, base, done[i]); err != nil {
			return done[:i+1], err
		}
	}
	return nil, nil
}

// reverse undoes every started step in reverse under its own budget: it runs even when ctx was cancelled
// (abort, SIGTERM, the window's end), because a server must never be left half in maintenance.
func (r *Runner) reverse(ctx context.Context, env *Env, base journal.Record, done []started, cause error) Result {
	r.Observer.ServerState(env.Target.Server, StateRollingBack)
	budget := r.ReverseTimeout
	if budget <= 0 {
		budget = 40 * time.Minute
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	if len(done) > 0 {
		waitReachable(rctx, env)
	}
	var failed error
	for i := len(done) - 1; i >= 0; i-- {
		err := r.undoOne(rctx, env, base, done[i])
		if journal.IsLost(err) {
			return handedOver(err)
		}
		var hold *HoldError
		if errors.As(err, &hold) {
			failed = err // undoing the earlier steps would return a server that is still patching to service
			break
		}
		if err != nil && failed == nil {
			failed = err // keep undoing the earlier steps: leave as little as possible in maintenance
		}
	}
	if failed != nil {
		res := r.markRollbackFailed(env, base, failed)
		res.Err = fmt.Errorf("%w (reverse after: %w)", failed, cause)
		return res
	}
	exitChecks(rctx, env)
	return Result{Outcome: OutcomeReversed, Err: cause}
}

// undoOne journals, runs and verifies one Undo, retrying with backoff.
func (r *Runner) undoOne(ctx context.Context, env *Env, base journal.Record, s started) error {
	srv, name := env.Target.Server, s.step.Name()
	x := base
	x.Type, x.Step = journal.UndoStarted, name
	if err := r.journalAnyway(x); err != nil {
		return err // not one more action on a server another instance now owns
	}
	backoff := env.Settings.UndoBackoff
	var err error
	for attempt := 1; attempt <= env.Settings.UndoAttempts; attempt++ {
		at := env.Clock.Now()
		err = s.step.Undo(ctx, env, s.orig)
		phase := "undo"
		if err == nil {
			err, phase = s.step.VerifyUndo(ctx, env, s.orig), "verify-undo"
		}
		r.Observer.StepFinished(srv, name, true, env.Clock.Now().Sub(at), err)
		if err == nil {
			x.Type, x.Time = journal.UndoDone, time.Time{}
			return r.journalAnyway(x)
		}
		err = &StepError{Server: srv, Step: name, Phase: phase, Err: err}
		r.logger().Warn("undo failed", "server", srv, "step", name, "attempt", attempt, "err", err)
		var hold *HoldError
		if errors.As(err, &hold) {
			break // waited as long as allowed already; another attempt would only wait again
		}
		if attempt < env.Settings.UndoAttempts && !env.Clock.Sleep(ctx, backoff) {
			break
		}
		backoff *= 2
	}
	return err
}

func (r *Runner) markRollbackFailed(env *Env, base journal.Record, err error) Result {
	x := base
	x.Type, x.Error = journal.RollbackFailed, err.Error()
	_ = r.journalAnyway(x) // lost leadership: the new leader finds the server as it is and decides
	r.Observer.RollbackFailed(env.Target.Server, true)
	r.Observer.ServerState(env.Target.Server, StateRollbackFailed)
	r.logger().Error("rollback failed: exmaintd will not touch this server until an operator clears it", "server", env.Target.Server, "err", err)
	return Result{Outcome: OutcomeRollbackFailed, Err: err}
}

// waitReachable waits (bounded by RebootTimeout) until the server answers, so that a reverse after a
// reboot does not burn its retries on a host that is still starting.
func waitReachable(ctx context.Context, env *Env) {
	ctx, cancel := context.WithTimeout(ctx, env.Settings.RebootTimeout)
	defer cancel()
	for {
		if _, err := env.Ex.LastBootUpTime(ctx); err == nil {
			return
		}
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return
		}
	}
}

// watch re-checks the gates every PollInterval for WatchFor after the server is back.
func watch(ctx context.Context, env *Env) error {
	end := env.Clock.Now().Add(env.Settings.WatchFor)
	for env.Clock.Now().Before(end) {
		if err := stepGates(ctx, env); err != nil {
			return err
		}
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return ctx.Err()
		}
	}
	return nil
}

// Recovery policies for runs a crash interrupted.
const (
	RecoverReverse = "reverse" // (default) bring the server back to its recorded original state
	RecoverHold    = "hold"    // touch nothing: mark the server rollback_failed for an operator to look at
)

// Recover handles a server whose run was interrupted (the journal has no run_finished). With RecoverReverse
// every step that started or recorded values and was not undone is undone, newest first, and verified
// against the live server (the journal tells what was attempted, the server what is true; Undo is
// idempotent, so a step whose Do never ran is harmless to undo). With RecoverHold the server is marked
// rollback_failed without being touched.
func (r *Runner) Recover(ctx context.Context, sr *journal.ServerRun, env *Env, policy string) Result {
	base := journal.Record{Run: sr.Run, Window: sr.Window, Server: sr.Server}
	if policy == RecoverHold {
		res := r.markRollbackFailed(env, base, fmt.Errorf("run %s was interrupted; recovery policy %q leaves %s for an operator", sr.Run, policy, sr.Server))
		x := base
		x.Type, x.Outcome, x.Error = journal.RunFinished, res.Outcome, res.Err.Error()
		_ = r.journalAnyway(x)
		return res
	}
	cat := Catalogue()
	cat["patch"], cat["reboot"] = patchStep{runID: sr.Run}, rebootStep{}
	var done []started
	todo := sr.ToUndo()
	for i := len(todo) - 1; i >= 0; i-- { // back to run order: reverse undoes newest first
		st := todo[i]
		s, ok := cat[st.Name]
		if !ok {
			return r.markRollbackFailed(env, base, fmt.Errorf("journal names unknown step %q", st.Name))
		}
		done = append(done, started{s, st.Original})
	}
	r.logger().Warn("recovering an interrupted run", "server", sr.Server, "run", sr.Run, "steps_to_undo", len(done))
	res := r.reverse(ctx, env, base, done, errors.New("interrupted run recovered on start"))
	if res.Outcome == OutcomeHandedOver {
		return res
	}
	if res.Outcome == OutcomeReversed {
		res.Outcome = OutcomeRecovered
	}
	x := base
	x.Type, x.Outcome = journal.RunFinished, res.Outcome
	if res.Err != nil {
		x.Error = res.Err.Error()
	}
	_ = r.journalAnyway(x)
	if res.Outcome != OutcomeRollbackFailed {
		r.Observer.ServerState(sr.Server, StateIdle)
	}
	return res
}
