package org

import (
	"testing"
	"time"
)

// TestSetupStopsServices: a job that runs Exchange setup (/Mode:Upgrade) stops the Exchange services and
// IIS while it runs — the server's /PowerShell cannot answer, ExSetup runs — and starts them again when it
// ends; under patch_disables_services they stay stopped and disabled. A job that runs something else stops
// nothing.
func TestSetupStopsServices(t *testing.T) {
	for _, tc := range []struct {
		name, command string
		disables      bool
		during, after string // MSExchangeIS's status while the job runs and once it ended (W3SVC: Running again)
	}{
		{"cumulative update", `& 'D:\Setup.exe' /Mode:Upgrade /IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF`, false, "Stopped", "Running"},
		{"short switch", `& "E:\setup" /m:upgrade /IAcceptExchangeServerLicenseTerms_DiagnosticDataON`, false, "Stopped", "Running"},
		{"failed, services left disabled", `& 'D:\Setup.exe' /Mode:Upgrade`, true, "Stopped", "Stopped"},
		{"a security update", `msiexec.exe /update 'D:\su.msp' /qn`, false, "Running", "Running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "dag3")
			if tc.disables {
				if err := h.org.InjectFault(Fault{Kind: "patch_disables_services", Server: "EX11"}); err != nil {
					t.Fatal(err)
				}
			}
			job := "# exmaintd-job/1 cu-1\n" + tc.command + "\n"
			h.run("EX11", "$p = Start-Process -FilePath 'powershell.exe' -ArgumentList @('-NoProfile', '-EncodedCommand', '"+encodeUTF16(job)+"') -PassThru")
			status := func(svc string) string {
				return h.run("EX11", "(Get-Service -Name '"+svc+"').Status.ToString()")
			}
			setup := tc.during == "Stopped"
			if got := status("W3SVC"); got != tc.during {
				t.Errorf("W3SVC while the job runs: %s; want %s", got, tc.during)
			}
			if got := status("MSExchangeIS"); got != tc.during {
				t.Errorf("MSExchangeIS while the job runs: %s; want %s", got, tc.during)
			}
			if h.org.RemotePowerShellUp("EX11") == setup || h.org.SetupRunning("EX11") != setup {
				t.Errorf("while the job runs: /PowerShell up %v, setup running %v", h.org.RemotePowerShellUp("EX11"), h.org.SetupRunning("EX11"))
			}
			h.clock.Advance(time.Minute)
			if got := status("W3SVC"); got != "Running" {
				t.Errorf("W3SVC after the job: %s; want Running", got)
			}
			if got := status("MSExchangeIS"); got != tc.after {
				t.Errorf("MSExchangeIS after the job: %s; want %s", got, tc.after)
			}
			if h.org.SetupRunning("EX11") {
				t.Error("setup still running after the job ended")
			}
		})
	}
}
