package exchange_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// TestRequestersLatestWins: per requester the later of the registry (LocalStates) and AD (RemoteStates)
// entries is the current one; a requester only one side has counts.
func TestRequestersLatestWins(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	r := func(req, st string, d time.Duration) exchange.RequesterState {
		return exchange.RequesterState{Requester: req, State: st, Timestamp: t0.Add(d)}
	}
	for _, tc := range []struct {
		name          string
		local, remote []exchange.RequesterState
		want          string
	}{
		{"same on both sides", []exchange.RequesterState{r("Maintenance", "Inactive", 0)}, []exchange.RequesterState{r("Maintenance", "Inactive", 0)}, "Maintenance=Inactive"},
		{"AD newer wins", []exchange.RequesterState{r("Maintenance", "Active", 0)}, []exchange.RequesterState{r("maintenance", "Inactive", time.Hour)}, "maintenance=Inactive"},
		{"registry newer wins", []exchange.RequesterState{r("Maintenance", "Active", time.Hour)}, []exchange.RequesterState{r("Maintenance", "Inactive", 0)}, "Maintenance=Active"},
		{"only in AD", []exchange.RequesterState{r("HealthAPI", "Active", 0)}, []exchange.RequesterState{r("HealthAPI", "Active", 0), r("Maintenance", "Inactive", time.Minute)}, "HealthAPI=Active Maintenance=Inactive"},
		{"only in the registry", []exchange.RequesterState{r("Sidelined", "Inactive", 0)}, nil, "Sidelined=Inactive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			for i, x := range (exchange.ComponentState{LocalStates: tc.local, RemoteStates: tc.remote}).Requesters() {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("%s=%s", x.Requester, x.State)
			}
			if got != tc.want {
				t.Errorf("Requesters() = %q, want %q", got, tc.want)
			}
		})
	}
}
