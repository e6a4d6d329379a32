package exchange

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The Op constructors generate the exact PowerShell of every operation. They validate and quote their
// arguments; `exmaintd plan` prints their scripts, and Client methods run them.

func ident(kind, v string) (string, error) {
	if err := ValidateIdentity(kind, v); err != nil {
		return "", err
	}
	return Quote(v), nil
}

// Component states, requesters and policies exmaintd may set.
func componentStateValues() []string { return []string{"Active", "Inactive", "Draining"} }
func requesterValues() []string {
	return []string{"Maintenance", "Functional", "HealthApi", "Sidelined", "Deployment"}
}
func activationPolicies() []string { return []string{"Unrestricted", "IntrasiteOnly", "Blocked"} }

// OpClusterNodes reads Get-ClusterNode (the cluster of the DAG the session's server belongs to).
func OpClusterNodes() Op {
	return Op{Cmdlet: "Get-ClusterNode", Script: selectJSON("Get-ClusterNode", fStr("Name"), fStr("State"))}
}

// OpSuspendClusterNode pauses a cluster node.
func OpSuspendClusterNode(node string) (Op, error) {
	n, err := ident("cluster node", node)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Suspend-ClusterNode", Write: true, Script: writeJSON("Suspend-ClusterNode -Name " + n)}, nil
}

// OpResumeClusterNode resumes a paused cluster node.
func OpResumeClusterNode(node string) (Op, error) {
	n, err := ident("cluster node", node)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Resume-ClusterNode", Write: true, Script: writeJSON("Resume-ClusterNode -Name " + n)}, nil
}

// OpServices reads Get-Service for names (all services when none are given).
func OpServices(names ...string) (Op, error) {
	cmd := "Get-Service"
	if len(names) > 0 {
		q := make([]string, len(names))
		for i, n := range names {
			v, err := ident("service", n)
			if err != nil {
				return Op{}, err
			}
			q[i] = v
		}
		cmd += " -Name @(" + strings.Join(q, ", ") + ")"
	}
	return Op{Cmdlet: "Get-Service", Script: selectJSON(cmd, fStr("Name"), fStr("Status"), fStr("StartType"))}, nil
}

// OpRestartService restarts a Windows service.
func OpRestartService(name string) (Op, error) {
	n, err := ident("service", name)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Restart-Service", Write: true, Script: writeJSON("Restart-Service -Name " + n + " -Force")}, nil
}

// OpSetupRunning tells whether Exchange setup (ExSetup.exe) runs on the host.
func OpSetupRunning() Op {
	return Op{Cmdlet: "Get-Process", Script: scriptPrelude + "ConvertTo-Json -Compress -InputObject (@(Get-Process -Name 'ExSetup' -ErrorAction SilentlyContinue).Count -gt 0)"}
}

// OpLastBootUpTime reads Win32_OperatingSystem.LastBootUpTime in UTC.
func OpLastBootUpTime() Op {
	return Op{Cmdlet: "Get-CimInstance", Script: scriptPrelude + "$os = Get-CimInstance -ClassName 'Win32_OperatingSystem'; ConvertTo-Json -Compress -InputObject @{ LastBootUpTime = $os.LastBootUpTime.ToUniversalTime().ToString('o') }"}
}

// OpRestartComputer reboots the host. The reply may not arrive: the host goes down.
func OpRestartComputer() Op {
	return Op{Cmdlet: "Restart-Computer", Write: true, Timeout: 60 * time.Second, Script: writeJSON("Restart-Computer -Force")}
}

// jobDir is where detached jobs write their output and exit code on the server.
const jobDir = `C:\ProgramData\exmaintd\jobs`

// jobScript is the detached process's script (real PowerShell, not the dialect: exchsim recognises its
// marker and does not interpret the body). command is the configured command, verbatim.
func jobScript(id, command string) string {
	return "# exmaintd-job/1 " + id + "\n" +
		"$ErrorActionPreference = 'Stop'\n" +
		"$dir = " + Quote(jobDir) + "; New-Item -ItemType Directory -Force -Path $dir | Out-Null\n" +
		"try { & {\n" + command + "\n} *>&1 | Out-File -FilePath \"$dir\\" + id + ".log\" -Encoding utf8; $code = $LASTEXITCODE; if ($null -eq $code) { $code = 0 } }\n" +
		"catch { $_ | Out-File -FilePath \"$dir\\" + id + ".log\" -Append -Encoding utf8; $code = 1 }\n" +
		"Set-Content -Path \"$dir\\" + id + ".exit\" -Value $code\n"
}

func validJobID(id string) error {
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	}) >= 0 {
		return &IdentityError{Kind: "job", Value: id, Why: "want 1-64 characters of A-Z a-z 0-9 -"}
	}
	return nil
}

// OpStartJob starts command detached (docs/powershell-dialect.md "Detached jobs").
func OpStartJob(id, command string) (Op, error) {
	if err := validJobID(id); err != nil {
		return Op{}, err
	}
	if strings.TrimSpace(command) == "" {
		return Op{}, fmt.Errorf("job %s: empty command", id)
	}
	args := "@('-NoProfile', '-NonInteractive', '-EncodedCommand', " + Quote(encodeCommand(jobScript(id, command))) + ")"
	return Op{Cmdlet: "Start-Process", Write: true, Script: scriptPrelude +
		"$p = Start-Process -FilePath 'powershell.exe' -ArgumentList " + args + " -PassThru -WindowStyle Hidden; ConvertTo-Json -Compress -InputObject @{ Id = [long]$p.Id }"}, nil
}

// OpPollJob reads a job's state: whether its process runs, its exit file and its log.
func OpPollJob(id string, pid int64) (Op, error) {
	if err := validJobID(id); err != nil {
		return Op{}, err
	}
	file := func(ext string) string {
		p := Quote(jobDir + `\` + id + ext)
		return "$(if (Test-Path -Path " + p + ") { Get-Content -Raw -Path " + p + " } else { $null })"
	}
	return Op{Cmdlet: "Get-Process", Script: scriptPrelude + fmt.Sprintf(
		"ConvertTo-Json -Compress -InputObject @{ Running = [bool](Get-Process -Id %d -ErrorAction SilentlyContinue); Exit = %s; Log = %s }",
		pid, file(".exit"), file(".log"))}, nil
}

// OpRun runs a short configured command in the session and reports its output lines and exit code
// ($LASTEXITCODE of the last native program, 0 if none ran).
func OpRun(command string) (Op, error) {
	if strings.TrimSpace(command) == "" {
		return Op{}, fmt.Errorf("run: empty command")
	}
	return Op{Cmdlet: "Run", Write: true, Script: scriptPrelude + "$global:LASTEXITCODE = 0\n$exmOut = @(\n" + command + "\n)\n" +
		"ConvertTo-Json -Depth 3 -Compress -InputObject @{ Output = @($exmOut | ForEach-Object { [string]$_ }); ExitCode = [long]$LASTEXITCODE }"}, nil
}

// AllCmdlets lists the cmdlets exmaintd's operations use, sorted (documentation and RBAC checks).
func AllCmdlets() []string {
	c := []string{"Get-ServerComponentState", "Set-ServerComponentState", "Get-Queue", "Redirect-Message", "Resume-Queue", "Retry-Queue",
		"Get-MailboxDatabaseCopyStatus", "Get-MailboxDatabase", "Get-Mailbox", "Suspend-MailboxDatabaseCopy", "Resume-MailboxDatabaseCopy",
		"Mount-Database", "Dismount-Database", "Move-ActiveMailboxDatabase", "Get-MailboxServer", "Set-MailboxServer", "Get-ClusterNode",
		"Suspend-ClusterNode", "Resume-ClusterNode", "Get-DatabaseAvailabilityGroup", "Get-ExchangeServer", "Test-ServiceHealth",
		"Get-Service", "Restart-Service", "Get-Process", "Get-CimInstance", "Restart-Computer", "Start-Process", "Test-Path", "Get-Content"}
	slices.Sort(c)
	return c
}
