package exchange_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// TestThroughAPeer: EX01's Exchange cmdlets run on the first of its peers' endpoints that answers — one that
// refuses connections is passed over, one in maintenance is skipped — and act on EX01; its own endpoint
// receives nothing. A peer entering maintenance gives its session up (ReleaseVia) and the next cmdlet opens
// one on the next peer; releasing another server's endpoint changes nothing.
func TestThroughAPeer(t *testing.T) {
	t.Parallel()
	sim := startSim(t, simOptions{})
	ep := simtest.Via(t, sim, endpoint(t, sim, "EX01", exchange.AuthNTLM), "EX02", "EX03")
	dead := ep.Exchange[0]
	dead.Server, dead.URL = "EX09", "http://127.0.0.1:1/PowerShell" // nothing listens on port 1
	ep.Exchange = append([]exchange.ExchangeEndpoint{dead}, ep.Exchange...)
	var busy atomic.Value
	busy.Store("")
	c := newClient(t, ep, exchange.Options{InMaintenance: func(s string) bool { return s == busy.Load().(string) }})
	sim.ResetRequests()
	read := func(want string) {
		t.Helper()
		states, err := c.ComponentStates(t.Context(), "EX01")
		if err != nil || len(states) == 0 {
			t.Fatalf("ComponentStates through a peer: %d states, %v", len(states), err)
		}
		if got := c.ExchangeVia(); got != want {
			t.Fatalf("cmdlets via %s; want %s", got, want)
		}
	}
	read("EX02")
	if err := c.ReleaseVia(t.Context(), "EX03"); err != nil {
		t.Fatal(err)
	}
	read("EX02")
	if n := c.Stats().PoolsOpened; n != 1 {
		t.Errorf("%d pools opened; releasing a server the pool is not on must keep it", n)
	}
	busy.Store("EX02")
	if err := c.ReleaseVia(t.Context(), "EX02"); err != nil {
		t.Fatal(err)
	}
	read("EX03")
	if n := c.Stats().PoolsOpened; n != 2 {
		t.Errorf("%d pools opened; want a second one, on EX03", n)
	}
	reqs := sim.ExchangeRequests()
	if reqs["EX01"] != 0 || reqs["EX02"] == 0 || reqs["EX03"] == 0 {
		t.Errorf("requests to /PowerShell %v; want none on EX01 and some on EX02 and EX03", reqs)
	}
}

// TestNoPeerAnswers: when no endpoint answers, the error names every one and why; a peer in maintenance is
// passed over, the last endpoint is not.
func TestNoPeerAnswers(t *testing.T) {
	t.Parallel()
	sim := startSim(t, simOptions{})
	ep := endpoint(t, sim, "EX01", exchange.AuthNTLM)
	ep.Exchange = []exchange.ExchangeEndpoint{
		{Server: "EX08", URL: "http://127.0.0.1:1/PowerShell", Auth: exchange.AuthNTLM, User: ep.User, Password: ep.Password, AllowUnencrypted: true},
		{Server: "EX02", URL: "http://127.0.0.1:3/PowerShell", Auth: exchange.AuthNTLM, User: ep.User, Password: ep.Password, AllowUnencrypted: true},
		// The last one (the server's own, as the configuration lists them) is tried even in maintenance.
		{Server: "EX01", URL: "http://127.0.0.1:2/PowerShell", Auth: exchange.AuthNTLM, User: ep.User, Password: ep.Password, AllowUnencrypted: true},
	}
	c := newClient(t, ep, exchange.Options{Attempts: 1, InMaintenance: func(s string) bool { return s == "EX02" || s == "EX01" }})
	_, err := c.ComponentStates(t.Context(), "EX01")
	for _, want := range []string{"no Exchange endpoint for EX01 answered", "http://127.0.0.1:1/PowerShell", "http://127.0.0.1:2/PowerShell", "not used: EX02 is in maintenance itself"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want it to say %q", err, want)
		}
	}
}

// TestReleaseOwnEndpoint: a standalone server's pool on its own endpoint is closed before its update, and
// the next cmdlet opens one again.
func TestReleaseOwnEndpoint(t *testing.T) {
	t.Parallel()
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	if _, err := c.ComponentStates(t.Context(), "EX03"); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseOwnEndpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := sim.Org().ExchangeSessions("EX03"); n != 0 {
		t.Errorf("%d sessions open on EX03's endpoint after ReleaseOwnEndpoint", n)
	}
	if _, err := c.ComponentStates(t.Context(), "EX03"); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().PoolsOpened; n != 2 || c.ExchangeVia() != "EX03" {
		t.Errorf("%d pools opened via %s; want a second one on EX03's own endpoint", n, c.ExchangeVia())
	}
}
