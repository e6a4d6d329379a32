package exchange_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/sentinel"
)

// TestBeforeWriteRefuses: a refusal from Options.BeforeWrite stops a state-changing operation before it is
// sent, once (never retried), with the cause in the error chain; reads are not asked.
func TestBeforeWriteRefuses(t *testing.T) {
	sim := startSim(t, simOptions{})
	const deposed = sentinel.Error("deposed")
	calls, refuse := 0, true
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{BeforeWrite: func(context.Context) error {
		calls++
		if refuse {
			return deposed
		}
		return nil
	}})
	if _, err := c.ComponentStates(t.Context(), "EX01"); err != nil {
		t.Fatalf("a read with BeforeWrite refusing: %v", err)
	}
	if calls != 0 {
		t.Fatalf("BeforeWrite asked %d times for a read", calls)
	}
	err := c.SetComponentState(t.Context(), "EX01", "HubTransport", "Draining", "Maintenance")
	if !errors.Is(err, deposed) || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("refused write: %v; want the cause and 'not sent'", err)
	}
	if calls != 1 {
		t.Errorf("BeforeWrite asked %d times; a refusal must not be retried", calls)
	}
	if ch := sim.Org().Changes(); len(ch) != 0 {
		t.Fatalf("a refused write reached exchsim: %+v", ch)
	}
	refuse = false
	if err := c.SetComponentState(t.Context(), "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatalf("write once allowed: %v", err)
	}
	if ch := sim.Org().Changes(); len(ch) != 1 || ch[0].Cmdlet != "Set-ServerComponentState" {
		t.Fatalf("changes after the allowed write: %+v", ch)
	}
}
