package steps

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// virtualClock's time passes only when a step sleeps.
type virtualClock struct{ now time.Time }

func (c *virtualClock) Now() time.Time { return c.now }
func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) bool {
	c.now = c.now.Add(d)
	return ctx.Err() == nil
}

// TestRebootStep: the reboot step restarts only a host that has not restarted since it was recorded (a
// crash may come after the restart: a recovery must not restart twice), a refused restart (shutdown.exe's
// exit code) is its error, a restart whose answer never comes is taken as requested and verified by the
// boot time, and "back" means back_polls consecutive good polls — no fewer, no more.
func TestRebootStep(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	s := Settings{PollInterval: 100 * time.Millisecond, RebootTimeout: 30 * time.Second, BackPolls: 3}.WithDefaults()
	env := &Env{
		Ex:     simtest.Client(t, simtest.Endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute}),
		Target: Target{Server: "EX03", FQDN: "ex03.exlab.local"}, Settings: s, Clock: RealClock{},
		Logger: slog.New(slog.DiscardHandler), Observer: NopObserver{},
	}
	ctx := t.Context()
	var reboot Step = rebootStep{}
	setFault := func(kind string) {
		t.Helper()
		if err := sim.ClearFaults(); err != nil {
			t.Fatal(err)
		}
		if kind != "" {
			if err := sim.InjectFault(exchsim.Fault{Kind: kind, Server: "EX03", Target: "shutdown.exe"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	boot, err := env.Ex.LastBootUpTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig := func(recorded time.Time) json.RawMessage {
		b, err := json.Marshal(map[string]any{"boot": recorded, "reboot": true, "why": "test"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	restarts := func(f func()) int {
		before := len(sim.Org().Changes())
		f()
		n := 0
		for _, c := range sim.Org().Changes()[before:] {
			if c.Cmdlet == "shutdown.exe /r" {
				n++
			}
		}
		return n
	}
	// Recorded before the host's last boot: it has restarted since; Do only waits.
	if n := restarts(func() {
		if err := reboot.Do(ctx, env, orig(boot.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%d restarts of a host that restarted after the record", n)
	}
	clock := &virtualClock{now: time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)}
	env.Clock = clock
	if err := reboot.Verify(ctx, env, orig(boot.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if took, want := clock.now.Sub(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)), 2*s.PollInterval; took != want {
		t.Errorf("Verify waited %v; 3 consecutive good polls are 2 poll intervals apart, %v", took, want)
	}
	env.Clock = RealClock{}
	setFault("cmdlet_error")
	if err := reboot.Do(ctx, env, orig(boot)); err == nil || !strings.Contains(err.Error(), "Access is denied") {
		t.Errorf("Do with shutdown.exe refused: %v; want its error", err)
	}
	setFault("")
	if n := restarts(func() {
		if err := reboot.Do(ctx, env, orig(boot)); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("%d restarts of a host not restarted since the record; want 1", n)
	}
	// The host goes down under shutdown.exe and its answer never comes: Do takes the restart as requested
	// (ErrSessionLost) and Verify finds the new boot time.
	if err := reboot.Verify(ctx, env, orig(boot)); err != nil {
		t.Fatal(err)
	}
	if boot, err = env.Ex.LastBootUpTime(ctx); err != nil {
		t.Fatal(err)
	}
	setFault("restart_reply_lost")
	if n := restarts(func() {
		if err := reboot.Do(ctx, env, orig(boot)); err != nil {
			t.Fatalf("Do with the restart's answer lost: %v; want the restart taken as requested", err)
		}
	}); n != 1 {
		t.Errorf("%d restarts; want 1", n)
	}
	setFault("")
	if err := reboot.Verify(ctx, env, orig(boot)); err != nil {
		t.Errorf("Verify after a restart whose answer was lost: %v", err)
	}
}

// sleepHook is a virtualClock that runs hook at its first Sleep: something the server does while a step
// waits.
type sleepHook struct {
	virtualClock
	hook func()
	done bool
}

func (c *sleepHook) Sleep(ctx context.Context, d time.Duration) bool {
	if !c.done {
		c.done = true
		c.hook()
	}
	return c.virtualClock.Sleep(ctx, d)
}

// TestServicesUpWaits: after an update the patch undo waits for the Exchange services — a service that
// starts while it waits lets the reverse go on — and holds the server in maintenance only once
// reboot_timeout has passed with one still down, naming it.
func TestServicesUpWaits(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	ex := simtest.Client(t, simtest.Endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute})
	stop := func() {
		t.Helper()
		if err := sim.InjectFault(exchsim.Fault{Kind: "service_stops", Server: "EX03", Target: "MSExchangeIS"}); err != nil {
			t.Fatal(err)
		}
		if err := ex.RestartService(t.Context(), "MSExchangeIS"); err != nil {
			t.Fatal(err)
		}
		if err := sim.ClearFaults(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() {
		if err := ex.RestartService(t.Context(), "MSExchangeIS"); err != nil {
			t.Error(err)
		}
	}
	s := Settings{PollInterval: time.Second, RebootTimeout: time.Minute, Services: []string{"MSExchangeIS", "MSExchangeTransport"}}.WithDefaults()
	env := func(c Clock) *Env {
		return &Env{Ex: ex, Target: Target{Server: "EX03"}, Settings: s, Clock: c, Logger: slog.New(slog.DiscardHandler), Observer: NopObserver{}}
	}
	stop()
	clock := &sleepHook{virtualClock: virtualClock{now: time.Unix(0, 0)}, hook: start}
	if err := exchangeServicesUp(t.Context(), env(clock)); err != nil {
		t.Errorf("the service started while the undo waited: %v; want nil", err)
	}
	if !clock.done || clock.now.Sub(time.Unix(0, 0)) != time.Second {
		t.Errorf("waited %v (hook ran: %v); want one poll", clock.now.Sub(time.Unix(0, 0)), clock.done)
	}
	stop()
	vc := &virtualClock{now: time.Unix(0, 0)}
	err := exchangeServicesUp(t.Context(), env(vc))
	var hold *HoldError
	if !errors.As(err, &hold) || !strings.Contains(err.Error(), "MSExchangeIS") || strings.Contains(err.Error(), "MSExchangeTransport") {
		t.Errorf("a service that stays down: %v; want a HoldError naming MSExchangeIS only", err)
	}
	if waited := vc.now.Sub(time.Unix(0, 0)); waited != time.Minute {
		t.Errorf("held after %v; want reboot_timeout (1m) of waiting", waited)
	}
}
