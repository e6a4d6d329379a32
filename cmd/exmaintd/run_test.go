package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/steps"
	"github.com/exmaintd/exmaintd/syncbuf"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}

func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: exmaintd"},
		{[]string{"frobnicate"}, 2, "usage: exmaintd"},
		{[]string{"version"}, 0, "exmaintd dev"},
		{[]string{"check"}, 2, ""},
		{[]string{"check", "-secrets=false", "-config", "../../config.example.toml"}, 0, "OK (3 servers, 1 DAG, 1 window)"},
		// The example's secrets are not on this machine: check names every one and exits 2.
		{[]string{"check", "-config", "../../config.example.toml"}, 2, `secret: notify "users".token: `},
		{[]string{"next", "-config", "../../config.example.toml", "-n", "2"}, 0, "monthly-patch"},
		// The Saturday after Patch Tuesday in March 2027 (Patch Tuesday 03-09), shown in Berlin and in UTC.
		{[]string{"next", "-config", "../../config.example.toml", "-n", "1", "-from", "2027-03-01T00:00:00Z"}, 0,
			"Sat 2027-03-13 22:00 CET  Sun 2027-03-14 04:00 CET  2027-03-13 21:00Z  2027-03-14 03:00Z"},
		{[]string{"next", "-config", "../../config.example.toml", "-from", "tomorrow"}, 2, `-from "tomorrow": want an RFC 3339 time`},
		{[]string{"next", "-config", "../../config.example.toml", "-n", "0"}, 2, "-n 0: want 1 or more"},
		{[]string{"next", "-config", "../../config.example.toml", "extra"}, 2, "next takes no arguments"},
		// Flags after a positional argument count, as operators type them.
		{[]string{"next", "extra", "-config", "../../config.example.toml", "-n", "1"}, 2, `next takes no arguments, got ["extra"]`},
		{[]string{"start", "demo", "-config", "/nonexistent/sim.toml"}, 2, "/nonexistent/sim.toml"},
		{[]string{"demo", "-fail-at", "nonsense"}, 2, ""},
		{[]string{"start"}, 2, ""},
		{[]string{"plan", "-offline", "-config", "../../config.example.toml", "-window", "nope"}, 2, `no window "nope" in ../../config.example.toml (windows: monthly-patch)`},
		{[]string{"plan", "-offline", "-config", "../../config.example.toml", "-server", "EX09"}, 2, `server "EX09" is in no window of`},
		{[]string{"plan", "-offline", "-config", "../../config.example.toml", "-window", "monthly-patch", "-server", "EX09"}, 2, `server "EX09" is not in window "monthly-patch"`},
		{[]string{"report", "-config", "../../config.example.toml"}, 2, "exmaintd status` lists the runs"},
		{[]string{"report", "-config", "../../config.example.toml", "-o", "yaml", "r1"}, 2, `-o "yaml": want text or json`},
	}
	for _, tt := range tests {
		out, errOut, err := runCmd(t, tt.args...)
		said := out + errOut // what the user sees: the output and the error main prints
		if err != nil {
			said += err.Error()
		}
		if exitCode(err) != tt.code || !strings.Contains(said, tt.want) {
			t.Errorf("exmaintd %v: exit %d (%v), output %q; want exit %d containing %q", tt.args, exitCode(err), err, out+errOut, tt.code, tt.want)
		}
		if tt.args != nil && tt.args[0] == "plan" && strings.Contains(out, "window ") {
			t.Errorf("exmaintd %v printed a plan before refusing: %q", tt.args, out)
		}
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("[daemon]\nlog_level = \"loud\"\n[winrm]\nporrt = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCmd(t, "check", "-config", path)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "bad.toml:2: daemon.log_level") || !strings.Contains(err.Error(), "bad.toml:4: winrm.porrt: unknown key") ||
		!strings.Contains(err.Error(), "no [[server]]") {
		t.Errorf("check = %v", err)
	}
}

func TestPlanOffline(t *testing.T) {
	out, _, err := runCmd(t, "plan", "-config", "../../config.example.toml", "-offline")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"server EX01 (procedure dag, DAG DAG01)",
		"EX> Set-ServerComponentState -Identity 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'",
		"EX> Redirect-Message -Server 'EX01' -Target 'ex02.exlab.local' -Confirm:$false",
		"PS> $ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; Restart-Service -Name 'MSExchangeTransport' -Force",
		"server EX03 (procedure seed)",
		"EX> Dismount-Database -Identity 'DB' -Confirm:$false",
		// A detached patch: the task definition, and the job script with the command as the operator wrote it.
		"Register-ScheduledTask -TaskName 'exmaintd-RUNID-2' -TaskPath '\\exmaintd\\'",
		"New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest",
		"-EncodedCommand <JOB>",
		"runs as SYSTEM with the highest run level:",
		"          $p = Start-Process -FilePath 'msiexec.exe' -Wait -PassThru -ArgumentList '/update \"D:\\Updates\\ExchangeSE-KB5049233-x64-en.msp\" /qn /norestart",
		// each patch's account and restart before it
		"windows-updates: runs as SYSTEM; first a restart if one is pending (restart_before = if-pending)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`[A-Za-z0-9+/]{200,}`).FindString(out); m != "" {
		t.Errorf("plan shows base64 (%.40s…): an operator cannot read it", m)
	}
}

// TestDemo runs the README's first command: a whole window on the simulated org; and -fail-at with -keep,
// whose kept configuration then works with status and with the token.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole window")
	}
	t.Parallel()
	t.Run("demo", func(t *testing.T) {
		t.Parallel()
		out, errOut, err := runCmd(t, "demo")
		if err != nil {
			t.Fatalf("exmaintd demo: %v\n%s%s", err, out, errOut)
		}
		if strings.Contains(out, "patch undone") || strings.Contains(out, "reboot undone") || !strings.Contains(out, "hubtransport-draining restored") {
			t.Errorf("demo's exit phase should restore, not undo, and not claim to undo the patch or reboot:\n%s", out)
		}
		if !strings.Contains(out, "equals its state before") || !strings.Contains(out, ": succeeded in") || !strings.Contains(out, "EX01    ") {
			t.Errorf("demo did not succeed, or lacks the restored-state check:\n%s", out)
		}
	})
	t.Run("fail-at with keep", func(t *testing.T) {
		t.Parallel()
		var out, errb syncbuf.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"demo", "-fail-at", "drain-queues", "-keep"}, func(string) string { return "" }, &out, &errb)
		}()
		kept := regexp.MustCompile(`exmaintd status -config (\S+)\n  EXMAINTD_API_TOKEN=\$\(cat (\S+)\)`)
		var m []string
		deadline := time.Now().Add(3 * time.Minute)
		for m = kept.FindStringSubmatch(out.String()); m == nil; m = kept.FindStringSubmatch(out.String()) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("demo -keep never said what it kept:\n%s%s", out.String(), errb.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(m[1])) })
		status, _, err := runCmd(t, "status", "-config", m[1])
		if err != nil || !strings.Contains(status, "demo): reversed") || !strings.Contains(status, "EX01  reversed: ") || !strings.Contains(status, "EX02  not started: ") {
			t.Errorf("status with the kept config: %v\n%s", err, status)
		}
		id := regexp.MustCompile(`run (demo-\S+) \(demo\)`).FindStringSubmatch(status)
		if len(id) == 2 {
			// The run's story from the journal: the failure with the stall, the gates' values, the undos.
			story, _, err := runCmd(t, "report", "-config", m[1], id[1])
			for _, want := range []string{"run " + id[1] + " (window demo): reversed", "EX01 (procedure dag): reversed: ", "drain-queues: FAILED after",
				"gates pre-gates: permissions pass;", "active (max 500)", "undo hubtransport-draining: done in", "EX03 (procedure standalone): succeeded"} {
				if err != nil || !strings.Contains(story, want) {
					t.Errorf("report lacks %q (%v):\n%s", want, err, story)
					break
				}
			}
			// The token works: aborting the finished run is refused as a conflict, not as unauthorised.
			if _, _, err := runCmd(t, "abort", "-config", m[1], "-token-file", m[2], id[1]); err == nil || !strings.Contains(err.Error(), "409") {
				t.Errorf("abort with the kept token: %v; want 409 (already finished)", err)
			}
		}
		cancel()
		err = <-done
		if exitCode(err) != 1 || !strings.Contains(err.Error(), "reversed after the failure injected at drain-queues") {
			t.Errorf("demo -fail-at: exit %d (%v), want 1: the window was reversed", exitCode(err), err)
		}
		if s := out.String(); !strings.Contains(s, "equals its state before") || !strings.Contains(s, "drain-queues stalled") || !strings.Contains(s, "EX02    0      not started") {
			t.Errorf("demo -fail-at did not show the stall, the reverse and the member not started:\n%s", s)
		}
	})
}

// TestDemoFailAtEveryStep: -fail-at takes every step of EX01's procedure, the patch and the reboot (the
// README says "any step").
func TestDemoFailAtEveryStep(t *testing.T) {
	faults := demoFaults()
	for _, s := range append(steps.BuiltinProcedures()["dag"].Steps, "patch", "reboot") {
		if _, ok := faults[s]; !ok {
			t.Errorf("-fail-at %s is refused", s)
		}
	}
}

// TestPlanLive: plan runs the read-only pre-gates against the servers and changes nothing.
func TestPlanLive(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	path, err := demo.WriteConfig(t.TempDir(), sim, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := sim.Org().Snapshot()
	out, _, err := runCmd(t, "plan", "-config", path, "-server", "EX01")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server EX01 (procedure dag, DAG DAG01)", "version: Exchange Server SE (15.2.2562.17)", "live pre-gates (read-only):", "redundancy     pass", "→ all passed",
		"active vs queue_max 500", "worst copy queue 0 vs copy_queue_max 10", "(UTC, from daemon.time_zone or the host)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "WARNING") {
		t.Errorf("an SE server got a support warning:\n%s", out)
	}
	if strings.Contains(out, "server EX02") {
		t.Error("-server EX01 planned EX02 too")
	}
	if diffs := before.Equivalent(sim.Org().Snapshot()); len(diffs) > 0 || sim.Requests()["Command"] == 0 {
		t.Errorf("plan changed the org (%v) or never connected", diffs)
	}
}

// TestPlanWouldNotStart: when a live pre-gate fails, plan says so and exits 3, as documented.
func TestPlanWouldNotStart(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	path, err := demo.WriteConfig(t.TempDir(), sim, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.InjectFault(exchsim.Fault{Kind: "cmdlet_error", Target: "Get-MailboxDatabaseCopyStatus", Server: "EX01", Message: "Couldn't read the copy status (injected)."}); err != nil {
		t.Fatal(err)
	}
	// A second gate fails too: plan shows both, not only the first.
	if err := sim.InjectFault(exchsim.Fault{Kind: "setup_running", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "plan", "-config", path, "-server", "EX01")
	if exitCode(err) != 3 || !strings.Contains(out, "→ would not start") || !strings.Contains(err.Error(), "would not start on EX01") {
		t.Errorf("plan with a failing gate: exit %d (%v), want 3\n%s", exitCode(err), err, out)
	}
	if !strings.Contains(out, "an installer is at work: ExSetup.exe") || !strings.Contains(out, "Couldn't read the copy status") {
		t.Errorf("plan did not report every failing gate:\n%s", out)
	}
}
