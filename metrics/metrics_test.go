package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/steps"
)

var _ steps.Observer = (*metrics.Metrics)(nil)

func newMetrics(tb testing.TB) (*metrics.Metrics, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", metrics.Known{Windows: []string{"monthly"}, Servers: []string{"EX01", "EX02"}})
	reg.MustRegister(m.ServerCollector()) // Handler renders these itself; through the registry for the tests
	return m, reg
}

// TestLint runs promtool's metric lint (client_golang's promlint) on everything exmaintd registers.
func TestLint(t *testing.T) {
	m, reg := newMetrics(t)
	m.StepFinished("EX01", "drain-queues", false, time.Second, nil)
	m.WinRMRequest("EX01", "Receive", "ok", time.Millisecond)
	m.RunFinished("monthly", api.Succeeded, time.Minute, nil)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestSeriesFromStart: every known series exists before anything happened, so alerts see 0, not absence.
func TestSeriesFromStart(t *testing.T) {
	_, reg := newMetrics(t)
	for name, want := range map[string]int{
		"exmaintd_server_state":                          2 * len(steps.AllServerStates()),
		"exmaintd_transport_queue_messages":              2 * 5, // active, poison, shadow, unreachable, retry
		"exmaintd_window_runs_total":                     len(metrics.Results()),
		"exmaintd_drain_stalled":                         2 * 2,
		"exmaintd_server_rollback_failed":                2,
		"exmaintd_gate_checks_total":                     3 * len(metrics.Gates()),
		"exmaintd_winrm_requests_total":                  2 * len(exchange.RequestResults()),
		"exmaintd_window_last_success_timestamp_seconds": 1,
	} {
		if n := testutil.CollectAndCount(reg, name); n != want {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
}

func TestObserver(t *testing.T) {
	m, reg := newMetrics(t)
	m.ServerState("EX01", steps.StateEntering)
	m.StepStarted("EX01", "drain-queues", time.Unix(1000, 0))
	m.Queues("EX01", exchange.QueueSummary{Active: 42, Shadow: 6, Poison: 1, Queues: true})
	m.DrainStalled("EX01", "drain-queues", true)
	m.StepFinished("EX01", "drain-queues", false, time.Minute, errors.New("stalled"))
	m.RollbackFailed("EX01", true)
	want := `
# HELP exmaintd_drain_stalled 1 when a waiting step (queue drain, active copies moving off) made no progress for drain_stall.
# TYPE exmaintd_drain_stalled gauge
exmaintd_drain_stalled{server="EX01",step="drain-queues"} 1
exmaintd_drain_stalled{server="EX01",step="move-active-databases"} 0
exmaintd_drain_stalled{server="EX02",step="drain-queues"} 0
exmaintd_drain_stalled{server="EX02",step="move-active-databases"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "exmaintd_drain_stalled"); err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(gaugeWith(t, reg, "exmaintd_server_state", map[string]string{"server": "EX01", "state": "entering"})); v != 1 {
		t.Errorf("state entering = %v", v)
	}
}

// TestStepInProgress: one start timestamp per server, and the step as a label only while it runs.
func TestStepInProgress(t *testing.T) {
	m, reg := newMetrics(t)
	info := func() []string {
		var out []string
		for _, s := range seriesWith(t, reg, "exmaintd_server_step_info", nil) {
			for _, lp := range s.GetLabel() {
				if lp.GetName() == "step" {
					out = append(out, lp.GetValue())
				}
			}
		}
		return out
	}
	if n := len(seriesWith(t, reg, "exmaintd_server_step_started_timestamp_seconds", nil)); n != 2 {
		t.Errorf("%d step_started series for 2 servers, want 2", n)
	}
	if got := info(); len(got) != 0 {
		t.Errorf("step_info before any step: %v", got)
	}
	m.StepStarted("EX01", "drain-queues", time.Unix(1000, 0))
	m.StepStarted("EX01", "suspend-cluster-node", time.Unix(1060, 0)) // the next step replaces it
	if got := info(); len(got) != 1 || got[0] != "suspend-cluster-node" {
		t.Errorf("step_info = %v, want [suspend-cluster-node]", got)
	}
	if v := testutil.ToFloat64(gaugeWith(t, reg, "exmaintd_server_step_started_timestamp_seconds", map[string]string{"server": "EX01"})); v != 1060 {
		t.Errorf("step_started = %v, want 1060", v)
	}
	m.StepFinished("EX01", "drain-queues", false, time.Second, nil) // a late report of the previous step changes nothing
	if got := info(); len(got) != 1 {
		t.Errorf("step_info after another step's end = %v", got)
	}
	m.StepFinished("EX01", "suspend-cluster-node", false, time.Second, nil)
	if got := info(); len(got) != 0 {
		t.Errorf("step_info after the step ended = %v", got)
	}
	if v := testutil.ToFloat64(gaugeWith(t, reg, "exmaintd_server_step_started_timestamp_seconds", map[string]string{"server": "EX01"})); v != 0 {
		t.Errorf("step_started = %v after the step, want 0", v)
	}
	m.StepStarted("EX02", "patch", time.Unix(2000, 0))
	m.ServerState("EX02", steps.StateIdle) // the run ended (an abort) without StepFinished
	if got := info(); len(got) != 0 {
		t.Errorf("step_info after the server went idle = %v", got)
	}
}

// gaugeWith finds one series' value through the registry.
func gaugeWith(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	tb.Helper()
	ms := seriesWith(tb, reg, name, labels)
	if len(ms) == 0 {
		tb.Fatalf("no %s%v", name, labels)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	g.Set(ms[0].GetGauge().GetValue())
	return g
}

// seriesWith returns the series of metric name whose labels have the given values (other labels any).
func seriesWith(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) []*dto.Metric {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for _, lp := range m.GetLabel() {
				if want, has := labels[lp.GetName()]; has && lp.GetValue() != want {
					ok = false
				}
			}
			if ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// TestTrack: a reload's new window and server get every series at once, the existing ones keep their
// values, removed ones lose their series except a rollback_failed that still blocks the server.
func TestTrack(t *testing.T) {
	m, reg := newMetrics(t)
	m.ServerState("EX01", steps.StateInMaintenance)
	m.RollbackFailed("EX02", true)
	m.Track(metrics.Known{Windows: []string{"weekly"}, Servers: []string{"EX01", "EX03"}})
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   int
	}{
		{"exmaintd_window_runs_total", map[string]string{"window": "weekly"}, len(metrics.Results())},
		{"exmaintd_window_runs_total", map[string]string{"window": "monthly"}, 0},
		{"exmaintd_window_next_start_timestamp_seconds", map[string]string{"window": "monthly"}, 0},
		{"exmaintd_server_state", map[string]string{"server": "EX03"}, len(steps.AllServerStates())},
		{"exmaintd_server_state", map[string]string{"server": "EX02"}, 0},
		{"exmaintd_transport_queue_messages", map[string]string{"server": "EX03"}, 5},
		{"exmaintd_server_rollback_failed", map[string]string{"server": "EX02"}, 1},
		{"exmaintd_server_rollback_failed", map[string]string{"server": "EX03"}, 1},
	} {
		if n := len(seriesWith(t, reg, tc.name, tc.labels)); n != tc.want {
			t.Errorf("%s%v: %d series, want %d", tc.name, tc.labels, n, tc.want)
		}
	}
	if v := testutil.ToFloat64(gaugeWith(t, reg, "exmaintd_server_state", map[string]string{"server": "EX01", "state": string(steps.StateInMaintenance)})); v != 1 {
		t.Errorf("EX01 in_maintenance = %v after Track, want 1 (an existing server keeps its state)", v)
	}
	m.RollbackFailed("EX02", false)
	m.Track(metrics.Known{Windows: []string{"weekly"}, Servers: []string{"EX01", "EX03"}})
	if n := len(seriesWith(t, reg, "exmaintd_server_rollback_failed", map[string]string{"server": "EX02"})); n != 0 {
		t.Errorf("a cleared, removed server keeps %d rollback_failed series", n)
	}
}
