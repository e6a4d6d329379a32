package org

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

type harness struct {
	t       *testing.T
	org     *Org
	rt      *ps.Runtime
	clock   *ManualClock
	mu      sync.Mutex
	reboots []string
}

func newHarness(t *testing.T, scenario string) *harness {
	t.Helper()
	return newHarnessEdited(t, scenario, nil)
}

// newHarnessEdited is newHarness with the scenario changed by edit first.
func newHarnessEdited(t *testing.T, scenario string, edit func(*Scenario)) *harness {
	t.Helper()
	sc, err := BuiltinScenario(scenario)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(sc)
	}
	h := &harness{t: t, clock: NewManualClock(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC))}
	h.org, err = New(sc, Options{Clock: h.clock, OnReboot: func(s string, _ time.Duration) {
		h.mu.Lock()
		h.reboots = append(h.reboots, s)
		h.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.rt = ps.NewRuntime(ps.Options{Cmdlets: h.org.Cmdlets(), Now: h.clock.Now, Mutex: h.org.Mutex})
	return h
}

// run evaluates script on host with $ErrorActionPreference = 'Stop' and returns the collapsed output as text.
func (h *harness) run(host, script string) string {
	h.t.Helper()
	out, err := h.rt.Eval(context.Background(), host, "$ErrorActionPreference = 'Stop'\n"+script)
	if err != nil {
		h.t.Fatalf("%s: %s: %v", host, script, err)
	}
	parts := make([]string, len(out))
	for i, o := range out {
		parts[i] = ps.ConvertToJSON(o, 1, true)
		if s, ok := o.(string); ok {
			parts[i] = s
		}
	}
	return strings.Join(parts, " ")
}

func (h *harness) fails(host, script, want string) {
	h.t.Helper()
	_, err := h.rt.Eval(context.Background(), host, "$ErrorActionPreference = 'Stop'\n"+script)
	if err == nil || !strings.Contains(err.Error(), want) {
		h.t.Fatalf("%s: err = %v, want %q", script, err, want)
	}
}

func (h *harness) state(server, component string) string {
	return h.run(server, "(Get-ServerComponentState -Identity '"+server+"' -Component '"+component+"').State.ToString()")
}

func (h *harness) activeQueue(server string) string {
	return h.run(server, "$n = 0; Get-Queue -Server '"+server+"' | Where-Object { $_.DeliveryType -ne 'ShadowRedundancy' -and $_.NextHopDomain -ne 'Poison Message' } | ForEach-Object { [long]$_.MessageCount }")
}

func TestComponentStates(t *testing.T) {
	h := newHarness(t, "dag2")
	if got := h.state("EX01", "ForwardSyncDaemon"); got != "Inactive" {
		t.Errorf("ForwardSyncDaemon is Inactive by design, got %s", got)
	}
	h.run("EX01", "Set-ServerComponentState -Identity 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'")
	if got := h.state("EX01", "HubTransport"); got != "Draining" {
		t.Errorf("HubTransport = %s", got)
	}
	// Inactive wins: another requester's Inactive is not undone by Maintenance's Active.
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'HubTransport' -State 'Inactive' -Requester 'Functional'")
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'HubTransport' -State 'Active' -Requester 'Maintenance'")
	if got := h.state("EX01", "HubTransport"); got != "Inactive" {
		t.Errorf("Inactive from Functional must win, got %s", got)
	}
	// ServerWideOffline overrides all but Monitoring and RecoveryActionsEnabled.
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'ServerWideOffline' -State 'Inactive' -Requester 'Maintenance'")
	for comp, want := range map[string]string{"OwaProxy": "Inactive", "Monitoring": "Active", "RecoveryActionsEnabled": "Active"} {
		if got := h.state("EX01", comp); got != want {
			t.Errorf("%s under SWO Inactive = %s, want %s", comp, got, want)
		}
	}
	h.fails("EX01", "Set-ServerComponentState 'EX01' -Component 'MailboxDelivery' -State 'Draining' -Requester 'Maintenance'", "is not a valid server component")
	h.fails("EX01", "Set-ServerComponentState 'EX01' -Component 'OwaProxy' -State 'Draining' -Requester 'Maintenance'", "only valid for HubTransport")
	h.fails("EX01", "Get-ServerComponentState -Identity 'EX09'", "couldn't be found")
}

func TestDrainStartsAfterTransportRestart(t *testing.T) {
	h := newHarness(t, "dag2")
	if got := h.activeQueue("EX01"); got != "2 40" {
		t.Fatalf("initial queues %q", got)
	}
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'")
	h.clock.Advance(10 * time.Second)
	if got := h.activeQueue("EX01"); got != "2 40" {
		t.Errorf("queues drained before the transport restart: %q", got)
	}
	h.run("EX01", "Restart-Service -Name 'MSExchangeTransport'")
	h.clock.Advance(500 * time.Millisecond)
	if got := h.activeQueue("EX01"); got != "" {
		t.Errorf("Get-Queue right after a transport restart must be empty (unknown), got %q", got)
	}
	h.clock.Advance(time.Second) // 40 msg/s: 60 messages' worth
	if got := h.activeQueue("EX01"); got != "0" {
		t.Errorf("after 1.5s at 40/s: %q, want only an empty Submission queue", got)
	}
	if got := h.run("EX01", "@(Get-Queue -Server 'EX01' | Where-Object { $_.DeliveryType -eq 'ShadowRedundancy' }).Count"); got != "1" {
		t.Errorf("shadow queue must stay: %s", got)
	}
}

func TestRedirectMovesOnlyActive(t *testing.T) {
	h := newHarness(t, "dag2")
	h.fails("EX01", "Redirect-Message -Server 'EX01' -Target 'EX02' -Confirm:$false", "fully qualified")
	h.run("EX01", "Redirect-Message -Server 'EX01' -Target 'ex02.exlab.local' -Confirm:$false")
	if got := h.activeQueue("EX01"); got != "0" {
		t.Errorf("EX01 after redirect: %q", got)
	}
	if got := h.activeQueue("EX02"); got != "0 54" {
		t.Errorf("EX02 after redirect: %q (12 + 42 moved)", got)
	}
}

func TestMovesRespectHealthAndBlocked(t *testing.T) {
	h := newHarness(t, "dag2")
	// MoveNow moves EX01's actives (DB01, DB02) to EX02.
	h.run("EX01", "Set-MailboxServer -Identity 'EX01' -DatabaseCopyAutoActivationPolicy 'Blocked'; Set-MailboxServer -Identity 'EX01' -DatabaseCopyActivationDisabledAndMoveNow $true")
	h.clock.Advance(time.Second) // the moves run in the background
	if got := h.run("EX01", "@(Get-MailboxDatabaseCopyStatus -Server 'EX01' | Where-Object { $_.Status -eq 'Mounted' }).Count"); got != "0" {
		t.Errorf("mounted copies left on EX01: %s", got)
	}
	// EX01 is Blocked: nothing may move to it.
	h.fails("EX02", "Move-ActiveMailboxDatabase -Server 'EX02' -Confirm:$false", "no healthy copy")
	// A failed copy is not a target either.
	h.run("EX01", "Set-MailboxServer -Identity 'EX01' -DatabaseCopyAutoActivationPolicy 'Unrestricted'")
	if err := h.org.InjectFault(Fault{Kind: "copy_failure", Server: "EX01", Target: "DB03"}); err != nil {
		t.Fatal(err)
	}
	h.fails("EX02", "Move-ActiveMailboxDatabase -Identity 'DB03' -ActivateOnServer 'EX01' -Confirm:$false", "no healthy copy")
}

func TestDismountIsAnOutageOnADAG(t *testing.T) {
	h := newHarness(t, "dag2")
	h.run("EX02", "Dismount-Database -Identity 'DB01' -Confirm:$false") // run from EX02: DB01 is active on EX01
	if got := h.run("EX01", "(Get-MailboxDatabase -Identity 'DB01' -Status).Mounted"); got != "false" {
		t.Errorf("DB01 mounted = %s after Dismount-Database: the active copy must go down wherever it is", got)
	}
}

func TestRebootKeepsStateAndMovesBootTime(t *testing.T) {
	h := newHarness(t, "dag2")
	before := h.run("EX01", "(Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o')")
	h.run("EX01", "Suspend-ClusterNode -Name 'EX01'; Set-MailboxServer -Identity 'EX01' -DatabaseCopyAutoActivationPolicy 'Blocked'; Restart-Computer -Force")
	if len(h.reboots) != 1 || h.reboots[0] != "EX01" {
		t.Fatalf("OnReboot calls: %v", h.reboots)
	}
	if got := h.run("EX02", "@(Get-MailboxDatabaseCopyStatus -Server 'EX02' | Where-Object { $_.Status -eq 'Mounted' }).Count"); got != "4" {
		t.Errorf("actives must fail over to EX02 before the reboot, EX02 mounts %s", got)
	}
	h.clock.Advance(5 * time.Second)
	after := h.run("EX01", "(Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o')")
	if after == before {
		t.Errorf("LastBootUpTime did not move: %s", after)
	}
	if got := h.run("EX01", "(Get-ClusterNode -Name 'EX01').State.ToString()"); got != "Paused" {
		t.Errorf("cluster pause must survive a reboot, node is %s", got)
	}
	if got := h.run("EX01", "(Get-MailboxServer 'EX01').DatabaseCopyAutoActivationPolicy.ToString()"); got != "Blocked" {
		t.Errorf("policy must survive a reboot: %s", got)
	}
}

// TestMicrosoftProcedureRoundTrip enters and exits maintenance with Microsoft's DAG procedure, restoring the
// recorded values, and checks the organisation is back where it started.
func TestMicrosoftProcedureRoundTrip(t *testing.T) {
	h := newHarness(t, "dag2")
	initial := h.org.Snapshot()
	enter := []string{
		"Set-ServerComponentState -Identity 'EX02' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'",
		"Restart-Service -Name 'MSExchangeTransport'",
		"Redirect-Message -Server 'EX02' -Target 'ex01.exlab.local' -Confirm:$false",
		"Suspend-ClusterNode -Name 'EX02'",
		"Set-MailboxServer -Identity 'EX02' -DatabaseCopyActivationDisabledAndMoveNow $true",
		"Set-MailboxServer -Identity 'EX02' -DatabaseCopyAutoActivationPolicy 'Blocked'",
		"Set-ServerComponentState -Identity 'EX02' -Component 'HighAvailability' -State 'Inactive' -Requester 'Maintenance'",
		"Set-ServerComponentState -Identity 'EX02' -Component 'ServerWideOffline' -State 'Inactive' -Requester 'Maintenance'",
	}
	for _, s := range enter {
		h.run("EX02", s)
	}
	h.clock.Advance(2 * time.Second)
	if got := h.activeQueue("EX02"); got != "0" {
		t.Errorf("queues on EX02 in maintenance: %q", got)
	}
	if d := initial.Equivalent(h.org.Snapshot()); len(d) == 0 {
		t.Fatal("entering maintenance changed nothing")
	}
	exit := []string{
		"Set-ServerComponentState -Identity 'EX02' -Component 'ServerWideOffline' -State 'Active' -Requester 'Maintenance'",
		"Set-ServerComponentState -Identity 'EX02' -Component 'HighAvailability' -State 'Active' -Requester 'Maintenance'",
		"Set-MailboxServer -Identity 'EX02' -DatabaseCopyAutoActivationPolicy 'IntrasiteOnly'", // the recorded value
		"Set-MailboxServer -Identity 'EX02' -DatabaseCopyActivationDisabledAndMoveNow $false",
		"Resume-ClusterNode -Name 'EX02'",
		"Set-ServerComponentState -Identity 'EX02' -Component 'HubTransport' -State 'Active' -Requester 'Maintenance'",
		"Restart-Service -Name 'MSExchangeTransport'",
		"Move-ActiveMailboxDatabase -Identity 'DB03' -ActivateOnServer 'EX02' -Confirm:$false",
		"Move-ActiveMailboxDatabase -Identity 'DB04' -ActivateOnServer 'EX02' -Confirm:$false",
	}
	for _, s := range exit {
		h.run("EX02", s)
	}
	if d := initial.Equivalent(h.org.Snapshot()); len(d) != 0 {
		t.Errorf("not back to the initial state:\n%s", strings.Join(d, "\n"))
	}
}

func TestScenarios(t *testing.T) {
	for _, name := range BuiltinScenarioNames() {
		if _, err := BuiltinScenario(name); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
	tests := []struct{ name, toml, want string }{
		{"unknown key", "[[server]]\nname = 'EX01'\nsize = 3\n", `unknown key "server.size"`},
		{"bad policy", "[[server]]\nname = 'EX01'\nactivation_policy = 'Sometimes'\n", `activation_policy "Sometimes"`},
		{"unknown dag", "[[server]]\nname = 'EX01'\ndag = 'X'\n", `dag "X" is not defined`},
		{"copy on unknown server", "[[server]]\nname = 'EX01'\n[[database]]\nname = 'DB1'\ncopies = ['EX09']\n", `copy on unknown server "EX09"`},
		{"bad duration", "[timing]\nreboot = 'soon'\n[[server]]\nname = 'EX01'\n", `invalid duration "soon"`},
		{"no servers", "name = 'x'\n", "at least one [[server]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tt.toml), "test.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := BuiltinScenario("nope"); err == nil || !strings.Contains(err.Error(), "dag2") {
		t.Errorf("unknown built-in: %v", err)
	}
}

func TestCmdletErrorFault(t *testing.T) {
	h := newHarness(t, "dag2")
	if err := h.org.InjectFault(Fault{Kind: "cmdlet_error", Server: "EX01", Target: "Get-Queue", Message: "The Microsoft Exchange Transport service is not running."}); err != nil {
		t.Fatal(err)
	}
	h.fails("EX01", "Get-Queue", "Transport service is not running")
	h.org.ClearFaults()
	h.run("EX01", "Get-Queue | Out-Null")
	if err := h.org.InjectFault(Fault{Kind: "bogus"}); err == nil {
		t.Error("unknown fault kind accepted")
	}
}

func FuzzParseScenario(f *testing.F) {
	for _, name := range BuiltinScenarioNames() {
		data, _ := builtinFS.ReadFile("scenarios/" + name + ".toml")
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario(data, "fuzz")
		if err != nil {
			return
		}
		if _, err := New(sc, Options{Clock: NewManualClock(time.Unix(0, 0))}); err != nil {
			t.Fatalf("a scenario that parses must build: %v", err)
		}
	})
}

func encodeUTF16(s string) string {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestDetachedJob runs the patch the way docs/powershell-dialect.md describes: start, poll until the exit
// file appears, read exit code and log; a reboot kills a running job but keeps finished files.
func TestDetachedJob(t *testing.T) {
	h := newHarness(t, "dag2")
	job := "# exmaintd-job/1 patch-1\n$ErrorActionPreference = 'Stop'\n"
	start := "$p = Start-Process -FilePath 'powershell.exe' -ArgumentList @('-NoProfile', '-NonInteractive', '-EncodedCommand', '" + encodeUTF16(job) + "') -PassThru -WindowStyle Hidden\nConvertTo-Json -Compress -InputObject @{ Id = [long]$p.Id }"
	out := h.run("EX01", start)
	var started struct{ Id int64 }
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.Id == 0 {
		t.Fatalf("start: %s %v", out, err)
	}
	poll := fmt.Sprintf(`ConvertTo-Json -Compress -InputObject @{ Running = [bool](Get-Process -Id %d -ErrorAction SilentlyContinue); Exit = $(if (Test-Path -Path 'C:\ProgramData\exmaintd\jobs\patch-1.exit') { [string](Get-Content -Raw -Path 'C:\ProgramData\exmaintd\jobs\patch-1.exit') } else { $null }) }`, started.Id)
	if got := h.run("EX01", poll); got != `{"Running":true,"Exit":null}` {
		t.Errorf("running: %s", got)
	}
	h.clock.Advance(time.Hour)
	if got := h.run("EX01", poll); got != `{"Running":false,"Exit":"0\r\n"}` {
		t.Errorf("done: %s", got)
	}
	h.fails("EX01", "Start-Process -FilePath 'notepad.exe' -PassThru", "only for exmaintd jobs")
	// A job running when the host reboots is lost: no exit file, not running.
	h.run("EX01", strings.Replace(start, encodeUTF16(job), encodeUTF16(strings.Replace(job, "patch-1", "patch-2", 1)), 1))
	h.run("EX01", "Restart-Computer -Force")
	h.clock.Advance(time.Hour)
	if got := h.run("EX01", "Test-Path -Path 'C:\\ProgramData\\exmaintd\\jobs\\patch-2.exit'"); got != "false" {
		t.Errorf("job survived the reboot: %s", got)
	}
	if got := h.run("EX01", "Test-Path -Path 'C:\\ProgramData\\exmaintd\\jobs\\patch-1.exit'"); got != "true" {
		t.Errorf("finished files must survive the reboot: %s", got)
	}
}

func TestBuiltinScenarioShapes(t *testing.T) {
	tests := []struct {
		name            string
		servers, dags   int
		standaloneFirst string
	}{{"dag2", 2, 1, ""}, {"dag3", 3, 1, ""}, {"standalone", 1, 0, "EX03"}, {"demo", 3, 1, "EX03"}, {"org50", 50, 5, "EX041"}, {"dag3lag", 3, 1, ""}}
	for _, tt := range tests {
		sc, err := BuiltinScenario(tt.name)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(sc.Servers) != tt.servers || len(sc.DAGs) != tt.dags {
			t.Errorf("%s: %d servers %d DAGs, want %d %d", tt.name, len(sc.Servers), len(sc.DAGs), tt.servers, tt.dags)
		}
		first := ""
		for _, s := range sc.Servers {
			if s.DAG == "" {
				first = s.Name
				break
			}
		}
		if first != tt.standaloneFirst {
			t.Errorf("%s: first standalone %q, want %q", tt.name, first, tt.standaloneFirst)
		}
	}
}

func TestLoadScenarioFile(t *testing.T) {
	sc, err := LoadScenario("testdata/lagged.toml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Cost.SnapinLoad.Duration != 50*time.Millisecond || sc.Cost.RTT.Duration != time.Millisecond {
		t.Errorf("cost profile not read: %+v", sc.Cost)
	}
	h := &harness{t: t, clock: NewManualClock(time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC))}
	if h.org, err = New(sc, Options{Clock: h.clock}); err != nil {
		t.Fatal(err)
	}
	h.rt = ps.NewRuntime(ps.Options{Cmdlets: h.org.Cmdlets(), Now: h.clock.Now, Mutex: h.org.Mutex})
	if got := h.run("EX21", "(Get-MailboxDatabase 'DB31').ReplayLagTimes | Where-Object { $_.Key -eq 'EX23' } | ForEach-Object { $_.Value.TotalSeconds }"); got != "604800" {
		t.Errorf("lag of EX23: %s", got)
	}
	// The lagged copy is never a target: with EX22 blocked, DB31 cannot leave EX21.
	h.run("EX21", "Set-MailboxServer -Identity 'EX22' -DatabaseCopyAutoActivationPolicy 'Blocked'")
	h.fails("EX21", "Move-ActiveMailboxDatabase -Server 'EX21' -Confirm:$false", "no healthy copy")
	if _, err := ParseScenario([]byte("[[server]]\nname = 'A'\n[[database]]\nname = 'D'\ncopies = ['A']\nlagged = ['A']\n"), "x"); err == nil || !strings.Contains(err.Error(), "must name a passive copy") {
		t.Errorf("lagged active copy accepted: %v", err)
	}
	if _, err := LoadScenario("testdata/nope.toml"); err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestRebootNeverReturns(t *testing.T) {
	h := newHarness(t, "dag2")
	if err := h.org.InjectFault(Fault{Kind: "reboot_never_returns", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	h.run("EX01", "Restart-Computer -Force")
	h.clock.Advance(24 * time.Hour)
	if !h.org.Rebooting("EX01") {
		t.Error("EX01 came back despite reboot_never_returns")
	}
	if got := h.run("EX02", "(Get-DatabaseAvailabilityGroup -Identity 'DAG01' -Status).StoppedMailboxServers[0].Name"); got != "EX01" {
		t.Errorf("StoppedMailboxServers = %q, want EX01", got)
	}
	h.org.ClearFaults()
	h.clock.Advance(time.Second)
	if h.org.Rebooting("EX01") {
		t.Error("EX01 still down after the fault was cleared")
	}
}

// TestScheduledTaskJob: the job as a scheduled task — registered, started, Running with
// SCHED_S_TASK_RUNNING, then Ready with the job's exit code as LastTaskResult; a reboot terminates a running
// instance (SCHED_S_TASK_TERMINATED, no files). The Windows Update API works in a task and is denied to a
// Start-Process child, which runs in the WinRM shell's network logon (E_ACCESSDENIED).
func TestScheduledTaskJob(t *testing.T) {
	h := newHarness(t, "dag2")
	register := func(id, body string) string {
		job := "# exmaintd-job/1 " + id + "\n" + body + "\n"
		return "$a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument '-NoProfile -EncodedCommand " + encodeUTF16(job) + "'; " +
			"$p = New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest; " +
			"Register-ScheduledTask -TaskName 'exmaintd-" + id + "' -TaskPath '\\exmaintd\\' -Action $a -Principal $p -Force | Out-Null; " +
			"Start-ScheduledTask -TaskName 'exmaintd-" + id + "' -TaskPath '\\exmaintd\\'"
	}
	info := func(id string) string {
		return h.run("EX01", "$t = Get-ScheduledTask -TaskName 'exmaintd-"+id+"' -TaskPath '\\exmaintd\\'; $i = Get-ScheduledTaskInfo -TaskName 'exmaintd-"+id+"' -TaskPath '\\exmaintd\\'; "+
			"ConvertTo-Json -Compress -InputObject @{ State = $t.State.ToString(); Result = [long]$i.LastTaskResult }")
	}
	h.run("EX01", register("wu-1", "$s = New-Object -ComObject Microsoft.Update.Session; $s.CreateUpdateInstaller().Install()"))
	if got := info("wu-1"); got != `{"State":"Running","Result":267009}` {
		t.Errorf("running task: %s", got)
	}
	h.clock.Advance(time.Hour)
	if got := info("wu-1"); got != `{"State":"Ready","Result":0}` {
		t.Errorf("finished task: %s", got)
	}
	if got := h.run("EX01", "[string](Get-Content -Raw -Path 'C:\\ProgramData\\exmaintd\\jobs\\wu-1.exit')"); got != "0\r\n" {
		t.Errorf("Windows Update in a task: exit %q, want 0", got)
	}
	h.run("EX01", "Unregister-ScheduledTask -TaskName 'exmaintd-wu-1' -TaskPath '\\exmaintd\\' -Confirm:$false")
	h.fails("EX01", "Get-ScheduledTask -TaskName 'exmaintd-wu-1' -TaskPath '\\exmaintd\\'", "No MSFT_ScheduledTask objects found")

	// The same through Start-Process: the Windows Update API refuses the network logon.
	h.run("EX01", "Start-Process -FilePath 'powershell.exe' -ArgumentList @('-EncodedCommand', '"+encodeUTF16("# exmaintd-job/1 wu-2\n$s = New-Object -ComObject Microsoft.Update.Session; $s.CreateUpdateInstaller().Install()\n")+"') | Out-Null")
	h.clock.Advance(time.Hour)
	if got := h.run("EX01", "[string](Get-Content -Raw -Path 'C:\\ProgramData\\exmaintd\\jobs\\wu-2.exit')"); got != "1\r\n" {
		t.Errorf("Windows Update from a WinRM shell: exit %q, want 1", got)
	}
	if got := h.run("EX01", "[string](Get-Content -Raw -Path 'C:\\ProgramData\\exmaintd\\jobs\\wu-2.log')"); !strings.Contains(got, "0x80070005") {
		t.Errorf("log %q lacks E_ACCESSDENIED", got)
	}

	// PSWindowsUpdate is a PowerShell Gallery module, on no server unless installed: a job using it fails.
	h.run("EX01", register("psw-1", "Import-Module PSWindowsUpdate; Install-WindowsUpdate -AcceptAll"))
	h.run("EX01", register("psw-2", "Install-WindowsUpdate -AcceptAll -IgnoreReboot"))
	h.clock.Advance(time.Hour)
	for id, want := range map[string]string{"psw-1": "Modules_ModuleNotFound", "psw-2": "'Install-WindowsUpdate' is not recognized"} {
		if got := info(id); got != `{"State":"Ready","Result":1}` {
			t.Errorf("%s: %s; want the task to fail", id, got)
		}
		if got := h.run("EX01", "[string](Get-Content -Raw -Path 'C:\\ProgramData\\exmaintd\\jobs\\"+id+".log')"); !strings.Contains(got, want) {
			t.Errorf("%s: log %q lacks %q", id, got, want)
		}
	}

	h.run("EX01", register("long-1", "Start-Sleep 7200"))
	h.run("EX01", "Restart-Computer -Force")
	h.clock.Advance(time.Hour)
	if got := info("long-1"); got != `{"State":"Ready","Result":267014}` {
		t.Errorf("task after a reboot: %s, want Ready with SCHED_S_TASK_TERMINATED", got)
	}
	if got := h.run("EX01", "Test-Path -Path 'C:\\ProgramData\\exmaintd\\jobs\\long-1.exit'"); got != "false" {
		t.Errorf("the terminated instance wrote an exit file: %s", got)
	}
}

// TestETSNoteProperties: what Windows PowerShell 5.1 does to values that carry ETS note properties. A
// string from Get-Content is written by ConvertTo-Json as an object ({"value": …, "PSPath": …, …}) unless
// cast with [string]; Get-Date's DateTime as {"value":"\/Date(ms)\/","DisplayHint":2,"DateTime":…}.
// Comparisons, methods and casts see the base value.
func TestETSNoteProperties(t *testing.T) {
	h := newHarness(t, "dag2")
	h.run("EX01", "Test-Path -Path 'C:\\x'") // settle the org
	g := h.org
	g.mu.Lock()
	g.lookup("EX01").files[`c:\programdata\exmaintd\jobs\a.exit`] = "0\r\n"
	g.mu.Unlock()
	for _, tc := range []struct{ script, want string }{
		{`Get-Content -Raw -Path 'C:\ProgramData\exmaintd\jobs\a.exit' | ConvertTo-Json -Compress`,
			`{"value":"0\r\n","PSPath":"Microsoft.PowerShell.Core\\FileSystem::C:\\ProgramData\\exmaintd\\jobs\\a.exit","PSParentPath":"Microsoft.PowerShell.Core\\FileSystem::C:\\ProgramData\\exmaintd\\jobs","PSChildName":"a.exit","PSDrive":{"Name":"C","Root":"C:\\"},"PSProvider":{"Name":"FileSystem"},"ReadCount":1}`},
		{`ConvertTo-Json -Compress -InputObject @{ Exit = [string](Get-Content -Raw -Path 'C:\ProgramData\exmaintd\jobs\a.exit') }`, `{"Exit":"0\r\n"}`},
		{`ConvertTo-Json -Compress -InputObject ((Get-Content -Path 'C:\ProgramData\exmaintd\jobs\a.exit') -eq '0')`, `true`},
		{`(Get-Content -Path 'C:\ProgramData\exmaintd\jobs\a.exit').PSChildName`, `a.exit`},
		{`(Get-Content -Path 'C:\ProgramData\exmaintd\jobs\a.exit').Length`, `1`},
		{`Get-Date | ConvertTo-Json -Compress`, `{"value":"\/Date(1797112800000)\/","DisplayHint":2,"DateTime":"Saturday, December 12, 2026 10:00:00 PM"}`},
		{`(Get-Date).ToUniversalTime().ToString('o')`, `2026-12-12T22:00:00.0000000Z`},
	} {
		if got := h.run("EX01", tc.script); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.script, got, tc.want)
		}
	}
}

// TestChangesListsActionsOnly: reads and task-object constructors are not changes; every acting cmdlet is,
// even one that fails, with the host that ran it.
func TestChangesListsActionsOnly(t *testing.T) {
	h := newHarness(t, "dag2")
	h.run("EX01", "Get-ServerComponentState -Identity 'EX01' | Out-Null; Test-ServiceHealth -Server 'EX01' | Out-Null; New-ScheduledTaskAction -Execute 'x.exe' | Out-Null")
	if c := h.org.Changes(); len(c) != 0 {
		t.Fatalf("reads counted as changes: %+v", c)
	}
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'")
	h.fails("EX02", "Set-ServerComponentState 'EX09' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'", "couldn't be found")
	c := h.org.Changes()
	if len(c) != 2 || c[0].Cmdlet != "Set-ServerComponentState" || c[0].Host != "EX01" || c[1].Host != "EX02" {
		t.Fatalf("changes %+v; want the two Set-ServerComponentState calls on EX01 and EX02", c)
	}
}

// TestCmdletNoop: the cmdlet_noop fault makes a cmdlet report success and change nothing (the call is still
// listed in Changes: it was sent); clearing the fault restores the cmdlet.
func TestCmdletNoop(t *testing.T) {
	h := newHarness(t, "dag2")
	if err := h.org.InjectFault(Fault{Kind: "cmdlet_noop", Server: "EX01", Target: "Set-ServerComponentState"}); err != nil {
		t.Fatal(err)
	}
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'")
	if got := h.state("EX01", "HubTransport"); got != "Active" {
		t.Errorf("HubTransport after a no-op Set = %s, want Active", got)
	}
	if c := h.org.Changes(); len(c) != 1 {
		t.Errorf("changes %+v; want the one call", c)
	}
	if err := h.org.InjectFault(Fault{Kind: "cmdlet_noop"}); err == nil {
		t.Error("cmdlet_noop without a target was accepted")
	}
	h.org.ClearFaults()
	h.run("EX01", "Set-ServerComponentState 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'")
	if got := h.state("EX01", "HubTransport"); got != "Draining" {
		t.Errorf("HubTransport after the fault was cleared = %s, want Draining", got)
	}
}

// TestServiceStops: with service_stops, Restart-Service returns and the service reads Stopped, after a
// reboot too; other services start as usual, and once the fault is cleared a restart brings it back.
func TestServiceStops(t *testing.T) {
	h := newHarness(t, "demo")
	status := func(svc string) string { // ServiceControllerStatus, by name
		return map[string]string{"1": "Stopped", "4": "Running"}[h.run("EX01", "(Get-Service -Name '"+svc+"').Status")]
	}
	if err := h.org.InjectFault(Fault{Kind: "service_stops", Target: "MSExchangeTransport"}); err == nil {
		t.Error("service_stops without a server accepted")
	}
	if err := h.org.InjectFault(Fault{Kind: "service_stops", Server: "EX01", Target: "MSExchangeTransport"}); err != nil {
		t.Fatal(err)
	}
	h.run("EX01", "Restart-Service -Name 'MSExchangeTransport' -Force")
	if got := status("MSExchangeTransport"); got != "Stopped" {
		t.Errorf("after Restart-Service: %s, want Stopped", got)
	}
	h.run("EX01", "Restart-Computer -Force")
	h.clock.Advance(time.Hour)
	if got, other := status("MSExchangeTransport"), status("MSExchangeFrontEndTransport"); got != "Stopped" || other != "Running" {
		t.Errorf("after a reboot: transport %s, front end %s; want Stopped and Running", got, other)
	}
	h.org.ClearFaults()
	h.run("EX01", "Restart-Service -Name 'MSExchangeTransport' -Force")
	if got := status("MSExchangeTransport"); got != "Running" {
		t.Errorf("after the fault is cleared: %s, want Running", got)
	}
}

// TestPatchDisablesServices: under patch_disables_services a job that ends leaves every MSExchange service
// that was not Manual Stopped and Disabled — across a restart too — Restart-Service refuses it with
// Windows' message, and /PowerShell is down (RemotePowerShellUp); other services and other servers are
// untouched.
func TestPatchDisablesServices(t *testing.T) {
	h := newHarness(t, "dag2")
	if !h.org.RemotePowerShellUp("EX01") {
		t.Fatal("EX01's /PowerShell is down before anything happened")
	}
	if err := h.org.InjectFault(Fault{Kind: "patch_disables_services", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	job := "# exmaintd-job/1 cu-1\n& 'D:\\Setup.exe' /Mode:Upgrade\n"
	h.run("EX01", "Start-Process -FilePath 'powershell.exe' -ArgumentList @('-EncodedCommand', '"+encodeUTF16(job)+"') | Out-Null")
	if h.org.RemotePowerShellUp("EX01") {
		t.Error("EX01's /PowerShell answers while setup runs (setup stops IIS: TestSetupStopsServices)")
	}
	h.clock.Advance(time.Hour)
	svc := func(host, name string) string {
		out := h.run(host, "$s = Get-Service -Name '"+name+"'; ConvertTo-Json -Compress -InputObject @($s.Status.ToString(), $s.StartType.ToString())")
		var st []string
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 2 {
			t.Fatalf("Get-Service %s on %s: %s (%v)", name, host, out, err)
		}
		return st[0] + " " + st[1]
	}
	for _, c := range []struct{ host, name, want string }{
		{"EX01", "MSExchangeIS", "Stopped Disabled"}, {"EX01", "MSExchangeADTopology", "Stopped Disabled"},
		{"EX01", "W3SVC", "Running Automatic"}, {"EX02", "MSExchangeIS", "Running Automatic"},
	} {
		if got := svc(c.host, c.name); got != c.want {
			t.Errorf("%s %s: %s; want %s", c.host, c.name, got, c.want)
		}
	}
	if h.org.RemotePowerShellUp("EX01") || !h.org.RemotePowerShellUp("EX02") {
		t.Error("/PowerShell: EX01 must be down (AD topology stopped), EX02 up")
	}
	h.fails("EX01", "Restart-Service -Name 'MSExchangeTransport' -Force", "either because it is disabled")
	h.run("EX01", "Restart-Computer -Force")
	h.clock.Advance(time.Hour)
	if got := svc("EX01", "MSExchangeIS"); got != "Stopped Disabled" {
		t.Errorf("after a restart: %s; want the service still Stopped and Disabled", got)
	}
}
