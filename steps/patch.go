package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/secret"
)

// patchStep runs the configured commands in order: short ones in the session within their timeout,
// detached ones as scheduled tasks (exchange.OpStartJob) that survive the WinRM shell, the session and
// exmaintd, polled every PollInterval until done or their timeout, then unregistered. An exit code other
// than 0, 3010 or 1641 fails the step (and the run reverses: the server leaves maintenance unpatched). A
// patch cannot be undone; Undo waits for a task still running (patch_grace) before the reverse goes on.
type patchStep struct{ runID string }

func (patchStep) Name() string { return "patch" }
func (patchStep) Describe() string {
	return "run the configured patch commands (detached ones as polled scheduled tasks)"
}

// patchOrig names the scheduled tasks the run's detached commands use, journaled before any starts: a
// reverse — after an abort, SIGTERM, the window's end, or a crash and restart — finds them by it.
type patchOrig struct {
	Jobs  []string `json:"jobs,omitempty"`
	Tasks []string `json:"tasks,omitempty"` // their scheduled tasks, for the operator reading the journal
}

func (p patchStep) Record(_ context.Context, env *Env) (json.RawMessage, error) {
	var o patchOrig
	for i, c := range env.Settings.Patch {
		if c.Detached {
			id := jobID(p.runID, i)
			o.Jobs = append(o.Jobs, id)
			o.Tasks = append(o.Tasks, exchange.TaskPath+exchange.TaskName(id))
		}
	}
	return encodeOrig(o)
}

// Installer exit codes that mean success (Windows Installer, Windows Update): 3010 a restart is required,
// 1641 the installer has started one.
const (
	exitRebootRequired  = 3010
	exitRebootInitiated = 1641
)

func (p patchStep) Do(ctx context.Context, env *Env, _ json.RawMessage) error {
	env.patched = patchOutcome{}
	for i, c := range env.Settings.Patch {
		if env.patched.initiated {
			return fmt.Errorf("patch command %q: not run: an earlier installer (exit 1641) has restarted the server; run it in another window", c.Name)
		}
		if c.RestartBefore != RestartBeforeNever {
			if err := restartBefore(ctx, env, c.Name); err != nil {
				return fmt.Errorf("patch command %q: restarting first, as a restart is pending: %w", c.Name, err)
			}
		}
		// An installer's own restart (1641) is measured from the boot before it ran.
		if t, err := env.Ex.LastBootUpTime(ctx); err == nil {
			env.patched.bootBefore = t
		}
		// No remote PowerShell session to Exchange may be open on a server while its update runs
		// (ExchangeDsc refuses to open one while setup runs). A DAG member's cmdlets run on a peer; a
		// standalone server's run on its own endpoint, and that session is closed here — again before each
		// command, as a restart before it reads through it. The gates read through it again afterwards.
		env.Ex.ReleaseOwnEndpoint()
		cctx, cancel := context.WithTimeout(ctx, c.timeout())
		code, err := p.runOne(cctx, env, i, c)
		cancel()
		if err != nil {
			return fmt.Errorf("patch command %q: %w", c.Name, err)
		}
		switch c.Reboot {
		case RebootAlways:
			env.patched.always = true
		case RebootNever:
		default:
			env.patched.ifRequired = true
			env.patched.exitRequired = env.patched.exitRequired || code == exitRebootRequired
		}
		if code == exitRebootInitiated {
			env.patched.initiated = true // whatever the policy: the installer restarts the server
		}
	}
	return nil
}

// restartBefore restarts the server before patch command name when Windows waits for a restart (an earlier
// command of the run left one, or the run was allowed to start with one): once no installer is at work, it
// restarts and waits until the server is back, as the reboot step would. The run's own reboot step is not
// done by it.
func restartBefore(ctx context.Context, env *Env, name string) error {
	pr, err := env.Ex.PendingReboot(ctx)
	if err != nil {
		return fmt.Errorf("reading whether a restart is pending: %w", err)
	}
	if len(pr.Reasons()) == 0 {
		return nil
	}
	env.Logger.Info("a restart is pending; restarting before the next patch", "server", env.Target.Server, "patch", name, "pending", pr.Reasons())
	if err := installersQuiet(ctx, env, "restarting it"); err != nil {
		return err
	}
	done := env.rebootDone
	defer func() { env.rebootDone = done }()
	return restartIfPending(ctx, env)
}

// DefaultPatchTimeout bounds a patch command without a timeout of its own.
const DefaultPatchTimeout = 2 * time.Hour

func (c PatchCommand) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultPatchTimeout
	}
	return c.Timeout
}

// InSessionBound is the longest the patch step's in-session commands can run, one after another: such a
// command is one WinRS write whose deadline is its timeout, and it runs on the server whatever becomes of
// the process that sent it — a new leader must not act on the server before it has ended (docs/ha.md).
// Detached commands run as scheduled tasks, which the patch step's undo waits for (patch_grace).
func (s Settings) InSessionBound() time.Duration {
	var d time.Duration
	for _, c := range s.Patch {
		if !c.Detached {
			d += c.timeout()
		}
	}
	return d
}

// runOne runs command i and returns its exit code: 0, 3010 or 1641 are success; any other fails.
func (p patchStep) runOne(ctx context.Context, env *Env, i int, c PatchCommand) (int, error) {
	if !c.Detached {
		deadline, _ := ctx.Deadline() // Do bounds every command by its timeout
		res, err := env.Ex.Run(ctx, c.Command, time.Until(deadline))
		if err != nil {
			return 0, err
		}
		if !successCode(res.ExitCode) {
			return 0, fmt.Errorf("exit code %d: %s", res.ExitCode, lastLines(res.Output, 5))
		}
		return res.ExitCode, nil
	}
	id := jobID(p.runID, i)
	spec, err := taskSpec(ctx, env, c)
	if err != nil {
		return 0, err
	}
	job, err := env.Ex.StartJob(ctx, id, c.Command, spec)
	if err != nil {
		return 0, err
	}
	env.Logger.Info("patch job started", "server", env.Target.Server, "job", id, "task", job.Task)
	for {
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return 0, fmt.Errorf("job %s: %w", id, ctx.Err())
		}
		j, err := env.Ex.PollJob(ctx, job)
		switch {
		case errors.Is(err, exchange.ErrJobLost):
			return 0, err
		case err != nil:
			env.Logger.Warn("polling the patch job failed; trying again", "server", env.Target.Server, "job", id, "err", err)
			continue
		case j.Running:
			continue
		}
		removeJob(ctx, env, j)
		if !successCode(j.ExitCode) {
			return 0, fmt.Errorf("job %s exit code %d (its whole output: %s on %s): %s", id, j.ExitCode, exchange.JobLog(id), env.Target.Server, lastLines(j.Output, 5))
		}
		return j.ExitCode, nil
	}
}

func successCode(code int) bool {
	return code == 0 || code == exitRebootRequired || code == exitRebootInitiated
}

// jobID is the job of the run's i-th patch command: the same after a restart, so a recovery finds it.
func jobID(runID string, i int) string { return fmt.Sprintf("%s-%d", jobSafe(runID), i+1) }

// taskSpec is the task of a detached command: its account, and an execution limit a little beyond the
// command's timeout. The limit documents the intent only: Task Scheduler does not enforce it on a task
// started on demand (exchange.TaskSpec); the command's timeout and patch_grace are what exmaintd enforces,
// and it holds the server rather than cut an installer off.
func taskSpec(ctx context.Context, env *Env, c PatchCommand) (exchange.TaskSpec, error) {
	limit := 4 * time.Hour
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl) + 15*time.Minute
	}
	spec := exchange.TaskSpec{User: c.RunAs, TimeLimit: limit}
	if c.RunAsPassword != (secret.Source{}) {
		if env.Secrets == nil {
			return spec, fmt.Errorf("run_as_password of %s: no secret reader", c.RunAs)
		}
		pw, err := env.Secrets(c.RunAsPassword)
		if err != nil {
			return spec, fmt.Errorf("run_as_password of %s: %w", c.RunAs, err)
		}
		spec.Password = pw
	}
	return spec, nil
}

// removeJob unregisters a finished job's task, once: a job the step already removed (its files stay, so a
// poll still finds it finished) is left alone. A failure only leaves a finished task behind.
func removeJob(ctx context.Context, env *Env, j exchange.Job) {
	if !j.Registered {
		return
	}
	if err := env.Ex.RemoveJob(ctx, j); err != nil {
		env.Logger.Warn("unregistering the finished patch task failed", "server", env.Target.Server, "task", j.Task, "err", err)
	}
}

func jobSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, s)
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (patchStep) Verify(context.Context, *Env, json.RawMessage) error { return nil }

// Undo cannot take a patch back; it makes sure none is still running before the reverse returns the server
// to service. For each of the run's tasks that still runs it waits, polling, up to PatchGrace; a task that
// outlasts it (or whose state cannot be read by then) is a HoldError: the reverse stops and the server
// stays in maintenance as rollback_failed. An installer is never cut off, and a server never comes back
// while one runs on it. Then, unless the run's reboot step has already done its part, a restart the patch
// left pending is made before the reverse goes on; and a server whose Exchange services are not back is
// held in maintenance (exchangeServicesUp).
func (patchStep) Undo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[patchOrig]("patch", orig)
	if err != nil {
		return err
	}
	start := env.Clock.Now()
	end := start.Add(env.Settings.PatchGrace)
	var logged time.Time // the wait is logged once a minute, not at every poll
	for _, id := range o.Jobs {
		job := exchange.Job{ID: id, Task: exchange.TaskPath + exchange.TaskName(id)}
		for {
			j, err := env.Ex.PollJob(ctx, job)
			if errors.Is(err, exchange.ErrJobLost) {
				break // never started, unregistered after it finished, or ended by a reboot: nothing runs
			}
			if err == nil && !j.Running {
				removeJob(ctx, env, j)
				break
			}
			if now := env.Clock.Now(); err == nil && (logged.IsZero() || now.Sub(logged) >= time.Minute) {
				logged = now
				env.Logger.Warn("a patch task still runs; waiting before the server leaves maintenance",
					"server", env.Target.Server, "task", job.Task, "waited", now.Sub(start).Round(time.Second), "grace_left", end.Sub(now).Round(time.Second))
			}
			left := end.Sub(env.Clock.Now())
			if left <= 0 || !env.Clock.Sleep(ctx, min(env.Settings.PollInterval, left)) {
				why := "still runs"
				if err != nil {
					why = fmt.Sprintf("cannot be read (%v)", err)
				}
				return &HoldError{Reason: fmt.Sprintf("patch task %s on %s %s after patch_grace %v", job.Task, env.Target.Server, why, env.Settings.PatchGrace)}
			}
		}
	}
	// A task that has ended is not an installer that has: one its command started can run on (a command
	// that merged a native program's stderr under 'Stop' gave up at its first line), and Windows' own
	// servicing can still be at work.
	if err := installersQuiet(ctx, env, "the server leaves maintenance"); err != nil {
		return err
	}
	if !env.rebootDone {
		if err := restartIfPending(ctx, env); err != nil {
			return err
		}
	}
	return exchangeServicesUp(ctx, env)
}

// installersQuiet waits until no installer is at work on the server (exchange.Installers: Windows
// Installer's mutex, ExSetup, TiWorker, wusa), polling up to patch_grace and logging once a minute; one
// still at work then — or a state that cannot be read — is a HoldError naming it: no restart, undo or
// return to service while an installer runs. before says what waits.
func installersQuiet(ctx context.Context, env *Env, before string) error {
	start := env.Clock.Now()
	end := start.Add(env.Settings.PatchGrace)
	var logged time.Time
	for {
		in, err := env.Ex.Installers(ctx)
		active := in.Active()
		if err == nil && len(active) == 0 {
			return nil
		}
		now := env.Clock.Now()
		if err == nil && (logged.IsZero() || now.Sub(logged) >= time.Minute) {
			logged = now
			env.Logger.Warn("an installer is at work; waiting before "+before, "server", env.Target.Server,
				"installers", active, "waited", now.Sub(start).Round(time.Second), "grace_left", end.Sub(now).Round(time.Second))
		}
		left := end.Sub(now)
		if left <= 0 || !env.Clock.Sleep(ctx, min(env.Settings.PollInterval, left)) {
			what := "still at work: " + strings.Join(active, ", ")
			if err != nil {
				what = fmt.Sprintf("cannot be read (%v)", err)
			}
			return &HoldError{Reason: fmt.Sprintf("an installer on %s %s after patch_grace %v: not done before %s; it stays in maintenance until the install ends and an operator clears it",
				env.Target.Server, what, env.Settings.PatchGrace, before)}
		}
	}
}

// exchangeServicesUp is the patch undo's last word before the earlier steps are undone. A failed
// cumulative or security update can leave the Exchange services stopped and disabled (Microsoft Learn,
// "Repair failed installations of Exchange Cumulative and Security updates"; CSS-Exchange's
// SetupLogReviewer looks for the disabled service, SetupAssist lists the Exchange services): undoing the
// earlier steps would then return a broken server to service, its clients and databases sent to it. So
// it waits up to reboot_timeout for the configured services to run (a restart that just ended is still
// starting them) and for Test-ServiceHealth — run through a peer, naming the server — to find every role's
// required services running, and otherwise holds the server in maintenance — its databases stay active on
// the other copies — with the services named.
func exchangeServicesUp(ctx context.Context, env *Env) error {
	end := env.Clock.Now().Add(env.Settings.RebootTimeout)
	for {
		err := servicesRunning(ctx, env, env.Settings.Services)
		if err == nil {
			err = serviceHealth(ctx, env)
		}
		if err == nil {
			return nil
		}
		left := end.Sub(env.Clock.Now())
		if left <= 0 || !env.Clock.Sleep(ctx, min(env.Settings.PollInterval, left)) {
			return &HoldError{Reason: fmt.Sprintf("after the update, %s's Exchange services are not back (%v) within reboot_timeout %v: it is not returned to service "+
				"broken; repair the installation (run the update's setup again) and clear the server", env.Target.Server, err, env.Settings.RebootTimeout)}
		}
	}
}

// serviceHealth runs Test-ServiceHealth for the server: an error names each role whose required services
// are not all running, and the services.
func serviceHealth(ctx context.Context, env *Env) error {
	roles, err := env.Ex.ServiceHealth(ctx, env.Target.Server)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range roles {
		if !r.RequiredServicesRunning {
			bad = append(bad, fmt.Sprintf("%s: %s not running", r.Role, strings.Join(r.ServicesNotRunning, ", ")))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("Test-ServiceHealth: %s", strings.Join(bad, "; "))
	}
	return nil
}

// restartIfPending restarts the server when the patch left Windows waiting for a restart. An install
// that finished (during the wait, or before the abort) may; the server is still in maintenance: restart it
// now rather than return it to service with the update half applied. Callers have waited for the
// installers (installersQuiet).
func restartIfPending(ctx context.Context, env *Env) error {
	pr, err := env.Ex.PendingReboot(ctx)
	if err != nil {
		return fmt.Errorf("reading whether the patch left a restart pending: %w", err)
	}
	r := pr.Reasons()
	if len(r) == 0 {
		return nil
	}
	env.Logger.Warn("a restart is pending after the patch; restarting before the server leaves maintenance", "server", env.Target.Server, "pending", r)
	boot, err := env.Ex.LastBootUpTime(ctx)
	if err != nil {
		return err
	}
	if err := env.Ex.RestartComputer(ctx, env.Settings.RestartDelay); err != nil && !errors.Is(err, exchange.ErrSessionLost) {
		return err
	}
	orig, err := encodeOrig(bootOrig{Boot: boot, Reboot: true, Why: "a restart pending after the patch, in the reverse"})
	if err != nil {
		return err
	}
	return rebootStep{}.Verify(ctx, env, orig)
}

func (patchStep) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }

// rebootStep restarts the host when the run needs it (rebootDecision) and waits until it is back:
// LastBootUpTime later than before, WinRM answering, the configured services running and the server's
// database copies healthy again. When an installer restarted the host itself (exit 1641) it only waits.
type rebootStep struct{}

type bootOrig struct {
	Boot time.Time `json:"boot"`
	// Reboot says whether this run restarts the server, and Why (journaled, shown by status).
	Reboot bool   `json:"reboot"`
	Why    string `json:"why"`
	// ByInstaller: an installer has started the restart (1641); exmaintd does not restart again.
	ByInstaller bool `json:"by_installer,omitempty"`
}

func (rebootStep) Name() string { return "reboot" }
func (rebootStep) Describe() string {
	return "Restart-Computer -Force when a patch policy or a pending restart asks for it, then wait for a new LastBootUpTime, running services and healthy copies"
}

func (rebootStep) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	p := env.patched
	if p.initiated && !p.bootBefore.IsZero() {
		return encodeOrig(bootOrig{Boot: p.bootBefore, Reboot: true, ByInstaller: true, Why: "an installer exited 1641 and restarts the server itself"})
	}
	t, err := env.Ex.LastBootUpTime(ctx)
	if err != nil {
		return nil, err
	}
	reboot, why, err := rebootDecision(ctx, env)
	if err != nil {
		return nil, err
	}
	return encodeOrig(bootOrig{Boot: t, Reboot: reboot, Why: why})
}

// rebootDecision applies the patch commands' reboot policies (RebootAlways, RebootIfRequired, RebootNever).
func rebootDecision(ctx context.Context, env *Env) (bool, string, error) {
	p := env.patched
	switch {
	case len(env.Settings.Patch) == 0:
		return true, "no patch commands: a maintenance restart", nil
	case p.always:
		return true, "a patch command's reboot policy is always", nil
	case p.initiated:
		return true, "an installer exited 1641", nil
	case !p.ifRequired:
		return false, "every patch command's reboot policy is never", nil
	case p.exitRequired:
		return true, "an installer exited 3010 (restart required)", nil
	}
	pr, err := env.Ex.PendingReboot(ctx)
	if err != nil {
		return false, "", fmt.Errorf("reading whether a restart is pending: %w", err)
	}
	if r := pr.Reasons(); len(r) > 0 {
		return true, "a restart is pending: " + strings.Join(r, ", "), nil
	}
	return false, "no restart pending after the patches", nil
}

func (rebootStep) Do(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[bootOrig]("reboot", orig)
	if err != nil {
		return err
	}
	env.Logger.Info("reboot decision", "server", env.Target.Server, "reboot", o.Reboot, "why", o.Why)
	if !o.Reboot || o.ByInstaller {
		return nil
	}
	// A crash may have come after the reboot: only restart if the host has not rebooted since Record.
	if t, err := env.Ex.LastBootUpTime(ctx); err == nil && t.After(o.Boot) {
		return nil
	}
	if err := installersQuiet(ctx, env, "restarting it"); err != nil {
		return err
	}
	if err := env.Ex.RestartComputer(ctx, env.Settings.RestartDelay); err != nil && !errors.Is(err, exchange.ErrSessionLost) {
		return err
	}
	return nil
}

func (rebootStep) Verify(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[bootOrig]("reboot", orig)
	if err != nil {
		return err
	}
	if !o.Reboot {
		env.rebootDone = true
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, env.Settings.RebootTimeout)
	defer cancel()
	// Back means back on BackPolls consecutive polls: a copy that has just turned Healthy can still fall back
	// while the server settles.
	var last error
	good := 0
	for {
		last = backUp(ctx, env, o.Boot)
		if last == nil {
			good++
			if good >= env.Settings.BackPolls {
				env.rebootDone = true
				return nil
			}
		} else {
			good = 0
			env.Logger.Debug("waiting for the server to come back", "server", env.Target.Server, "state", last)
		}
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			if last == nil {
				last = fmt.Errorf("back on %d of %d consecutive polls", good, env.Settings.BackPolls)
			}
			return fmt.Errorf("not back after %v: %w", env.Settings.RebootTimeout, last)
		}
	}
}

func backUp(ctx context.Context, env *Env, before time.Time) error {
	t, err := env.Ex.LastBootUpTime(ctx)
	if err != nil {
		return err
	}
	if !t.After(before) {
		return fmt.Errorf("LastBootUpTime %v has not changed", t)
	}
	if err := servicesRunning(ctx, env, env.Settings.Services); err != nil {
		return err
	}
	if env.Target.DAG == "" {
		return nil
	}
	return copiesBack(ctx, env)
}

// copiesBack: every copy on the server is Mounted, or Healthy with its queues under the thresholds (lagged
// copies exempt from the replay one). After a reboot a copy passes Initializing and Resynchronizing first, its
// queues low while it is not yet healthy; those are not back. A Suspended copy stays as the run left it (its
// undo resumes it).
func copiesBack(ctx context.Context, env *Env) error {
	cs, err := env.Ex.CopyStatus(ctx, env.Target.Server)
	if err != nil {
		return err
	}
	var problems []string
	for _, c := range cs {
		switch {
		case c.ActiveCopy || c.Status == "Mounted" || c.Status == "Suspended" || env.down[strings.ToUpper(c.DatabaseName)]:
		case c.Status != "Healthy":
			problems = append(problems, fmt.Sprintf("copy %s is %s", c.Name, c.Status))
		default:
			if p := copyProblem(env, c); p != "" {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("copies not back: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (rebootStep) Undo(context.Context, *Env, json.RawMessage) error       { return nil }
func (rebootStep) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }
