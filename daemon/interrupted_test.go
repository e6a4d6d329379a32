package daemon_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// TestInterruptedRunHasAnOutcome: a crash left run r1 with EX01 draining and its Alertmanager silence open.
// On start the run is journaled as interrupted, EX01 is reversed, and only then is the silence expired
// (before, it was expired first, and EX01 paged while still draining); the run shows in the status and in
// exmaintd_window_runs_total with the result "interrupted", and the journal ends it with window_finished.
func TestInterruptedRunHasAnOutcome(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	ex01 := simtest.Client(t, simtest.Endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{})
	if err := ex01.SetComponentState(t.Context(), "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatal(err)
	}
	hubAtExpiry := make(chan string, 1)
	var once sync.Once
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v2/silence/") {
			once.Do(func() {
				for _, s := range sim.Org().Snapshot().Servers {
					if s.Name == "EX01" {
						hubAtExpiry <- s.Effective["HubTransport"]
					}
				}
			})
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(am.Close)

	_, path, cfg := writeDemoConfig(t, sim, demo.Options{})
	started := time.Now().Add(-time.Hour).UTC()
	orig, _ := json.Marshal(map[string]string{"component": "HubTransport", "state": "Active"})
	window, _ := json.Marshal(map[string]any{"event": "window_started", "start": started, "end": started.Add(6 * time.Hour), "servers": []string{"EX01"}})
	silence, _ := json.Marshal(map[string]any{"event": "silence", "id": "s-1", "ends": started.Add(7 * time.Hour), "expired": false})
	j, _, _, err := journal.Open(filepath.Join(cfg.Daemon.StateDir, "journal.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []journal.Record{
		{Type: journal.Note, Run: "r1", Window: "demo", Data: window, Time: started},
		{Type: journal.RunStarted, Run: "r1", Window: "demo", Server: "EX01", Time: started},
		{Type: journal.Note, Run: "r1", Window: "demo", Server: "EX01", Data: silence, Time: started},
		{Type: journal.Recorded, Run: "r1", Window: "demo", Server: "EX01", Step: "hubtransport-draining", Data: orig, Time: started},
		{Type: journal.StepStarted, Run: "r1", Window: "demo", Server: "EX01", Step: "hubtransport-draining", Time: started},
	} {
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	sil, err := alerting.NewSilencer(alerting.SilencerOptions{Endpoint: alerting.Endpoint{URL: am.URL}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", metrics.Known{Windows: []string{"demo"}})
	d, err := daemon.New(daemon.Options{ConfigPath: path, Config: cfg, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), Metrics: m, Silencer: sil})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-hubAtExpiry:
		if got != "Active" {
			t.Errorf("the leftover silence was expired while EX01's HubTransport was %s: before the recovery reverse", got)
		}
	default:
		t.Error("the leftover silence was not expired")
	}
	st := d.Status(t.Context())
	var found bool
	for _, r := range st.Runs {
		if r.ID == "r1" {
			found = true
			if r.Result != "interrupted" || r.Finished == nil {
				t.Errorf("run r1 in the status: result %q, finished %v; want interrupted and finished", r.Result, r.Finished)
			}
		}
	}
	if !found {
		t.Errorf("the interrupted run is not in the status: %+v", st.Runs)
	}
	if n := runsCount(t, reg, "demo", "interrupted"); n != 1 {
		t.Errorf("exmaintd_window_runs_total{window=\"demo\",result=\"interrupted\"} = %v, want 1", n)
	}
	recs, _, err := journal.ReadFile(filepath.Join(cfg.Daemon.StateDir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range recs {
		if r.Run == "r1" && r.Type == journal.Note && r.Outcome != "" {
			events = append(events, r.Outcome)
		}
	}
	if strings.Join(events, ",") != "interrupted,interrupted" {
		t.Errorf("r1's notes with an outcome: %v; want window_interrupted then window_finished, both interrupted", events)
	}
}

// runsCount reads exmaintd_window_runs_total{window, result} from reg.
func runsCount(t *testing.T, reg *prometheus.Registry, window, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "exmaintd_window_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["window"] == window && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestRunInterruptedBetweenServers: a crash (or a dead leader) between two servers of a window leaves the
// window's start and EX01's finished run in the journal, and nothing unfinished on any server. On start the
// window run is finished as interrupted all the same — with its window_finished note and a status entry —
// instead of staying open for ever.
func TestRunInterruptedBetweenServers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	started := time.Now().Add(-time.Hour).UTC()
	window, _ := json.Marshal(map[string]any{"event": "window_started", "start": started, "end": started.Add(6 * time.Hour), "servers": []string{"EX01", "EX02"}})
	f.seedJournal(t,
		journal.Record{Type: journal.Note, Run: "r1", Window: "demo", Data: window, Time: started},
		journal.Record{Type: journal.RunStarted, Run: "r1", Window: "demo", Server: "EX01", Time: started},
		journal.Record{Type: journal.RunFinished, Run: "r1", Window: "demo", Server: "EX01", Outcome: "completed", Time: started},
	)
	if err := f.d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := f.d.Status(t.Context())
	if len(st.Runs) != 1 || st.Runs[0].ID != "r1" || st.Runs[0].Finished == nil || st.Runs[0].Result != "interrupted" {
		t.Fatalf("runs in the status: %+v; want r1 finished as interrupted", st.Runs)
	}
	if err := f.d.Close(); err != nil {
		t.Fatal(err)
	}
	finished := 0
	for _, r := range journalRecords(t, f.dir) {
		if r.Run == "r1" && r.Type == journal.Note && strings.Contains(string(r.Data), `"window_finished"`) {
			finished++
		}
	}
	if finished != 1 {
		t.Errorf("%d window_finished notes for r1; want 1", finished)
	}
}
