package metrics

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/steps"
)

// servers is the per-server part of the metrics: one small record per server, rendered from one snapshot
// at scrape time. With a GaugeVec child per series, 2,000 servers meant 60,000 children: more memory than
// the rest of the daemon and most of a scrape's time (BENCHMARKS.md, "exmaintd at 2,000 servers").
type servers struct {
	mu     sync.Mutex
	byName map[string]*serverRecord

	// what every record's arrays are indexed by
	states, queueClasses, waiting, results []string
	help                                   map[string]string // family → HELP, shared by Collect and writeText

	state, rollbackFailed, inRun, queue, copyQueue, replayQueue, unhealthy, stalled *prometheus.Desc
	stepStarted, stepInfo, winrm                                                    *prometheus.Desc
}

// serverRecord is one server's values.
type serverRecord struct {
	configured     bool // false: kept only because its rollback failed (rollback_failed is its one series)
	state          int  // index in states
	rollbackFailed bool
	inRun          bool
	queue          []float64 // queueClasses
	copyQueue      float64
	replayQueue    float64
	unhealthy      float64
	stalled        []bool // waiting
	step           string // the step in progress ("" when none)
	stepStarted    float64
	winrm          []float64 // results
}

func newServers() *servers {
	help := map[string]string{}
	d := func(name, text string, labels ...string) *prometheus.Desc {
		help[name] = text
		return prometheus.NewDesc(name, text, append([]string{"server"}, labels...), nil)
	}
	s := &servers{byName: map[string]*serverRecord{}, help: help,
		queueClasses: []string{"active", "poison", "shadow", "unreachable", "retry"},
		waiting:      steps.WaitingSteps(),
		results:      exchange.RequestResults(),
		state:        d("exmaintd_server_state", "1 for the server's current maintenance state, 0 for the others.", "state"),
		rollbackFailed: d("exmaintd_server_rollback_failed",
			"1 when an undo failed after its retries: exmaintd will not touch the server until an operator clears it."),
		inRun:       d("exmaintd_server_in_run", "1 while the server is part of a window run in progress."),
		queue:       d("exmaintd_transport_queue_messages", "Messages queued on the server by class: active (Microsoft's filter), poison, shadow, unreachable and retry (both part of active).", "class"),
		copyQueue:   d("exmaintd_database_copy_queue_length_max", "Largest CopyQueueLength among the server's database copies."),
		replayQueue: d("exmaintd_database_replay_queue_length_max", "Largest ReplayQueueLength among the server's database copies."),
		unhealthy:   d("exmaintd_database_copies_unhealthy", "The server's database copies that fail the copy gate."),
		stalled:     d("exmaintd_drain_stalled", "1 when a waiting step (queue drain, active copies moving off) made no progress for drain_stall.", "step"),
		stepStarted: d("exmaintd_server_step_started_timestamp_seconds", "Start of the step in progress on the server (0 when none runs)."),
		stepInfo: d("exmaintd_server_step_info",
			"The step in progress on the server (always 1; the series exists only while the step runs).", "step"),
		winrm: d("exmaintd_winrm_requests_total", "WinRM requests by server and result.", "result"),
	}
	for _, st := range steps.AllServerStates() {
		s.states = append(s.states, string(st))
	}
	return s
}

// track makes the configured servers exactly names: new ones start idle with every value 0, removed ones
// are forgotten unless their rollback failed.
func (s *servers) track(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	for name, r := range s.byName {
		if !keep[name] {
			if r.rollbackFailed {
				r.configured = false
				continue
			}
			delete(s.byName, name)
		}
	}
	for _, name := range names {
		if r, ok := s.byName[name]; ok {
			r.configured = true
			continue
		}
		r := s.record()
		r.configured = true
		s.byName[name] = r
	}
}

// record is a new server's record: idle, everything 0.
func (s *servers) record() *serverRecord {
	return &serverRecord{state: s.stateIndex(steps.StateIdle), queue: make([]float64, len(s.queueClasses)),
		stalled: make([]bool, len(s.waiting)), winrm: make([]float64, len(s.results))}
}

func (s *servers) stateIndex(st steps.ServerState) int {
	if i := slices.Index(s.states, string(st)); i >= 0 {
		return i
	}
	return 0
}

// update changes one server's record under the lock; a server not configured (a late report after a reload
// removed it) gets no record, so that it cannot come back as series.
func (s *servers) update(server string, f func(*serverRecord)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.byName[server]; ok && r.configured {
		f(r)
	}
}

// setRollbackFailed is update for rollback_failed, which also reaches servers removed from the
// configuration: a cleared one then disappears.
func (s *servers) setRollbackFailed(server string, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byName[server]
	switch {
	case !ok && failed: // blocked by a journal record for a server the configuration no longer has
		r := s.record()
		r.rollbackFailed = true
		s.byName[server] = r
	case !ok:
	case !r.configured && !failed:
		delete(s.byName, server)
	default:
		r.rollbackFailed = failed
	}
}

func (s *servers) stepStartedAt(server, step string, at time.Time) {
	s.update(server, func(r *serverRecord) { r.step, r.stepStarted = step, ts(at) })
}

// stepEnded clears the step in progress if it is still step ("" clears any).
func (s *servers) stepEnded(server, step string) {
	s.update(server, func(r *serverRecord) {
		if step == "" || r.step == step {
			r.step, r.stepStarted = "", 0
		}
	})
}

func (s *servers) winrmRequest(server, result string) {
	i := slices.Index(s.results, result)
	if i < 0 {
		i = slices.Index(s.results, "error")
	}
	s.update(server, func(r *serverRecord) { r.winrm[i]++ })
}

func (s *servers) drainStalled(server, step string, stalled bool) {
	i := slices.Index(s.waiting, step)
	if i < 0 {
		return // only waiting steps report stalls
	}
	s.update(server, func(r *serverRecord) { r.stalled[i] = stalled })
}

// namedRecord is a copy of a server's record.
type namedRecord struct {
	name string
	serverRecord
}

// snapshot copies every record under the lock (a scrape never holds up a step's report for longer than the
// copy), sorted by server name.
func (s *servers) snapshot() []namedRecord {
	s.mu.Lock()
	snap := make([]namedRecord, 0, len(s.byName))
	for name, r := range s.byName {
		c := namedRecord{name: name, serverRecord: *r}
		c.queue, c.stalled, c.winrm = slices.Clone(r.queue), slices.Clone(r.stalled), slices.Clone(r.winrm)
		snap = append(snap, c)
	}
	s.mu.Unlock()
	slices.SortFunc(snap, func(a, b namedRecord) int { return strings.Compare(a.name, b.name) })
	return snap
}

// Describe implements prometheus.Collector.
func (s *servers) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.state, s.rollbackFailed, s.inRun, s.queue, s.copyQueue, s.replayQueue, s.unhealthy, s.stalled, s.stepStarted, s.stepInfo, s.winrm} {
		ch <- d
	}
}

// Collect implements prometheus.Collector (the generic path; Handler renders the text itself).
func (s *servers) Collect(ch chan<- prometheus.Metric) {
	snap := s.snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range snap {
		gauge(s.rollbackFailed, b2f(r.rollbackFailed), r.name)
		if !r.configured {
			continue
		}
		for i, st := range s.states {
			gauge(s.state, b2f(i == r.state), r.name, st)
		}
		gauge(s.inRun, b2f(r.inRun), r.name)
		for i, c := range s.queueClasses {
			gauge(s.queue, r.queue[i], r.name, c)
		}
		gauge(s.copyQueue, r.copyQueue, r.name)
		gauge(s.replayQueue, r.replayQueue, r.name)
		gauge(s.unhealthy, r.unhealthy, r.name)
		for i, w := range s.waiting {
			gauge(s.stalled, b2f(r.stalled[i]), r.name, w)
		}
		gauge(s.stepStarted, r.stepStarted, r.name)
		if r.step != "" {
			gauge(s.stepInfo, 1, r.name, r.step)
		}
		for i, res := range s.results {
			ch <- prometheus.MustNewConstMetric(s.winrm, prometheus.CounterValue, r.winrm[i], r.name, res)
		}
	}
}
