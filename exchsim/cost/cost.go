// Package cost is exchsim's cost profile: how long the simulated network, WinRM service, powershell.exe and
// Exchange snap-in take, so that benchmarks of exmaintd's client measure something realistic and tests can
// run at zero cost.
package cost

import (
	"context"
	"time"
)

// Profile is the simulated cost of each layer. The zero value costs nothing (fast tests).
type Profile struct {
	// RTT is added to every HTTP request to the WinRM listener (network round trip plus HTTP.sys).
	RTT time.Duration `toml:"rtt"`
	// ShellCreate is the extra time of a Create (winrshost.exe start).
	ShellCreate time.Duration `toml:"shell_create"`
	// PowerShellStart is the start-up time of powershell.exe before the first statement runs.
	PowerShellStart time.Duration `toml:"powershell_start"`
	// SnapinLoad is the time of Add-PSSnapin for the Exchange snap-in (or RemoteExchange.ps1 +
	// Connect-ExchangeServer), paid once per powershell.exe.
	SnapinLoad time.Duration `toml:"snapin_load"`
	// Cmdlet is the time of each Exchange cmdlet invocation.
	Cmdlet time.Duration `toml:"cmdlet"`
	// RunspaceOpen is the time Exchange's remote PowerShell endpoint takes to open a runspace pool (the
	// Microsoft.Exchange configuration loads the user's RBAC role entries and cmdlets).
	RunspaceOpen time.Duration `toml:"runspace_open"`
}

// Pay waits d, the simulated cost of an operation, unless ctx ends first; it reports whether the whole
// cost was paid (false: the caller was cancelled and should stop).
func Pay(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Realistic is a profile in the range of a healthy LAN-connected Exchange 2019 server (see BENCHMARKS.md for
// where the numbers come from and how sensitive the results are to them).
func Realistic() Profile {
	return Profile{
		RTT:             time.Millisecond,
		ShellCreate:     50 * time.Millisecond,
		PowerShellStart: 400 * time.Millisecond,
		SnapinLoad:      3 * time.Second,
		Cmdlet:          20 * time.Millisecond,
		RunspaceOpen:    2500 * time.Millisecond,
	}
}
