package daemon

import (
	"sync"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/steps"
)

// progress keeps each server's live state for /api/v1/status and forwards every event to the next observer
// (metrics, the demo's display).
type progress struct {
	next steps.Observer
	// entering, when set, is told that a server starts entering maintenance (before its first change).
	entering func(server string)
	mu       sync.Mutex
	srv      map[string]*serverProgress
}

type serverProgress struct {
	state       steps.ServerState
	step        string
	stepStarted time.Time
	err         string
}

func newProgress(next steps.Observer) *progress {
	if next == nil {
		next = steps.NopObserver{}
	}
	return &progress{next: next, srv: map[string]*serverProgress{}}
}

func (p *progress) get(server string) *serverProgress {
	s := p.srv[server]
	if s == nil {
		s = &serverProgress{state: steps.StateIdle}
		p.srv[server] = s
	}
	return s
}

func (p *progress) snapshot(server string) serverProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return *p.get(server)
}

// inMaintenance reports whether server is changed by a run now (entering, in maintenance, patching,
// rebooting, exiting, reversing, or held after a failed reverse): its Exchange endpoint is then not used
// for another server's cmdlets.
func (p *progress) inMaintenance(server string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.srv[server]
	if !ok {
		return false
	}
	switch s.state {
	case steps.StateIdle, steps.StatePrechecks, steps.StateWatching:
		return false
	}
	return true
}

func (p *progress) ServerState(server string, st steps.ServerState) {
	p.mu.Lock()
	s := p.get(server)
	s.state = st
	if st == steps.StateIdle {
		s.step = ""
	}
	p.mu.Unlock()
	if st == steps.StateEntering && p.entering != nil {
		p.entering(server)
	}
	p.next.ServerState(server, st)
}

func (p *progress) StepStarted(server, step string, at time.Time) {
	p.mu.Lock()
	s := p.get(server)
	s.step, s.stepStarted = step, at
	p.mu.Unlock()
	p.next.StepStarted(server, step, at)
}

func (p *progress) StepFinished(server, step string, undo bool, took time.Duration, err error) {
	if err != nil {
		p.mu.Lock()
		p.get(server).err = err.Error()
		p.mu.Unlock()
	}
	p.next.StepFinished(server, step, undo, took, err)
}

func (p *progress) GateChecked(server, gate, result string) { p.next.GateChecked(server, gate, result) }
func (p *progress) Queues(server string, s exchange.QueueSummary) {
	p.next.Queues(server, s)
}
func (p *progress) Copies(server string, cq, rq int64, unhealthy int) {
	p.next.Copies(server, cq, rq, unhealthy)
}
func (p *progress) DrainStalled(server, step string, stalled bool) {
	p.next.DrainStalled(server, step, stalled)
}
func (p *progress) RollbackFailed(server string, failed bool) { p.next.RollbackFailed(server, failed) }
