package exchange_test

import (
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

func TestRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want, err string }{
		{"Version 15.2 (Build 2562.17)", "SE", ""},
		{"Version 15.2 (Build 2562.27)", "SE", ""},
		{"Version 15.2 (Build 2561.9)", "2019", ""},
		{"Version 15.2 (Build 1748.10)", "2019", ""},
		{"Version 15.1 (Build 2507.6)", "2016", ""},
		{"Version 15.0 (Build 1497.2)", "2013", ""},
		{" Version 15.2 (Build 2562.17) ", "SE", ""},
		{"Version 14.3 (Build 123.4)", "", "not a release"},
		{"15.2.2562.17", "", "want"},
		{"", "", "want"},
	} {
		got, err := exchange.Release(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Release(%q) = %q, %v; want %q, error containing %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

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
			ep := simtest.Via(t, sim, endpoint(t, sim, "EX01", exchange.AuthNTLM), "EX02", "EX03")
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
		})
	}
}
