package org

import (
	"testing"
	"time"
)

func (h *harness) pam() string {
	h.t.Helper()
	return h.run("EX12", "[string](Get-DatabaseAvailabilityGroup -Identity 'DAG02' -Status).PrimaryActiveManager")
}

func (h *harness) unplannedPAM() int {
	h.t.Helper()
	h.org.mu.Lock()
	defer h.org.mu.Unlock()
	return h.org.dags["DAG02"].unplannedPAM
}

// TestPAMFollowsTheCoreGroup: the core group's owner is the PAM; a paused node cannot take it; moving it
// to an Up node moves the PAM; a reboot of the owner forces a failover, which is counted.
func TestPAMFollowsTheCoreGroup(t *testing.T) {
	h := newHarness(t, "dag3")
	if got := h.pam(); got != "EX11" {
		t.Fatalf("PAM = %q, want the first member EX11", got)
	}
	if got := h.run("EX11", "[string](Get-ClusterGroup -Name 'Cluster Group').OwnerNode"); got != "EX11" {
		t.Errorf("core group owner = %q, want EX11", got)
	}
	if got := h.run("EX11", "(Get-DatabaseAvailabilityGroup -Identity 'DAG02').PrimaryActiveManager -eq $null"); got != "true" {
		t.Errorf("PrimaryActiveManager without -Status = %q, want $null", got)
	}
	h.run("EX11", "Suspend-ClusterNode -Name 'EX12'")
	h.fails("EX11", "Move-ClusterGroup -Name 'Cluster Group' -Node 'EX12'", "The cluster node is paused")
	h.fails("EX11", "Move-ClusterGroup -Name 'Cluster Group' -Node 'EX99'", "was not found")
	h.run("EX11", "Move-ClusterGroup -Name 'Cluster Group' -Node 'EX13' | Out-Null")
	if got := h.pam(); got != "EX13" {
		t.Errorf("PAM after the move = %q, want EX13", got)
	}
	if h.unplannedPAM() != 0 {
		t.Error("a planned move counted as unplanned")
	}
	h.run("EX13", "Restart-Computer -Force")
	if got := h.pam(); got != "EX11" {
		t.Errorf("PAM after its owner rebooted = %q, want EX11 (EX12 is paused)", got)
	}
	if h.unplannedPAM() != 1 {
		t.Errorf("unplanned PAM failovers = %d, want 1", h.unplannedPAM())
	}
}

func TestWitnessInvalid(t *testing.T) {
	h := newHarness(t, "dag3")
	const q = "[string](Get-DatabaseAvailabilityGroup -Identity 'DAG02' -Status).WitnessShareInUse"
	if got := h.run("EX11", q); got != "Primary" {
		t.Errorf("WitnessShareInUse = %q, want Primary", got)
	}
	if err := h.org.InjectFault(Fault{Kind: "witness_invalid", Target: "DAG99"}); err == nil {
		t.Error("witness_invalid on an unknown DAG accepted")
	}
	if err := h.org.InjectFault(Fault{Kind: "witness_invalid", Target: "DAG02"}); err != nil {
		t.Fatal(err)
	}
	if got := h.run("EX11", q); got != "InvalidConfiguration" {
		t.Errorf("WitnessShareInUse under witness_invalid = %q", got)
	}
}

// TestMoveNowIsAsynchronous: Set-MailboxServer returns with the databases still mounted; Active Manager moves
// them one after another; under move_suppressed the background moves do not happen and the explicit move is
// refused as often as the fault says, with the exception's name.
func TestMoveNowIsAsynchronous(t *testing.T) {
	h := newHarness(t, "dag2")
	mounted := "@(Get-MailboxDatabaseCopyStatus -Server 'EX01' | Where-Object { $_.Status -eq 'Mounted' }).Count"
	h.run("EX01", "Set-MailboxServer -Identity 'EX01' -DatabaseCopyActivationDisabledAndMoveNow $true")
	if got := h.run("EX01", mounted); got != "2" {
		t.Errorf("mounted right after MoveNow = %s, want 2 (the moves are not done yet)", got)
	}
	h.clock.Advance(300 * time.Millisecond)
	if got := h.run("EX01", mounted); got != "1" {
		t.Errorf("mounted after one move time = %s, want 1", got)
	}
	h.clock.Advance(300 * time.Millisecond)
	if got := h.run("EX01", mounted); got != "0" {
		t.Errorf("mounted after two move times = %s, want 0", got)
	}

	h = newHarness(t, "dag2")
	if err := h.org.InjectFault(Fault{Kind: "move_suppressed", Server: "EX01", Target: "x"}); err == nil {
		t.Error("move_suppressed with a non-numeric target accepted")
	}
	if err := h.org.InjectFault(Fault{Kind: "move_suppressed", Server: "EX01", Target: "2"}); err != nil {
		t.Fatal(err)
	}
	h.run("EX01", "Set-MailboxServer -Identity 'EX01' -DatabaseCopyActivationDisabledAndMoveNow $true")
	h.clock.Advance(time.Second)
	if got := h.run("EX01", mounted); got != "2" {
		t.Errorf("mounted after suppressed background moves = %s, want 2", got)
	}
	h.fails("EX01", "Move-ActiveMailboxDatabase -Identity 'DB01' -Confirm:$false", "AmDbMoveMoveSuppressedBlackoutException")
	h.fails("EX01", "Move-ActiveMailboxDatabase -Identity 'DB01' -Confirm:$false", "AmDbMoveMoveSuppressedBlackoutException")
	h.run("EX01", "Move-ActiveMailboxDatabase -Identity 'DB01' -Confirm:$false")
	if got := h.run("EX01", mounted); got != "1" {
		t.Errorf("mounted after the third attempt = %s, want 1", got)
	}
}
