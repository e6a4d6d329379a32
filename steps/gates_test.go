package steps_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/steps"
)

// stoppedClock is a clock whose time does not pass unless Sleep is called: the time-left gate can then be
// checked at its exact boundary.
type stoppedClock struct{ now time.Time }

func (c *stoppedClock) Now() time.Time { return c.now }
func (c *stoppedClock) Sleep(ctx context.Context, d time.Duration) bool {
	c.now = c.now.Add(d)
	return ctx.Err() == nil
}

// TestGateBoundaries: the queue limit and the time left are inclusive bounds (exactly the limit passes,
// one message or one second more fails), and each reason names the numbers.
func TestGateBoundaries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings())
	qs, err := env.Ex.Queues(t.Context(), "EX01")
	if err != nil {
		t.Fatal(err)
	}
	active := exchange.SummarizeQueues(qs).Active
	if active < 1 {
		t.Fatalf("the scenario has %d active messages on EX01; the test needs some", active)
	}
	clock := &stoppedClock{now: time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)}
	env.Clock = clock
	opts := steps.PreGateOptions{DAGMembers: []string{"EX01", "EX02"}, Deadline: clock.now.Add(time.Hour), Estimate: time.Hour, All: true}
	for _, tc := range []struct {
		name     string
		queueMax int64
		estimate time.Duration
		want     string // "" when every gate passes
	}{
		{"queue at the limit, estimate = time left", active, time.Hour, ""},
		{"one message over", active - 1, time.Hour, fmt.Sprintf("gate queues failed: %d messages queued (limit %d)", active, active-1)},
		{"one second short", active, time.Hour + time.Second, "gate time_left failed: 1h0m0s left in the window, this server needs about 1h0m1s"},
	} {
		env.Settings.QueueMax = tc.queueMax
		o := opts
		o.Estimate = tc.estimate
		err := steps.CheckPreGates(t.Context(), env, o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

// TestRedundancyQueueBounds: a partner copy counts as redundancy only with its queues strictly under the
// limits (CheckDatabaseRedundancy.ps1's CQ < 10, RQ < 50): at exactly the limit it does not.
func TestRedundancyQueueBounds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings())
	copies, err := env.Ex.CopyStatus(t.Context(), "EX02")
	if err != nil {
		t.Fatal(err)
	}
	var cq, rq int64
	for _, c := range copies {
		cq, rq = max(cq, c.CopyQueueLength), max(rq, c.ReplayQueueLength)
	}
	for _, tc := range []struct {
		name         string
		cqMax, rqMax int64
		fails        bool
	}{
		{"queues one under the limits", cq + 1, rq + 1, false},
		{"copy queue at its limit", cq, rq + 1, true},
		{"replay queue at its limit", cq + 1, rq, true},
	} {
		env.Settings.CopyQueueMax, env.Settings.ReplayQueueMax = tc.cqMax, tc.rqMax
		err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{DAGMembers: []string{"EX01", "EX02"}, All: true})
		if failed := err != nil && strings.Contains(err.Error(), "gate redundancy failed"); failed != tc.fails {
			t.Errorf("%s (CQ %d, RQ %d; limits %d, %d): redundancy failed %v; want %v (%v)", tc.name, cq, rq, tc.cqMax, tc.rqMax, failed, tc.fails, err)
		}
	}
}

// TestGateReadErrors: a read a gate needs fails (the cmdlet errors) → that gate reports it could not be
// checked, never passes on what it could not read.
func TestGateReadErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cmdlet, gate string }{
		{"Get-ExchangeServer", "permissions"},
		{"Get-ServerComponentState", "permissions"},
		{"Get-Queue", "queues"},
		{"Get-MailboxDatabase", "copies"},
		{"Get-MailboxDatabaseCopyStatus", "copies"},
	} {
		t.Run(tc.cmdlet, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			settings := fastSettings()
			settings.TransportBootTimeout = 500 * time.Millisecond // Get-Queue errors are retried while transport boots
			env := h.env(t, "EX01", settings)
			// Aimed at EX01, a fault fires wherever EX01's cmdlets run; Get-ExchangeServer names no server, so
			// it fails everywhere.
			server := "EX01"
			if tc.cmdlet == "Get-ExchangeServer" {
				server = ""
			}
			if err := h.sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Target: tc.cmdlet, Server: server}); err != nil {
				t.Fatal(err)
			}
			err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{DAGMembers: []string{"EX01", "EX02"}, All: true})
			if want := "gate " + tc.gate + " could not be checked"; err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("with %s failing: %v; want %q", tc.cmdlet, err, want)
			}
		})
	}
}

// TestNonReplicatedDatabaseOnADAGMember: a database with one copy on a DAG member goes down with the
// server, so the redundancy gate refuses the server while such a database holds mailboxes — and only then:
// an empty one (a new database, not yet in use) does not stop the window, nor does a recovery database.
func TestNonReplicatedDatabaseOnADAGMember(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		db   org.DatabaseSpec
		want string // "" when the gate passes
	}{
		{"holds mailboxes", org.DatabaseSpec{Name: "DB04", Copies: []string{"EX01"}, Mailboxes: 5}, "non-replicated database DB04 holds mailboxes"},
		{"empty", org.DatabaseSpec{Name: "DB04", Copies: []string{"EX01"}}, ""},
		{"recovery database", org.DatabaseSpec{Name: "RDB01", Copies: []string{"EX01"}, Mailboxes: 5, Recovery: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessWith(t, simtest.Options{Edit: func(sc *org.Scenario) { sc.Databases = append(sc.Databases, tc.db) }}, t.TempDir())
			env := h.env(t, "EX01", fastSettings())
			err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{DAGMembers: []string{"EX01", "EX02"}, All: true})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("gates refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("gates: %v; want %q", err, tc.want)
			}
		})
	}
}

// TestCopyGateDismountedDatabase: a database that is mounted nowhere fails the copy gate (its users have no
// mailbox), even when every copy reports healthy queues: the gate reads the databases, not only the copies.
func TestCopyGateDismountedDatabase(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	env := h.env(t, "EX03", fastSettings())
	if err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{SkipRedundant: true, All: true}); err != nil {
		t.Fatalf("gates before the dismount: %v", err)
	}
	if err := env.Ex.DismountDatabase(t.Context(), "DB10"); err != nil {
		t.Fatal(err)
	}
	err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{SkipRedundant: true, All: true})
	if err == nil || !strings.Contains(err.Error(), "database DB10 is not mounted anywhere") {
		t.Errorf("gates with DB10 dismounted: %v; want DB10 named", err)
	}
}
