// Package metrics is exmaintd's Prometheus instrumentation: every collector is registered on a passed-in
// registry, named exmaintd_* in base units, and every known series exists from the start (value 0) so that
// alerts and dashboards never see a gap — except exmaintd_server_step_info, whose label is the step in
// progress (docs/observability.md). The per-server families are one record per server, which Handler
// writes straight to the text format (servers.go, exposition.go). *Metrics implements steps.Observer and
// provides the exchange client's RequestObserver.
package metrics

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/steps"
)

// Metrics holds the collectors.
type Metrics struct {
	mu      sync.Mutex
	known   Known // the windows and servers whose series are exported (Track changes it)
	servers *servers

	reloadOK, reloadTime                       prometheus.Gauge
	journalErrors                              prometheus.Counter
	journalPending                             prometheus.Gauge
	leader                                     prometheus.Gauge
	leaderInfo                                 *prometheus.GaugeVec
	windowOpen, windowNextStart, windowNextEnd *prometheus.GaugeVec
	windowInterval, windowTrackedSince         *prometheus.GaugeVec
	runActive, runDeadline                     *prometheus.GaugeVec
	runs                                       *prometheus.CounterVec
	lastSuccess, lastCompletion                *prometheus.GaugeVec
	runDuration                                *prometheus.HistogramVec
	stepDuration                               *prometheus.HistogramVec
	stepFailures                               *prometheus.CounterVec
	gateChecks                                 *prometheus.CounterVec
	winrmDuration                              *prometheus.HistogramVec
	silences                                   prometheus.Gauge
	silenceErrors                              *prometheus.CounterVec
}

// Known lists the label values to export from the start.
type Known struct {
	Windows []string
	Servers []string
}

// Results of a window run.
func Results() []string {
	return []string{api.Succeeded, api.Unhealthy, api.Reversed, api.Aborted, api.Held, api.Interrupted, api.Missed, api.Skipped}
}

// Gates lists the gate names the runner reports.
func Gates() []string {
	return []string{"permissions", "time_left", "setup", "pending_reboot", "dag_members", "redundancy", "backup", "queues", "copies", "alerts", "services"}
}

// New registers exmaintd's collectors on reg.
func New(reg prometheus.Registerer, version string, k Known) *Metrics {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		servers: newServers(),
		journalErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "exmaintd_journal_errors_total",
			Help: "Failed journal writes (full disk, I/O error). While the journal fails no window or step starts; a reverse goes on and its records wait."}),
		journalPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "exmaintd_journal_pending_records",
			Help: "Journal records a reverse could not write yet; written when the journal can be written again."}),
		reloadOK:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "exmaintd_config_last_reload_successful", Help: "1 if the last configuration reload succeeded (or none happened yet), 0 if the previous configuration is still in force."}),
		reloadTime:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "exmaintd_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully."}),
		windowOpen:         g("exmaintd_window_open", "1 while an occurrence of the window is open (between its start and its hard end).", "window"),
		windowNextStart:    g("exmaintd_window_next_start_timestamp_seconds", "Start of the window's next occurrence.", "window"),
		windowNextEnd:      g("exmaintd_window_next_end_timestamp_seconds", "Hard end of the window's next occurrence.", "window"),
		windowInterval:     g("exmaintd_window_interval_seconds", "Time between two occurrences of the window (its cycle).", "window"),
		windowTrackedSince: g("exmaintd_window_tracked_since_timestamp_seconds", "Since when exmaintd knows the window (its first journal record, else the daemon's start).", "window"),
		runActive:          g("exmaintd_window_run_active", "1 while a run of the window is in progress.", "window"),
		runDeadline:        g("exmaintd_window_run_deadline_timestamp_seconds", "Hard end of the window's run in progress (0 when none).", "window"),
		runs:               prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exmaintd_window_runs_total", Help: "Window runs by result."}, []string{"window", "result"}),
		lastSuccess:        g("exmaintd_window_last_success_timestamp_seconds", "When a run of the window last ended with every server back and patched (0: never).", "window"),
		lastCompletion:     g("exmaintd_window_last_completion_timestamp_seconds", "When a run of the window last ended, whatever the result (0: never).", "window"),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "exmaintd_window_run_duration_seconds", Help: "Duration of window runs.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800}}, []string{"window"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "exmaintd_step_duration_seconds", Help: "Duration of step executions (do and undo).", Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600}}, []string{"step"}),
		stepFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exmaintd_step_failures_total", Help: "Failed step executions by phase (do, undo)."}, []string{"step", "phase"}),
		gateChecks:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exmaintd_gate_checks_total", Help: "Gate evaluations by gate and result (pass, fail, error)."}, []string{"gate", "result"}),
		winrmDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "exmaintd_winrm_request_duration_seconds", Help: "WinRM request latency by verb (Receive includes the long poll).",
			Buckets: []float64{0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60}}, []string{"verb"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "exmaintd_leader",
			Help: "1 while this instance leads (or is the only one: the file journal), 0 while it stands by."}),
		leaderInfo: g("exmaintd_leader_info", "Which instance leads, as this instance sees it (always 1; leader is empty while none is known).", "leader"),
		silences:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "exmaintd_alertmanager_silences_active", Help: "Alertmanager silences exmaintd holds for servers in maintenance, including ones whose expiry is still being retried."}),
		silenceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exmaintd_alertmanager_errors_total",
			Help: "Failed Alertmanager calls by operation: create (the server runs unsilenced, or is skipped with on_error = refuse) or expire (retried)."}, []string{"op"}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exmaintd_build_info", Help: "exmaintd's version and Go version (always 1)."}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(time.Now().Unix()))
	reg.MustRegister(info, m.journalErrors, m.journalPending, m.reloadOK, m.reloadTime, m.windowOpen, m.windowNextStart, m.windowNextEnd, m.windowInterval, m.windowTrackedSince,
		m.runActive, m.runDeadline, m.runs, m.lastSuccess, m.lastCompletion, m.runDuration,
		m.stepDuration, m.stepFailures, m.gateChecks, m.winrmDuration, m.silences, m.silenceErrors, m.leader, m.leaderInfo)
	for _, op := range []string{"create", "expire"} {
		m.silenceErrors.WithLabelValues(op)
	}
	m.init(k)
	m.servers.track(k.Servers)
	m.known = k
	return m
}

// Track makes the exported series follow a reloaded configuration: windows and servers that are new get
// every series at 0 (a reload must not leave a gap an alert could read as "absent"), and those no longer
// configured lose theirs, so that no alert keeps judging a window that no longer exists. A removed server
// that is rollback_failed keeps that series: the journal still blocks it until an operator clears it.
func (m *Metrics) Track(k Known) {
	m.mu.Lock()
	defer m.mu.Unlock()
	added := Known{Windows: missing(k.Windows, m.known.Windows)}
	for _, w := range missing(m.known.Windows, k.Windows) {
		l := prometheus.Labels{"window": w}
		for _, v := range []*prometheus.GaugeVec{m.windowOpen, m.windowNextStart, m.windowNextEnd, m.windowInterval, m.windowTrackedSince, m.runActive, m.runDeadline, m.lastSuccess, m.lastCompletion} {
			v.DeletePartialMatch(l)
		}
		m.runs.DeletePartialMatch(l)
		m.runDuration.DeletePartialMatch(l)
	}
	m.servers.track(k.Servers)
	m.init(added)
	m.known = Known{Windows: slices.Clone(k.Windows), Servers: slices.Clone(k.Servers)}
}

// missing returns the names in a that are not in b.
func missing(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

// init creates every known series with 0.
func (m *Metrics) init(k Known) {
	for _, w := range k.Windows {
		for _, v := range []*prometheus.GaugeVec{m.windowOpen, m.windowNextStart, m.windowNextEnd, m.windowInterval, m.windowTrackedSince, m.runActive, m.runDeadline, m.lastSuccess, m.lastCompletion} {
			v.WithLabelValues(w)
		}
		for _, r := range Results() {
			m.runs.WithLabelValues(w, r)
		}
	}
	for _, step := range append(steps.StepNames(), "patch", "reboot") {
		m.stepDuration.WithLabelValues(step)
		m.stepFailures.WithLabelValues(step, "do")
		m.stepFailures.WithLabelValues(step, "undo")
	}
	for _, verb := range []string{"create", "command", "send", "receive", "signal", "delete"} {
		m.winrmDuration.WithLabelValues(verb)
	}
	for _, w := range k.Windows {
		m.runDuration.WithLabelValues(w)
	}
	for _, gt := range Gates() {
		for _, r := range []string{steps.GatePass, steps.GateFail, steps.GateError} {
			m.gateChecks.WithLabelValues(gt, r)
		}
	}
}

// JournalError counts a failed journal write (a full disk, an I/O error).
func (m *Metrics) JournalError() { m.journalErrors.Inc() }

// JournalPending sets how many records wait to be written to the journal.
func (m *Metrics) JournalPending(n int) { m.journalPending.Set(float64(n)) }

// Leader records whether this instance leads and which one does ("" while none is known).
func (m *Metrics) Leader(self bool, leader string) {
	m.leader.Set(b2f(self))
	m.leaderInfo.Reset()
	m.leaderInfo.WithLabelValues(leader).Set(1)
}

// ConfigReloaded records a reload's outcome.
func (m *Metrics) ConfigReloaded(ok bool) {
	if ok {
		m.reloadOK.Set(1)
		m.reloadTime.Set(float64(time.Now().Unix()))
		return
	}
	m.reloadOK.Set(0)
}

// Window records a window's schedule state.
func (m *Metrics) Window(name string, open bool, nextStart, nextEnd time.Time, interval time.Duration, trackedSince time.Time) {
	m.windowOpen.WithLabelValues(name).Set(b2f(open))
	m.windowNextStart.WithLabelValues(name).Set(ts(nextStart))
	m.windowNextEnd.WithLabelValues(name).Set(ts(nextEnd))
	m.windowInterval.WithLabelValues(name).Set(interval.Seconds())
	m.windowTrackedSince.WithLabelValues(name).Set(ts(trackedSince))
}

// RunStarted marks a window's run and its servers active.
func (m *Metrics) RunStarted(window string, deadline time.Time, servers []string) {
	m.runActive.WithLabelValues(window).Set(1)
	m.runDeadline.WithLabelValues(window).Set(ts(deadline))
	for _, s := range servers {
		m.servers.update(s, func(r *serverRecord) { r.inRun = true })
	}
}

// RunFinished records a run's result.
func (m *Metrics) RunFinished(window, result string, took time.Duration, servers []string) {
	now := float64(time.Now().Unix())
	m.runActive.WithLabelValues(window).Set(0)
	m.runDeadline.WithLabelValues(window).Set(0)
	m.runs.WithLabelValues(window, result).Inc()
	m.lastCompletion.WithLabelValues(window).Set(now)
	if result == api.Succeeded {
		m.lastSuccess.WithLabelValues(window).Set(now)
	}
	if took > 0 {
		m.runDuration.WithLabelValues(window).Observe(took.Seconds())
	}
	for _, s := range servers {
		m.servers.update(s, func(r *serverRecord) { r.inRun = false })
	}
}

// LastSuccess restores a window's last success from the journal at start.
func (m *Metrics) LastSuccess(window string, at time.Time) {
	m.lastSuccess.WithLabelValues(window).Set(ts(at))
}

// Missed counts a missed occurrence.
func (m *Metrics) Missed(window, result string) { m.runs.WithLabelValues(window, result).Inc() }

// SilenceError counts a failed Alertmanager call (op: create or expire).
func (m *Metrics) SilenceError(op string) { m.silenceErrors.WithLabelValues(op).Inc() }

// Silences sets the number of active silences.
func (m *Metrics) Silences(n int) { m.silences.Set(float64(n)) }

// ServerState implements steps.Observer.
func (m *Metrics) ServerState(server string, state steps.ServerState) {
	i := m.servers.stateIndex(state)
	m.servers.update(server, func(r *serverRecord) {
		r.state = i
		if state == steps.StateIdle {
			r.step, r.stepStarted = "", 0
		}
	})
}

// StepStarted implements steps.Observer.
func (m *Metrics) StepStarted(server, step string, at time.Time) {
	m.servers.stepStartedAt(server, step, at)
}

// StepFinished implements steps.Observer.
func (m *Metrics) StepFinished(server, step string, undo bool, took time.Duration, err error) {
	m.stepDuration.WithLabelValues(step).Observe(took.Seconds())
	if err != nil {
		phase := "do"
		if undo {
			phase = "undo"
		}
		m.stepFailures.WithLabelValues(step, phase).Inc()
	}
	m.servers.stepEnded(server, step)
}

// GateChecked implements steps.Observer.
func (m *Metrics) GateChecked(_, gate, result string) {
	m.gateChecks.WithLabelValues(gate, result).Inc()
}

// Queues implements steps.Observer.
func (m *Metrics) Queues(server string, s exchange.QueueSummary) {
	m.servers.update(server, func(r *serverRecord) {
		copy(r.queue, []float64{float64(s.Active), float64(s.Poison), float64(s.Shadow), float64(s.Unreachable), float64(s.Retry)})
	})
}

// Copies implements steps.Observer.
func (m *Metrics) Copies(server string, maxCQ, maxRQ int64, unhealthy int) {
	m.servers.update(server, func(r *serverRecord) {
		r.copyQueue, r.replayQueue, r.unhealthy = float64(maxCQ), float64(maxRQ), float64(unhealthy)
	})
}

// DrainStalled implements steps.Observer.
func (m *Metrics) DrainStalled(server, step string, stalled bool) {
	m.servers.drainStalled(server, step, stalled)
}

// RollbackFailed implements steps.Observer.
func (m *Metrics) RollbackFailed(server string, failed bool) {
	m.servers.setRollbackFailed(server, failed)
}

// WinRMRequest is the exchange client's RequestObserver.
func (m *Metrics) WinRMRequest(server, verb, result string, took time.Duration) {
	m.servers.winrmRequest(server, result)
	m.winrmDuration.WithLabelValues(strings.ToLower(verb)).Observe(took.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func ts(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
