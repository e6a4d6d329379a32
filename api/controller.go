package api

import (
	"context"
	"time"

	"github.com/exmaintd/exmaintd/sentinel"
)

// Controller is what the API drives; the daemon implements it.
type Controller interface {
	Status(ctx context.Context) Status
	// StartWindow starts window now (outside its schedule) and returns the run id.
	StartWindow(ctx context.Context, window string) (runID string, err error)
	// AbortRun asks a run to stop and reverse; it returns once the request is recorded, not when the
	// reverse has finished.
	AbortRun(ctx context.Context, runID string) error
	// ClearServer lifts rollback_failed from a server after an operator repaired it.
	ClearServer(ctx context.Context, server string) error
	// Ready returns nil when the daemon is ready to run windows (config loaded, journal recovered).
	Ready(ctx context.Context) error
}

// Errors a Controller returns (wrapped) to choose the HTTP status.
const (
	ErrNotFound = sentinel.Error("not found")     // 404: unknown window, run or server
	ErrConflict = sentinel.Error("conflict")      // 409: e.g. the window's servers are busy, run already over
	ErrInvalid  = sentinel.Error("invalid input") // 400
	// ErrNotLeader: 421, a standby of a cluster refuses write actions; the message names the leader.
	ErrNotLeader = sentinel.Error("not the leader")
)

// Status is the document GET /api/v1/status returns.
type Status struct {
	Version string         `json:"version"`
	Now     time.Time      `json:"now"`
	Windows []WindowStatus `json:"windows"`
	Runs    []RunStatus    `json:"runs"`
	Servers []ServerStatus `json:"servers"`
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

// ClusterStatus says which instance answered and who leads (docs/ha.md).
type ClusterStatus struct {
	Instance  string `json:"instance"`
	Role      string `json:"role"` // leader or standby
	Leader    string `json:"leader"`
	LeaderURL string `json:"leader_url,omitempty"`
}

// WindowStatus is one configured window.
type WindowStatus struct {
	Name      string    `json:"name"`
	Open      bool      `json:"open"`
	NextStart time.Time `json:"next_start"`
	NextEnd   time.Time `json:"next_end"`
	Servers   []string  `json:"servers"`
}

// RunStatus is one run of a window (current runs and the most recent finished ones).
type RunStatus struct {
	ID       string     `json:"id"`
	Window   string     `json:"window"`
	Started  time.Time  `json:"started"`
	Deadline time.Time  `json:"deadline"`
	Finished *time.Time `json:"finished,omitempty"`
	// Result is "" while running, else succeeded, unhealthy, reversed, aborted, held or interrupted
	// (outcome.go).
	Result  string      `json:"result"`
	Servers []ServerRun `json:"servers"`
}

// ServerRun is one server's progress within a run.
type ServerRun struct {
	Server      string     `json:"server"`
	State       string     `json:"state"`
	Step        string     `json:"step,omitempty"`
	StepStarted *time.Time `json:"step_started,omitempty"`
	// Outcome is "" while the server's run goes on, else succeeded, unhealthy, reversed, aborted, held,
	// interrupted or "not started" (outcome.go).
	Outcome string `json:"outcome,omitempty"`
	// Error is the reason of an outcome other than succeeded: the failure, why it is held, why it did not
	// start. Empty for a server the run ended before (aborted, or not started because the run ended).
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"` // findings that did not fail it (a component held by others)
}

// ServerStatus is one configured server.
type ServerStatus struct {
	Name           string `json:"name"`
	State          string `json:"state"`
	RollbackFailed bool   `json:"rollback_failed"`
}
