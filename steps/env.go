package steps

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/secret"
)

// Target is the server a run maintains and what the steps need to know about its surroundings.
type Target struct {
	Server string // Exchange server name, e.g. EX01
	FQDN   string
	DAG    string // "" for a standalone server
	// Peers are other Mailbox servers that can take this server's mail, best first (same DAG, then same
	// site); Redirect-Message goes to the first whose HubTransport is Active.
	Peers []Peer
}

// Peer is another server.
type Peer struct {
	Server string
	FQDN   string
}

// Settings are the thresholds and timings of the steps and gates (config.toml [steps] and per window).
type Settings struct {
	// PollInterval is how often waiting steps and gates read the server (default 10 s).
	PollInterval time.Duration
	// DrainTimeout bounds a queue drain (default 30 min). DrainStall (default 5 min) is how long without
	// progress counts as a stall: it is reported at once (the stuck-drain alert) while the step keeps
	// waiting; the step ends at DrainTimeout (or when the queues are empty), never earlier.
	DrainTimeout time.Duration
	DrainStall   time.Duration
	// DrainPolicy is what a drain that ends with messages left does: DrainFail (default) fails the step and
	// the run reverses; DrainContinue goes on into maintenance with a recorded warning, as Microsoft's
	// transport workflow does (the messages stay in the queue database and leave when the server returns).
	DrainPolicy string
	// MoveTimeout bounds moving active copies off the server (default 15 min; stall: DrainStall).
	MoveTimeout time.Duration
	// MoveSettle is how long the wait for the moves DatabaseCopyActivationDisabledAndMoveNow started may go
	// without a database leaving before the rest are moved one by one (default 1 min). MoveAttempts and
	// MoveRetryInterval: each of those moves is tried this often, this far apart (Microsoft's script: 2, 60 s).
	MoveSettle        time.Duration
	MoveAttempts      int
	MoveRetryInterval time.Duration
	// RebootTimeout bounds a reboot: LastBootUpTime changed, WinRM answering, services running, copies
	// caught up (default 30 min).
	RebootTimeout time.Duration
	// RestartDelay is how long after shutdown.exe /r the host restarts: time for the reply to come back
	// (config's default 5 s; 0 restarts at once, and the lost reply is then verified by boot time).
	RestartDelay time.Duration
	// BackPolls is how many consecutive polls must find a rebooted server back (default 3).
	BackPolls int
	// QueueMax: a queue gate fails when more messages than this are queued (Microsoft's filter) (default 500).
	QueueMax int64
	// CopyQueueMax and ReplayQueueMax: a copy is healthy below these (Active Manager's first tier: 10, 50).
	// Lagged copies are exempt from the replay threshold.
	CopyQueueMax   int64
	ReplayQueueMax int64
	// RedundancyMinCopies is how many other healthy copies every database needs before the server may go
	// (0: 2 in a DAG of more than two members, 1 in a two-member DAG, as CheckDatabaseRedundancy.ps1).
	RedundancyMinCopies int
	// UndoAttempts and UndoBackoff: a failed Undo is retried this often before the server is marked
	// rollback_failed (defaults 3 and 10 s, doubling).
	UndoAttempts int
	UndoBackoff  time.Duration
	// AllowPendingReboot lets a run start on a server that already waits for a restart from before the
	// window (an update Windows installed on its own); refused by default, as the restart would come from
	// the run without anyone having planned it.
	AllowPendingReboot bool
	// PatchGrace bounds how long a reverse waits for a patch task that is still running (default 30 min);
	// one that outlasts it holds the server in maintenance as rollback_failed.
	PatchGrace time.Duration
	// TransportServices are restarted to make HubTransport's state take effect.
	TransportServices []string
	// TransportBootTimeout bounds the wait for Get-Queue to show the Submission queue after a transport
	// restart (default 5 min, as ExchangeDsc waits).
	TransportBootTimeout time.Duration
	// ADReplicationWait is how long a value Exchange keeps in Active Directory (activation settings,
	// component states) is read again when it does not read back as written (default 2 min): read through
	// another peer's endpoint, whose domain controller may not have the change yet (converged).
	ADReplicationWait time.Duration
	// Services must run after a reboot (default: Exchange's core services).
	Services []string
	// AllowOutage lets a procedure dismount databases on a DAG member (the seed's list). Off by default.
	AllowOutage bool
	// FixOtherRequesters sets components held Inactive by other requesters (Functional, HealthApi…) back to
	// Active at exit; otherwise they are only reported.
	FixOtherRequesters bool
	// Rebalance moves active copies back by activation preference at exit.
	Rebalance bool
	// Patch is what runs while the server is in maintenance.
	Patch []PatchCommand
	// WatchFor is the post-window health watch (0: none).
	WatchFor time.Duration
}

// PatchCommand is one configured command.
type PatchCommand struct {
	Name    string
	Command string // PowerShell, run on the server
	// Detached commands (long installs) run as a scheduled task that survives the WinRM shell, the session
	// and exmaintd, polled until done.
	Detached bool
	Timeout  time.Duration
	// RunAs is the detached task's account: "" for SYSTEM, a group managed service account (DOMAIN\name$),
	// or a named account (DOMAIN\name) whose RunAsPassword is read when the task is registered — so a
	// rotated password reaches the next window without a reload.
	RunAs         string
	RunAsPassword secret.Source
	// Reboot is the command's reboot policy: RebootAlways, RebootIfRequired (default) or RebootNever.
	Reboot string
	// RestartBefore: RestartBeforeIfPending (default) restarts the server before the command when
	// Windows waits for a restart; RestartBeforeNever runs it as things are.
	RestartBefore string
}

// Restart-before policies of a patch command. Exchange setup refuses to run while a restart is pending
// (CSS-Exchange SetupAssist's Test-PendingReboot check; setup's own prerequisite check), and an update
// installed on top of a pending one is what Microsoft's guidance for security updates warns against; a
// window that installs Windows updates and then an Exchange update would fail the second.
const (
	RestartBeforeIfPending = "if-pending"
	RestartBeforeNever     = "never"
)

// Drain policies.
const (
	DrainFail     = "fail"
	DrainContinue = "continue"
)

// Reboot policies of a patch command. The run reboots when any command says always, or when a command
// that says if-required ran and Windows then waits for a restart (OpPendingReboot) or the installer exited
// 3010 or 1641. A window without patch commands reboots (a maintenance reboot).
const (
	RebootAlways     = "always"
	RebootIfRequired = "if-required"
	RebootNever      = "never"
)

// WithDefaults fills zero values.
func (s Settings) WithDefaults() Settings {
	d := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	d(&s.PollInterval, 10*time.Second)
	d(&s.DrainTimeout, 30*time.Minute)
	d(&s.DrainStall, 5*time.Minute)
	if s.DrainPolicy == "" {
		s.DrainPolicy = DrainFail
	}
	d(&s.MoveTimeout, 15*time.Minute)
	d(&s.MoveSettle, time.Minute)
	d(&s.ADReplicationWait, 2*time.Minute)
	d(&s.MoveRetryInterval, time.Minute)
	if s.MoveAttempts <= 0 {
		s.MoveAttempts = 2
	}
	d(&s.RebootTimeout, 30*time.Minute)
	if s.BackPolls <= 0 {
		s.BackPolls = 3
	}
	d(&s.TransportBootTimeout, 5*time.Minute)
	d(&s.UndoBackoff, 10*time.Second)
	d(&s.PatchGrace, 30*time.Minute)
	if s.QueueMax <= 0 {
		s.QueueMax = 500
	}
	if s.CopyQueueMax <= 0 {
		s.CopyQueueMax = 10
	}
	if s.ReplayQueueMax <= 0 {
		s.ReplayQueueMax = 50
	}
	if s.UndoAttempts <= 0 {
		s.UndoAttempts = 3
	}
	if len(s.TransportServices) == 0 {
		s.TransportServices = []string{"MSExchangeTransport", "MSExchangeFrontEndTransport"}
	}
	if len(s.Services) == 0 {
		s.Services = []string{"MSExchangeADTopology", "MSExchangeIS", "MSExchangeRepl", "MSExchangeTransport", "MSExchangeFrontEndTransport", "W3SVC"}
	}
	return s
}

// Clock is the time source of waiting steps (tests use testing/synctest or a fake).
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends; it reports whether the whole d passed.
	Sleep(ctx context.Context, d time.Duration) bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d unless ctx ends first.
func (RealClock) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Env is what a step runs with. One Env per server run; not shared between goroutines.
type Env struct {
	Ex       Exchange // the session on the target server
	Target   Target
	Settings Settings
	Clock    Clock
	Logger   *slog.Logger
	Observer Observer
	// Secrets reads a secret when a step needs it (a patch account's password), from the file, variable or
	// credential its source names; nil reads none.
	Secrets func(secret.Source) (secret.Value, error)
	// down are databases this run dismounted on purpose: the copy gate does not count them as an outage.
	down map[string]bool
	// baseline are the component/requester pairs other than Maintenance already Inactive before the run:
	// exit reports only new ones.
	baseline map[string]bool
	// patched is what the patch step learnt for the reboot step.
	patched patchOutcome
	// warnings are findings of the steps that did not fail the run (a drain that continued with messages
	// left); they join the run's result.
	warnings []string
	// drainLeft: the drain ended with messages left and drain_policy continue accepted it.
	drainLeft bool
	// rebootDone: the reboot step finished (restarted, or decided by the policy not to).
	rebootDone bool
	// journalGate, set by the runner, journals each gate's result with its detail (the run's report);
	// gateRead is what the latest queue and copy reads found, by gate, for that detail.
	journalGate func(gate, result, detail string)
	gateRead    map[string]string
}

// readFor keeps what a gate's read found, for the gate's journal record.
func (e *Env) readFor(gate, found string) {
	if e.gateRead == nil {
		e.gateRead = map[string]string{}
	}
	e.gateRead[gate] = found
}

// patchOutcome is what the run's patch commands said about a restart.
type patchOutcome struct {
	always, ifRequired bool      // a command with that policy ran
	exitRequired       bool      // an if-required command exited 3010 (ERROR_SUCCESS_REBOOT_REQUIRED)
	initiated          bool      // a command exited 1641: the installer has started the restart itself
	bootBefore         time.Time // LastBootUpTime before the latest command (an installer's own restart is measured from it)
}

func (e *Env) expectDown(db string, down bool) {
	if e.down == nil {
		e.down = map[string]bool{}
	}
	if down {
		e.down[strings.ToUpper(db)] = true
	} else {
		delete(e.down, strings.ToUpper(db))
	}
}
