package daemon_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// TestNotifications: the webhook gets "ahead" once, lead before the next occurrence — also across a
// restart (or a takeover: the journal says it went out) — and "start" and "end" for a run.
func TestNotifications(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []alerting.Event
	hook := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var e alerting.Event
		_ = json.NewDecoder(r.Body).Decode(&e)
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	sim := simtest.Start(t, simtest.Options{})
	// A window that starts in about 10 minutes (whole minutes, UTC) with a 1-hour lead: "ahead" is due now.
	next := time.Now().UTC().Add(10 * time.Minute).Truncate(time.Minute)
	spec := next.Format("4 15") + " * * *"
	path, err := demo.WriteConfig(t.TempDir(), sim, demo.Options{Schedule: spec})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := daemon.Options{ConfigPath: path, Config: cfg, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler),
		Webhooks: []alerting.Webhook{{Name: "users", Endpoint: alerting.Endpoint{URL: hook.URL}, Events: []string{"ahead", "start", "end", "abort"}, Lead: time.Hour}}}
	d, err := daemon.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	ctx := t.Context()
	done := make(chan error, 1)
	sctx, stop := context.WithCancel(ctx)
	go func() { done <- d.Schedule(sctx) }()
	count := func(kind string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range events {
			if e.Event == kind {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, func() bool { return count("ahead") == 1 })
	id, err := d.StartWindow(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if result, _, err := d.Wait(ctx, id); err != nil || result != api.Succeeded {
		t.Fatalf("run: %s, %v", result, err)
	}
	waitFor(t, 10*time.Second, func() bool { return count("start") == 1 && count("end") == 1 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count("ahead"); n != 1 {
		t.Errorf("%d ahead notifications, want exactly 1", n)
	}

	// A restart on the same journal: its scheduling loop goes round once (Alive), then stops — a loop
	// iteration runs to its end before it sees the cancellation, so its "ahead" check is done by then.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := daemon.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d2.Close() })
	sctx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- d2.Schedule(sctx2) }()
	waitFor(t, 10*time.Second, func() bool { return d2.Alive(time.Minute) })
	stop2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if n := count("ahead"); n != 1 {
		t.Errorf("%d ahead notifications after a restart, want still 1 (the journal says it went out)", n)
	}
}
