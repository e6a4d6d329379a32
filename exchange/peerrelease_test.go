package exchange_test

import (
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// TestPeerOfAnotherRelease: a peer chosen by site (SameRelease) that runs Exchange 2019 is not used for an
// SE server's cmdlets — the next one, of the same release, is; a peer the administrator listed is used
// whatever it runs.
func TestPeerOfAnotherRelease(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{Edit: func(sc *org.Scenario) {
		for i := range sc.Servers {
			if sc.Servers[i].Name == "EX02" {
				sc.Servers[i].Version = "Version 15.2 (Build 1748.10)" // Exchange 2019 CU14
			}
		}
	}})
	for _, tc := range []struct {
		name        string
		sameRelease bool
		want        string
	}{
		{"chosen by site", true, "EX03"},
		{"listed", false, "EX02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := simtest.Via(t, sim, endpoint(t, sim, "EX01", exchange.AuthNTLM), "EX02", "EX03", "EX01")
			for i := range ep.Exchange[:2] {
				ep.Exchange[i].SameRelease = tc.sameRelease
			}
			c := newClient(t, ep, exchange.Options{})
			if _, err := c.ComponentStates(t.Context(), "EX01"); err != nil {
				t.Fatal(err)
			}
			if got := c.ExchangeVia(); got != tc.want {
				t.Errorf("cmdlets via %s; want %s", got, tc.want)
			}
			// The pool opened on the peer of another release is closed, not left open on it.
			deadline := time.Now().Add(10 * time.Second)
			for tc.sameRelease && sim.Org().ExchangeSessions("EX02") != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("EX02 still holds %d Exchange sessions after it was passed over", sim.Org().ExchangeSessions("EX02"))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
