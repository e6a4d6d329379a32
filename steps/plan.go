package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/secret"
)

// PlannedStep is what `exmaintd plan` shows for one step: what it does and the exact PowerShell of its Do.
// Scripts whose arguments come from live reads (the copies to suspend, the databases to dismount) are shown
// for the values known at plan time and say so.
type PlannedStep struct {
	Name, Describe string
	Ops            []exchange.Op
	Note           string
}

// planner is implemented by steps that can show their scripts without running.
type planner interface {
	plan(t Target, s Settings) ([]exchange.Op, string)
}

// Plan resolves the procedure for t (refusing outages unless allowOutage) and lists each step's scripts,
// then the patch and the reboot.
func (p Procedure) Plan(t Target, s Settings, allowOutage bool) ([]PlannedStep, error) {
	list, err := p.Resolve(t, allowOutage)
	if err != nil {
		return nil, err
	}
	list = append(list, patchStep{runID: "RUNID"}, rebootStep{})
	out := make([]PlannedStep, 0, len(list))
	for _, st := range list {
		ps := PlannedStep{Name: st.Name(), Describe: st.Describe()}
		if pl, ok := st.(planner); ok {
			ps.Ops, ps.Note = pl.plan(t, s)
		}
		out = append(out, ps)
	}
	return out, nil
}

func ops(fs ...func() (exchange.Op, error)) []exchange.Op {
	var out []exchange.Op
	for _, f := range fs {
		if op, err := f(); err == nil {
			out = append(out, op)
		}
	}
	return out
}

func (s componentStep) plan(t Target, _ Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) {
		return exchange.OpSetComponentState(t.Server, s.component, s.state, "Maintenance")
	}), ""
}

func (restartTransport) plan(_ Target, s Settings) ([]exchange.Op, string) {
	var out []exchange.Op
	for _, svc := range s.TransportServices {
		out = append(out, ops(func() (exchange.Op, error) { return exchange.OpRestartService(svc) })...)
	}
	return out, ""
}

func (redirectMessage) plan(t Target, _ Settings) ([]exchange.Op, string) {
	if len(t.Peers) == 0 {
		return nil, "no peer: skipped"
	}
	return ops(func() (exchange.Op, error) { return exchange.OpRedirectMessage(t.Server, t.Peers[0].FQDN) }),
		"target: the first peer whose HubTransport is Active at run time (shown: the first configured)"
}

func (drainQueues) plan(t Target, s Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) { return exchange.OpQueues(t.Server) }),
		"polled every " + s.PollInterval.String() + " until empty; stall after " + s.DrainStall.String() + ", timeout " + s.DrainTimeout.String()
}

func (suspendClusterNode) plan(t Target, _ Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) { return exchange.OpSuspendClusterNode(t.Server) }), ""
}

func (a activationStep) plan(t Target, _ Settings) ([]exchange.Op, string) {
	blocked, yes := "Blocked", true
	set := exchange.MailboxServerSettings{DatabaseCopyAutoActivationPolicy: &blocked}
	if !a.policyOnly {
		set.DatabaseCopyActivationDisabledAndMoveNow = &yes
	}
	return ops(func() (exchange.Op, error) { return exchange.OpSetMailboxServer(t.Server, set) }), ""
}

func (moveActiveDatabases) plan(t Target, s Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) { return exchange.OpCopyStatus(t.Server) }, func() (exchange.Op, error) { return exchange.OpMoveActiveDatabases(t.Server) }),
		fmt.Sprintf("polled every %v while the moves MoveNow started make progress (up to %v without one); then, if a database is still mounted here, %d attempts %v apart; timeout %v",
			s.PollInterval, s.MoveSettle, s.MoveAttempts, s.MoveRetryInterval, s.MoveTimeout)
}

func (verifyMaintenance) plan(t Target, _ Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) { return exchange.OpComponentStates(t.Server) }, func() (exchange.Op, error) { return exchange.OpQueues(t.Server) }), ""
}

func (suspendCopies) plan(t Target, _ Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) { return exchange.OpSuspendDatabaseCopy("DB\\"+t.Server, true) }),
		"once per passive copy on the server not already suspended (read at run time; DB stands for each database)"
}

func (dismountDatabases) plan(t Target, _ Settings) ([]exchange.Op, string) {
	return ops(func() (exchange.Op, error) { return exchange.OpDismountDatabase("DB") }),
		"once per database mounted on " + t.Server + " at run time (DB stands for each)"
}

func (p patchStep) plan(_ Target, s Settings) ([]exchange.Op, string) {
	var out []exchange.Op
	for i, c := range s.Patch {
		if c.Detached {
			spec := exchange.TaskSpec{User: c.RunAs, TimeLimit: c.Timeout + 15*time.Minute}
			if c.RunAsPassword != (secret.Source{}) {
				spec.Password = secret.New("<not read by plan>") // shown as <run_as_password>: plan reads no secret
			}
			out = append(out, ops(func() (exchange.Op, error) { return exchange.OpStartJob(jobID(p.runID, i), c.Command, spec) })...)
		} else {
			out = append(out, ops(func() (exchange.Op, error) { return exchange.OpRun(c.Command) })...)
		}
	}
	if len(out) == 0 {
		return nil, "no patch commands configured for this window"
	}
	notes := make([]string, len(s.Patch))
	for i, c := range s.Patch {
		before := "first a restart if one is pending (restart_before = if-pending), once no installer is at work"
		if c.RestartBefore == RestartBeforeNever {
			before = "run as things are, even with a restart pending (restart_before = never)"
		}
		account := "SYSTEM"
		if c.RunAs != "" && c.RunAsPassword != (secret.Source{}) {
			account = c.RunAs + " (its password from run_as_password, read when the task is registered)"
		} else if c.RunAs != "" {
			account = c.RunAs + " (a group managed service account)"
		}
		if !c.Detached {
			account = "in the session, as the WinRM account"
		}
		notes[i] = c.Name + ": runs as " + account + "; " + before
	}
	return out, strings.Join(notes, "; ")
}

func (rebootStep) plan(_ Target, s Settings) ([]exchange.Op, string) {
	restart := ops(func() (exchange.Op, error) { return exchange.OpRestartComputer(s.RestartDelay) })
	note := "restart (shutdown.exe, " + s.RestartDelay.String() + " after it answers) only if a patch command's policy says always, or says if-required and a restart is pending (or an installer exited 3010/1641: then it restarts itself); then polled until LastBootUpTime changes, services run and copies are healthy (timeout " + s.RebootTimeout.String() + ")"
	return append(append([]exchange.Op{exchange.OpPendingReboot()}, restart...), exchange.OpLastBootUpTime()), note
}

// CheckPreGates runs the checks before a server starts. They only read: exmaintd plan runs them live.
func CheckPreGates(ctx context.Context, env *Env, o PreGateOptions) error {
	return preGates(ctx, env, o)
}
