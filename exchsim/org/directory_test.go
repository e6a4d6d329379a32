package org

import (
	"testing"
	"time"
)

// TestADReplication: a change to EX11's AD-held settings made through EX12's endpoint is read at once
// through EX12 and, through EX13, only after Timing.ADReplication; until then EX13 reads the values from
// before it. The registry (LocalStates) is EX11's own and is read the same way from everywhere, so the
// effective component state — the later entry per requester — is right at once; an AD-only change
// (-RemoteOnly) is not.
func TestADReplication(t *testing.T) {
	h := newHarnessEdited(t, "dag3", func(sc *Scenario) { sc.Timing.ADReplication.Duration = 15 * time.Second })
	state := func(via, component string) string {
		return h.run(via, "(Get-ServerComponentState -Identity 'EX11' -Component '"+component+"').State.ToString()")
	}
	policy := func(via string) string {
		return h.run(via, "(Get-MailboxServer -Identity 'EX11').DatabaseCopyAutoActivationPolicy.ToString()")
	}
	h.run("EX12", "Set-MailboxServer -Identity 'EX11' -DatabaseCopyAutoActivationPolicy 'Blocked'")
	if got := policy("EX12"); got != "Blocked" {
		t.Errorf("through EX12, which made the change: %s", got)
	}
	if got := policy("EX13"); got != "Unrestricted" {
		t.Errorf("through EX13 before replication: %s; want the value from before, Unrestricted", got)
	}
	h.clock.Advance(14 * time.Second)
	h.run("EX12", "Set-MailboxServer -Identity 'EX11' -DatabaseCopyActivationDisabledAndMoveNow $true")
	if got := policy("EX13"); got != "Unrestricted" {
		t.Errorf("through EX13 after a second write within the lag: %s; want Unrestricted still", got)
	}
	h.clock.Advance(15 * time.Second)
	if got := policy("EX13"); got != "Blocked" {
		t.Errorf("through EX13 after replication: %s", got)
	}

	// A component: both stores by default, so the effective state is right everywhere at once.
	h.run("EX12", "Set-ServerComponentState -Identity 'EX11' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'")
	if got := state("EX13", "HubTransport"); got != "Draining" {
		t.Errorf("HubTransport through EX13 right after a write to both stores: %s", got)
	}
	// -RemoteOnly writes AD alone: EX13 reads it only after replication.
	h.clock.Advance(15 * time.Second)
	h.run("EX12", "Set-ServerComponentState -Identity 'EX11' -Component 'OwaProxy' -State 'Inactive' -Requester 'Functional' -RemoteOnly")
	if got := state("EX13", "OwaProxy"); got != "Active" {
		t.Errorf("OwaProxy through EX13 before an AD-only change replicated: %s; want Active", got)
	}
	if got := state("EX12", "OwaProxy"); got != "Inactive" {
		t.Errorf("OwaProxy through EX12: %s", got)
	}
	h.clock.Advance(15 * time.Second)
	if got := state("EX13", "OwaProxy"); got != "Inactive" {
		t.Errorf("OwaProxy through EX13 after replication: %s", got)
	}
}

// TestComponentStateTargetDown: Set-ServerComponentState run on a peer while the target reboots writes AD
// and fails for the target's registry (the harsher reading: the error does not mean nothing changed);
// -RemoteOnly, which needs AD only, succeeds; Get-ServerComponentState fails until the target is back.
func TestComponentStateTargetDown(t *testing.T) {
	h := newHarness(t, "dag3")
	h.run("EX11", "Restart-Computer -Force")
	h.fails("EX12", "Set-ServerComponentState -Identity 'EX11' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'", "unreachable")
	h.fails("EX12", "Get-ServerComponentState -Identity 'EX11'", "unreachable")
	h.run("EX12", "Set-ServerComponentState -Identity 'EX11' -Component 'OwaProxy' -State 'Inactive' -Requester 'Functional' -RemoteOnly")
	h.clock.Advance(time.Minute) // back
	state := func(component string) string {
		return h.run("EX12", "(Get-ServerComponentState -Identity 'EX11' -Component '"+component+"').State.ToString()")
	}
	if got := state("HubTransport"); got != "Draining" {
		t.Errorf("HubTransport after the failed Set: %s; want Draining (the AD entry was written)", got)
	}
	if got := state("OwaProxy"); got != "Inactive" {
		t.Errorf("OwaProxy after -RemoteOnly: %s", got)
	}
	local := h.run("EX12", "@((Get-ServerComponentState -Identity 'EX11' -Component 'HubTransport').LocalStates | Where-Object { $_.Requester -eq 'Maintenance' }).Count")
	if local != "0" {
		t.Errorf("HubTransport has %s registry entries of requester Maintenance; the registry was not reachable", local)
	}
}
