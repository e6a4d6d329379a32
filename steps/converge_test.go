package steps_test

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/steps"
)

// TestVerifyThroughAnotherPeer: block-activation writes EX01's activation settings through EX02; EX02 then
// enters maintenance, and the Verify reads through EX03, whose domain controller has the change only after
// AD replication (exchsim: 15 s). The Verify reads again until the change arrives — within
// ad_replication_wait it passes; with a shorter wait it fails and says why. (A component step reads the same
// way, but its writes reach EX01's registry too, which every peer reads: exchsim.TestADReplication.)
func TestVerifyThroughAnotherPeer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		step    string
		poll    time.Duration // poll_interval; 0: fastSettings'
		wait    time.Duration
		wantErr string
		took    time.Duration // how long the Verify read
	}{
		{"activation, replicated within the wait", "block-activation", 0, time.Minute, "", 15 * time.Second},
		{"activation, the wait too short", "block-activation", 0, 5 * time.Second, "ad_replication_wait", 5 * time.Second},
		// A poll longer than what is left of the wait: the last sleep is cut to the wait's end.
		{"a poll longer than the wait left", "block-activation", 10 * time.Second, 12 * time.Second, "ad_replication_wait", 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := modelClock{org.NewManualClock(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC))}
			h := newHarnessWith(t, simtest.Options{Clock: clock.ManualClock, Edit: func(sc *org.Scenario) { sc.Timing.ADReplication.Duration = 15 * time.Second }}, t.TempDir())
			var busy atomic.Value
			busy.Store("")
			ep := simtest.Via(t, h.sim, simtest.Endpoint(t, h.sim, "EX01", exchange.AuthNTLM), "EX02", "EX03", "EX01")
			c := simtest.Client(t, ep, exchange.Options{InMaintenance: func(s string) bool { return s == busy.Load().(string) }})
			s := fastSettings()
			s.ADReplicationWait = tc.wait
			if tc.poll > 0 {
				s.PollInterval = tc.poll
			}
			env := &steps.Env{Ex: c, Target: target("EX01"), Settings: s, Clock: clock, Logger: slog.New(slog.DiscardHandler), Observer: h.obs, Secrets: simSecrets}
			step := steps.Catalogue()[tc.step]
			orig, err := step.Record(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			if err := step.Do(t.Context(), env, orig); err != nil {
				t.Fatal(err)
			}
			if got := c.ExchangeVia(); got != "EX02" {
				t.Fatalf("the write went through %s; want EX02", got)
			}
			busy.Store("EX02")
			c.ReleaseVia("EX02")
			start := clock.Now()
			err = step.Verify(t.Context(), env, orig)
			if got := c.ExchangeVia(); got != "EX03" {
				t.Errorf("the Verify read through %s; want EX03", got)
			}
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Verify after %v: %v; want an error containing %q", clock.Now().Sub(start), err, tc.wantErr)
			}
			if took := clock.Now().Sub(start); took < tc.took || took > tc.took+s.PollInterval/2 {
				t.Errorf("the Verify read for %v; want %v", took, tc.took)
			}
		})
	}
}
