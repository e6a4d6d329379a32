package steps

import (
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// ServerState is where a server is in a window. The metrics package exports it as one series per state.
type ServerState string

// The server states, in the order a successful window passes through them (RollingBack and
// RollbackFailed only on failure).
const (
	StateIdle           ServerState = "idle"
	StatePrechecks      ServerState = "prechecks"
	StateEntering       ServerState = "entering"
	StateInMaintenance  ServerState = "in_maintenance"
	StatePatching       ServerState = "patching"
	StateRebooting      ServerState = "rebooting"
	StateExiting        ServerState = "exiting"
	StateWatching       ServerState = "watching" // post-window health watch
	StateRollingBack    ServerState = "rolling_back"
	StateRollbackFailed ServerState = "rollback_failed"
)

// AllServerStates lists every state, for exporting all series from the start.
func AllServerStates() []ServerState {
	return []ServerState{StateIdle, StatePrechecks, StateEntering, StateInMaintenance, StatePatching,
		StateRebooting, StateExiting, StateWatching, StateRollingBack, StateRollbackFailed}
}

// WaitingSteps are the steps that wait for the server to make progress and report stalls (DrainStalled).
func WaitingSteps() []string { return []string{"drain-queues", "move-active-databases"} }

// Gate results as reported to the Observer.
const (
	GatePass  = "pass"
	GateFail  = "fail"
	GateError = "error" // the gate could not be evaluated (WinRM failure, Prometheus unreachable)
)

// Observer receives what the runner does, for metrics and logs. Implementations must be safe for concurrent
// use (independent servers run in parallel) and must not block. metrics.Metrics implements it.
type Observer interface {
	ServerState(server string, state ServerState)
	StepStarted(server, step string, at time.Time)
	// StepFinished reports a Do (undo=false) or Undo (undo=true) that ended; err is nil on success.
	StepFinished(server, step string, undo bool, took time.Duration, err error)
	// GateChecked reports one gate evaluation (gate names: "queues", "copies", "alerts", "dag_members",
	// "redundancy", "setup", "pending_reboot", "time_left", "backup", "permissions", "services").
	GateChecked(server, gate, result string)
	Queues(server string, s exchange.QueueSummary)
	// Copies reports the worst copy and replay queue lengths over the server's copies and the number of
	// unhealthy copies.
	Copies(server string, maxCopyQueue, maxReplayQueue int64, unhealthy int)
	// DrainStalled is true once a waiting step (queue drain, active copies moving off) has made no progress
	// for drain_stall — while the step still waits, until its overall timeout — and false when progress
	// resumes or the server's run ends.
	DrainStalled(server, step string, stalled bool)
	// RollbackFailed is true when the server is marked rollback_failed, false when an operator clears it.
	RollbackFailed(server string, failed bool)
}

// NopObserver discards everything.
type NopObserver struct{}

func (NopObserver) ServerState(string, ServerState)                         {}
func (NopObserver) StepStarted(string, string, time.Time)                   {}
func (NopObserver) StepFinished(string, string, bool, time.Duration, error) {}
func (NopObserver) GateChecked(string, string, string)                      {}
func (NopObserver) Queues(string, exchange.QueueSummary)                    {}
func (NopObserver) Copies(string, int64, int64, int)                        {}
func (NopObserver) DrainStalled(string, string, bool)                       {}
func (NopObserver) RollbackFailed(string, bool)                             {}
