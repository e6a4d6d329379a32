package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
	"github.com/exmaintd/exmaintd/syncbuf"
)

type fixture struct {
	sim  *exchsim.Sim
	path string
	d    *daemon.Daemon
	dir  string
}

func newFixture(tb testing.TB, o demo.Options) *fixture {
	tb.Helper()
	return newLoggedFixture(tb, o, slog.New(slog.DiscardHandler))
}

// newLoggedFixture is newFixture with the daemon logging to logger.
func newLoggedFixture(tb testing.TB, o demo.Options, logger *slog.Logger) *fixture {
	tb.Helper()
	sim := simtest.Start(tb, simtest.Options{})
	dir, path, cfg := writeDemoConfig(tb, sim, o)
	d, err := daemon.New(daemon.Options{ConfigPath: path, Config: cfg, Getenv: os.Getenv, Logger: logger, Version: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return &fixture{sim: sim, path: path, d: d, dir: dir}
}

// restart closes the fixture's daemon and returns a new one on the same configuration and journal, as a
// restarted process (or a new cluster leader) reads it.
func (f *fixture) restart(t *testing.T) *daemon.Daemon {
	t.Helper()
	if err := f.d.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{ConfigPath: f.path, Config: cfg, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// seedJournal writes records into the daemon's journal before it opens it, as an earlier run left them.
func (f *fixture) seedJournal(t *testing.T, records ...journal.Record) {
	t.Helper()
	j, _, _, err := journal.Open(filepath.Join(f.d.Config().Daemon.StateDir, "journal.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if _, err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAPIStartAndStatus drives the daemon through its HTTP API: the window starts on POST with the token,
// the status shows the run, and the run succeeds.
func TestAPIStartAndStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	if err := f.d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewHandler(api.Options{Controller: f.d, Token: secret.New("t0ken"), Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	post := func(path, token string) (int, map[string]string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	if code, _ := post("/api/v1/windows/demo/start", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("start with a wrong token: %d", code)
	}
	code, out := post("/api/v1/windows/demo/start", "t0ken")
	if code != http.StatusAccepted || out["run_id"] == "" {
		t.Fatalf("start: %d %v", code, out)
	}
	if code, _ := post("/api/v1/windows/demo/start", "t0ken"); code != http.StatusConflict {
		t.Errorf("a second start while the servers are busy: %d, want 409", code)
	}
	st := f.d.Status(t.Context())
	if len(st.Runs) != 1 || st.Runs[0].ID != out["run_id"] || st.Runs[0].Result != "" || len(st.Windows) != 1 || st.Windows[0].NextStart.IsZero() {
		t.Errorf("status while running: %+v", st)
	}
	result, errs, err := f.d.Wait(t.Context(), out["run_id"])
	if err != nil || result != api.Succeeded {
		t.Fatalf("result %s, errs %v, err %v", result, errs, err)
	}
	// Each server's outcome, and the warnings the run gathered (SE has no UMCallRouter: both procedures'
	// step is skipped with one).
	for _, s := range f.d.Status(t.Context()).Runs[0].Servers {
		umWarned := len(s.Warnings) == 1 && strings.Contains(s.Warnings[0], "no UMCallRouter component")
		if s.Outcome != api.Succeeded || s.Error != "" || !umWarned {
			t.Errorf("%s: outcome %q, error %q, warnings %q", s.Server, s.Outcome, s.Error, s.Warnings)
		}
	}
	if code, _ := post("/api/v1/runs/"+out["run_id"]+"/abort", "t0ken"); code != http.StatusConflict {
		t.Errorf("aborting a finished run: %d, want 409", code)
	}
}

// TestShutdownReverses: when the daemon is told to stop (SIGTERM cancels Schedule's context) while a server
// is draining, Schedule returns only after the server's reverse, and the org is back as it was. The abort
// reads as one: the run is aborted, EX01 aborted with the reason, EX02 — whose turn never came — not
// started and without an error, and the log says "stopped", at warning level, not "failed".
func TestShutdownReverses(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	f := newLoggedFixture(t, demo.Options{DrainStall: "15s"}, slog.New(slog.NewTextHandler(&logs, nil)))
	before := f.sim.Org().Snapshot()
	if err := f.sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.d.Schedule(ctx) }()
	var id string
	waitFor(t, 10*time.Second, func() bool {
		var err error
		id, err = f.d.StartWindow(t.Context(), "demo")
		return err == nil
	})
	// A bound, not a measurement: a few seconds normally; the flake hunt (issue 30) saw it pass 30 s once in
	// five runs at a load average of 9 (two mutation runs beside it).
	waitFor(t, 2*time.Minute, func() bool {
		for _, r := range f.d.Status(t.Context()).Runs {
			for _, s := range r.Servers {
				if s.Server == "EX01" && s.Step == "drain-queues" {
					return true
				}
			}
		}
		return false
	})
	if err := f.sim.ClearFaults(); err != nil { // the undo must work; the messages stay stuck
		t.Fatal(err)
	}
	if err := f.sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Schedule did not return after shutdown")
	}
	result, errs, _ := f.d.Wait(t.Context(), id)
	if result != api.Aborted {
		t.Errorf("result %s (%v), want aborted", result, errs)
	}
	for _, r := range f.d.Status(t.Context()).Runs {
		for _, s := range r.Servers {
			switch {
			case r.ID != id:
			case s.Server == "EX01" && (s.Outcome != api.Aborted || !strings.Contains(s.Error, "stopped by the abort")):
				t.Errorf("EX01: %q, %q; want aborted, stopped by the abort", s.Outcome, s.Error)
			case s.Server == "EX02" && (s.Outcome != api.NotStarted || s.Error != ""):
				t.Errorf("EX02: %q, %q; want not started, without an error", s.Outcome, s.Error)
			}
		}
	}
	if l := logs.String(); strings.Contains(l, "server run failed") || !strings.Contains(l, `level=WARN msg="server run stopped (abort); reversing" server=EX01`) {
		t.Errorf("the abort logged as a failure, or not as a stop:\n%s", l)
	}
	if err := f.sim.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	if diffs := before.Equivalent(f.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("not restored after shutdown: %v", diffs)
	}
}

// TestReload: an invalid file keeps the configuration in force; a valid one replaces it.
func TestReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	old := f.d.Config()
	good, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.path, append(good, []byte("\n[steps]\nbogus = 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Reload(); err == nil || f.d.Config() != old {
		t.Fatalf("invalid reload: err %v, config replaced %v", err, f.d.Config() != old)
	}
	if err := os.WriteFile(f.path, []byte(strings.Replace(string(good), `drain_stall = "5s"`, `drain_stall = "9s"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Reload(); err != nil || f.d.Config().Steps.DrainStall.Duration != 9*time.Second {
		t.Fatalf("valid reload: %v", err)
	}
}

// TestMissedWindows: an occurrence that started while the daemon was down starts late when enough of it is
// left, and is journaled as missed otherwise.
func TestMissedWindows(t *testing.T) {
	t.Parallel()
	started := time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Minute)
	spec := fmt.Sprintf("%d %d * * *", started.Minute(), started.Hour())
	for _, tc := range []struct {
		name, duration, minRemaining string
		late                         bool
	}{{"late", "1h", "10m", true}, {"missed", "15m", "14m", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, demo.Options{Schedule: spec, Duration: tc.duration, MinRemaining: tc.minRemaining})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- f.d.Schedule(ctx) }()
			var runs int
			waitFor(t, 30*time.Second, func() bool {
				st := f.d.Status(t.Context())
				runs = len(st.Runs)
				return runs > 0 || !tc.late
			})
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			if tc.late != (runs == 1) {
				t.Errorf("runs = %d, want late start %v", runs, tc.late)
			}
			_ = f.d.Close()
			if missed := recordsMissed(journalRecords(t, f.dir)); missed == tc.late {
				t.Errorf("missed record = %v, want %v", missed, !tc.late)
			}
		})
	}
}

// journalRecords reads the journal in a demo configuration's state directory under dir.
func journalRecords(tb testing.TB, dir string) []journal.Record {
	tb.Helper()
	recs, _, err := journal.ReadFile(filepath.Join(dir, "state", "journal.jsonl")) // the daemon may be appending
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// recordsMissed reports whether the journal records an occurrence as missed.
func recordsMissed(recs []journal.Record) bool {
	for _, r := range recs {
		if r.Type == journal.Note && r.Outcome == "missed" {
			return true
		}
	}
	return false
}

func waitFor(tb testing.TB, limit time.Duration, f func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !f() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnrecoverableRunBlocks: when an interrupted run cannot even be recovered (here the WinRM password is
// unreadable at start), the server is blocked, not left for the next window to take its half-maintained
// state for the original one.
func TestUnrecoverableRunBlocks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	f.seedJournal(t,
		journal.Record{Type: journal.RunStarted, Run: "r1", Window: "demo", Server: "EX01"},
		journal.Record{Type: journal.StepStarted, Run: "r1", Window: "demo", Server: "EX01", Step: "hubtransport-draining"})
	if err := os.Remove(filepath.Join(f.dir, "winrm-password")); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.d.Status(t.Context()).Servers {
		if want := s.Name == "EX01"; s.RollbackFailed != want {
			t.Errorf("server %s: rollback_failed %v, want %v", s.Name, s.RollbackFailed, want)
		}
	}
	if err := f.d.ClearServer(t.Context(), "EX01"); err != nil {
		t.Errorf("an operator cannot clear the blocked server: %v", err)
	}
}

// offsetClock is the wall clock plus an offset the test moves: a clock step on the daemon's host.
type offsetClock struct {
	steps.RealClock
	offset atomic.Int64
}

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// TestSchedulerWokeLate: an occurrence that starts while the daemon runs but that the loop only sees more
// than a minute later (the clock stepped forward, the host was suspended) is started late when enough of it
// is left and journaled as missed otherwise — never silently dropped.
func TestSchedulerWokeLate(t *testing.T) {
	t.Parallel()
	occ := time.Now().UTC().Add(6 * time.Minute).Truncate(time.Minute)
	spec := fmt.Sprintf("%d %d * * *", occ.Minute(), occ.Hour())
	for _, tc := range []struct {
		name, duration, minRemaining string
		late                         bool
	}{{"late", "1h", "10m", true}, {"missed", "15m", "14m", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := simtest.Start(t, simtest.Options{})
			dir := t.TempDir()
			path, err := demo.WriteConfig(dir, sim, demo.Options{Schedule: spec, Duration: tc.duration, MinRemaining: tc.minRemaining})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			clock := &offsetClock{}
			reg := prometheus.NewRegistry()
			m := metrics.New(reg, "test", metrics.Known{Windows: []string{"demo"}})
			d, err := daemon.New(daemon.Options{ConfigPath: path, Config: cfg, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), Clock: clock, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- d.Schedule(ctx) }()
			// The loop's first pass exports the next start: from then on it watches the window.
			waitFor(t, 30*time.Second, func() bool {
				return gaugeValue(t, reg, "exmaintd_window_next_start_timestamp_seconds") == float64(occ.Unix())
			})
			clock.offset.Store(int64(time.Until(occ.Add(3 * time.Minute)))) // the loop wakes 3 minutes late
			if err := d.Reload(); err != nil {                              // wakes the loop now rather than within 30 s
				t.Fatal(err)
			}
			var runs int
			waitFor(t, 30*time.Second, func() bool {
				runs = len(d.Status(t.Context()).Runs)
				return (tc.late && runs > 0) || (!tc.late && recordsMissed(journalRecords(t, dir)))
			})
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			_ = d.Close()
			if tc.late != (runs == 1) {
				t.Errorf("runs = %d, want a late start: %v", runs, tc.late)
			}
		})
	}
}

// gaugeValue is the value of the single series of gauge name in reg (0 when absent).
func gaugeValue(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// TestRescheduleIsNotMissed: a reload that moves a window so that its latest occurrence lies in the past
// (here: after a clock step, so the occurrence is also after the loop started watching) does not report that
// occurrence as missed nor start it late: it was never scheduled.
func TestRescheduleIsNotMissed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{Schedule: "0 3 1 1 *"})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", metrics.Known{Windows: []string{"demo"}})
	clock := &offsetClock{}
	d, err := daemon.New(daemon.Options{ConfigPath: f.path, Config: f.d.Config(), Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), Metrics: m, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Schedule(ctx) }()
	waitFor(t, 30*time.Second, func() bool { return gaugeValue(t, reg, "exmaintd_window_next_start_timestamp_seconds") != 0 })
	at := time.Now().UTC().Add(3 * time.Minute).Truncate(time.Minute) // after the loop started watching
	clock.offset.Store(int64(10 * time.Minute))                       // and in the past by the time of the reload
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(b), `schedule = "0 3 1 1 *"`, fmt.Sprintf(`schedule = "%d %d * * *"`, at.Minute(), at.Hour()), 1)
	if err := os.WriteFile(f.path, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	// The loop has taken the new schedule once it exports tomorrow's start.
	waitFor(t, 30*time.Second, func() bool {
		return gaugeValue(t, reg, "exmaintd_window_next_start_timestamp_seconds") == float64(at.Add(24*time.Hour).Unix())
	})
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if runs := len(d.Status(t.Context()).Runs); runs != 0 {
		t.Errorf("%d runs started after the reschedule", runs)
	}
	_ = d.Close()
	for _, r := range journalRecords(t, f.dir) {
		if r.Outcome == "missed" || r.Outcome == "skipped" {
			t.Errorf("journal records %s for an occurrence that was never scheduled: %+v", r.Outcome, r)
		}
	}
}

// TestKerberosWindow: a whole window with auth = "kerberos" from the configuration file — tickets from a
// real MIT KDC, exchsim refusing NTLM and accepting only each server's own HTTP/<fqdn> principal — ends in
// success.
func TestKerberosWindow(t *testing.T) {
	t.Parallel()
	k, krb := simtest.StartKerberos(t, "", nil)
	sim := simtest.Start(t, simtest.Options{Kerberos: krb, DisableNTLM: true})
	dir := t.TempDir()
	path, err := demo.WriteConfig(dir, sim, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), `auth = "ntlm"`, fmt.Sprintf("auth = \"kerberos\"\nrealm = %q\nkrb5_conf = %q", k.Realm, k.Krb5Conf), 1)
	src = strings.Replace(src, `exchange_auth = "ntlm"`, "", 1) // the Exchange channel's default: Kerberos
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{ConfigPath: path, Config: cfg, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	id, err := d.StartWindow(t.Context(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if result, errs, err := d.Wait(t.Context(), id); err != nil || result != api.Succeeded {
		t.Fatalf("result %s, errs %v, err %v", result, errs, err)
	}
}

// TestStatusWhileClearing: /api/v1/status (unauthenticated) reads the blocked servers while an operator clears
// one; the read must be a copy taken under the lock (go test -race fails on the old read after unlock).
func TestStatusWhileClearing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	f.seedJournal(t, journal.Record{Type: journal.RollbackFailed, Run: "r1", Window: "demo", Server: "EX01"})
	if err := f.d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	done, started := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := range 500 {
			_ = f.d.Status(t.Context())
			if i == 0 {
				close(started)
			}
		}
	}()
	<-started // the clear lands while Status keeps reading
	if err := f.d.ClearServer(t.Context(), "EX01"); err != nil {
		t.Errorf("clear: %v", err)
	}
	<-done
	for _, s := range f.d.Status(t.Context()).Servers {
		if s.RollbackFailed {
			t.Errorf("server %s still blocked after the clear", s.Name)
		}
	}
}

// TestNoWindowAfterShutdown: once shutdown has begun (Schedule's context ended, every run aborted), a window
// started through the API is refused instead of starting a run nobody will wait for.
func TestNoWindowAfterShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.d.Schedule(ctx) }()
	waitFor(t, 10*time.Second, func() bool { return f.d.Ready(t.Context()) == nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	if id, err := f.d.StartWindow(t.Context(), "demo"); err == nil || !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("StartWindow after shutdown = %q, %v; want a conflict: shutting down", id, err)
	}
}

// writeDemoConfig writes the demo configuration for sim into a new directory and loads it.
func writeDemoConfig(tb testing.TB, sim *exchsim.Sim, o demo.Options) (dir, path string, cfg *config.Config) {
	tb.Helper()
	dir = tb.TempDir()
	path, err := demo.WriteConfig(dir, sim, o)
	if err != nil {
		tb.Fatal(err)
	}
	if cfg, err = config.Load(path); err != nil {
		tb.Fatal(err)
	}
	return dir, path, cfg
}

// TestAliveFollowsTheSchedulingLoop: the watchdog's health is the scheduling loop going round — not the
// journal being open — so it is false before the loop runs and true once it does.
func TestAliveFollowsTheSchedulingLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	if err := f.d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if f.d.Alive(time.Minute) {
		t.Fatal("alive before the scheduling loop started")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.d.Schedule(ctx) }()
	waitFor(t, 30*time.Second, func() bool { return f.d.Alive(time.Minute) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStatusAfterRestart: a window started by hand shows as open while it runs (its schedule says
// closed), and after a restart the status still lists the finished run — result, finish time and the
// servers' errors come from the journal.
func TestStatusAfterRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, demo.Options{})
	if err := f.d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	id, err := f.d.StartWindow(t.Context(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if ws := f.d.Status(t.Context()).Windows; len(ws) != 1 || !ws[0].Open {
		t.Errorf("windows while a manual run is active: %+v; want demo open", ws)
	}
	result, _, err := f.d.Wait(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	d2 := f.restart(t)
	if err := d2.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	runs := d2.Status(t.Context()).Runs
	if len(runs) != 1 || runs[0].ID != id || runs[0].Result != result || runs[0].Finished == nil || runs[0].Window != "demo" || len(runs[0].Servers) != 3 {
		t.Fatalf("runs after the restart: %+v; want %s (%s, finished, 3 servers)", runs, id, result)
	}
	// Each server's outcome and warnings come back from the journal too.
	for _, s := range runs[0].Servers {
		if s.Outcome != api.Succeeded || len(s.Warnings) != 1 {
			t.Errorf("%s after the restart: outcome %q, warnings %q", s.Server, s.Outcome, s.Warnings)
		}
	}
}

// TestOccurrenceNotStartedTwice: an occurrence an earlier process started (a restart, or a new leader
// taking over from a dead one: both read the same journal) is not started again, even while it is still
// open and would otherwise start late.
func TestOccurrenceNotStartedTwice(t *testing.T) {
	t.Parallel()
	started := time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Minute)
	spec := fmt.Sprintf("%d %d * * *", started.Minute(), started.Hour())
	f := newFixture(t, demo.Options{Schedule: spec, Duration: "1h", MinRemaining: "10m"})
	schedule := func(d *daemon.Daemon, until func() bool) {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Schedule(ctx) }()
		waitFor(t, 60*time.Second, until)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// The first process starts the occurrence late and is stopped while it runs.
	schedule(f.d, func() bool { return len(f.d.Status(t.Context()).Runs) == 1 })
	d2 := f.restart(t)
	// One full round of the second process's loop (an iteration runs to its end before it sees the
	// cancellation): it would have started the occurrence by then.
	schedule(d2, func() bool { return d2.Alive(time.Minute) })
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range journalRecords(t, f.dir) {
		if r.Type == journal.Note && strings.Contains(string(r.Data), `"window_started"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d window_started notes for one occurrence; want 1", n)
	}
}
