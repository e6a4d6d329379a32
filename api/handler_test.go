package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/golden"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fakeController records actions and answers from fixed data.
type fakeController struct {
	mu      sync.Mutex
	actions []string
	ready   error
}

func (f *fakeController) Status(context.Context) Status {
	t0 := time.Date(2026, 12, 12, 21, 0, 0, 0, time.UTC)
	started := t0.Add(5 * time.Minute)
	return Status{
		Version: "test",
		Now:     t0.Add(10 * time.Minute),
		Windows: []WindowStatus{{Name: "patch-saturday", Open: true, NextStart: t0, NextEnd: t0.Add(6 * time.Hour), Servers: []string{"EX01", "EX02"}}},
		Runs: []RunStatus{{ID: "r1", Window: "patch-saturday", Started: t0, Deadline: t0.Add(6 * time.Hour),
			Servers: []ServerRun{{Server: "EX01", State: "entering", Step: "wait_queues", StepStarted: &started}, {Server: "EX02", State: "idle"}}}},
		Servers: []ServerStatus{{Name: "EX01", State: "entering"}, {Name: "EX02", State: "idle"}},
	}
}

func (f *fakeController) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, s)
}

func (f *fakeController) StartWindow(_ context.Context, w string) (string, error) {
	switch w {
	case "busy":
		return "", fmt.Errorf("window %q: servers EX01 busy in run r1: %w", w, ErrConflict)
	case "patch-saturday":
		f.record("start " + w)
		return "r2", nil
	}
	return "", fmt.Errorf("window %q: %w", w, ErrNotFound)
}

func (f *fakeController) AbortRun(_ context.Context, id string) error {
	if id != "r1" {
		return fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	f.record("abort " + id)
	return nil
}

func (f *fakeController) ClearServer(_ context.Context, s string) error {
	if s == "EX01" {
		f.record("clear " + s)
		return nil
	}
	return fmt.Errorf("server %q is not marked rollback_failed: %w", s, ErrInvalid)
}

func (f *fakeController) Ready(context.Context) error { return f.ready }

func start(t *testing.T, c Controller, token string) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "exmaintd_test_value", Help: "A test gauge."})
	reg.MustRegister(g)
	h := NewHandler(Options{Controller: c, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Token: secret.New(token), Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func do(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRoutes(t *testing.T) {
	fc := &fakeController{}
	base := start(t, fc, "tok3n")
	tests := []struct {
		name, method, path, token string
		status                    int
		contains                  string
	}{
		{"healthz", "GET", "/healthz", "", 200, `"ok"`},
		{"readyz", "GET", "/readyz", "", 200, `"ready"`},
		{"metrics", "GET", "/metrics", "", 200, "exmaintd_test_value 0"},
		{"status", "GET", "/api/v1/status", "", 200, `"wait_queues"`},
		{"start", "POST", "/api/v1/windows/patch-saturday/start", "tok3n", 202, `"run_id": "r2"`},
		{"start unknown", "POST", "/api/v1/windows/nope/start", "tok3n", 404, `"code": "not_found"`},
		{"start busy", "POST", "/api/v1/windows/busy/start", "tok3n", 409, `"message": "window \"busy\": servers EX01 busy in run r1"`},
		{"start no token", "POST", "/api/v1/windows/patch-saturday/start", "", 401, `"code": "unauthorized"`},
		{"start wrong token", "POST", "/api/v1/windows/patch-saturday/start", "tok3m", 401, `"unauthorized"`},
		{"abort", "POST", "/api/v1/runs/r1/abort", "tok3n", 202, `"aborting"`},
		{"abort unknown", "POST", "/api/v1/runs/r9/abort", "tok3n", 404, `run \"r9\": not found`},
		{"clear", "POST", "/api/v1/servers/EX01/clear", "tok3n", 200, `"cleared"`},
		{"clear invalid", "POST", "/api/v1/servers/EX02/clear", "tok3n", 400, `"code": "invalid"`},
		{"wrong method", "GET", "/api/v1/runs/r1/abort", "", 405, `"code": "method_not_allowed"`},
		{"unknown path", "GET", "/nope", "", 404, `"code": "not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, tt.method, base+tt.path, tt.token)
			if status != tt.status {
				t.Errorf("status %d, want %d; body %s", status, tt.status, body)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body %s lacks %s", body, tt.contains)
			}
		})
	}
	want := []string{"start patch-saturday", "abort r1", "clear EX01"}
	if fmt.Sprint(fc.actions) != fmt.Sprint(want) {
		t.Errorf("actions %v, want %v", fc.actions, want)
	}
}

func TestActionsDisabledWithoutToken(t *testing.T) {
	base := start(t, &fakeController{}, "")
	status, body := do(t, "POST", base+"/api/v1/runs/r1/abort", "")
	if status != http.StatusForbidden || !strings.Contains(body, "(daemon.api_token)") {
		t.Errorf("status %d body %s", status, body)
	}
}

func TestNotReady(t *testing.T) {
	base := start(t, &fakeController{ready: fmt.Errorf("journal recovery of run r1 in progress")}, "x")
	status, body := do(t, "GET", base+"/readyz", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "journal recovery") {
		t.Errorf("status %d body %s", status, body)
	}
}

// TestStatusGolden pins the status document's JSON shape, which scripts and the CLI read.
func TestStatusGolden(t *testing.T) {
	base := start(t, &fakeController{}, "x")
	_, body := do(t, "GET", base+"/api/v1/status", "")
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("status is not JSON: %v", err)
	}
	golden.Check(t, "status.json", []byte(body))
}
