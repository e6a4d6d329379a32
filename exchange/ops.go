package exchange

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/secret"
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

// CoreClusterGroup is the cluster core group of every Windows failover cluster; in a DAG its owner node is
// the Primary Active Manager.
const CoreClusterGroup = "Cluster Group"

// OpCoreClusterGroup reads the cluster core group (Get-ClusterGroup): its owner node and state.
func OpCoreClusterGroup() Op {
	return Op{Cmdlet: "Get-ClusterGroup", Script: selectJSON("Get-ClusterGroup -Name '"+CoreClusterGroup+"'", fStr("Name"), fStr("OwnerNode"), fStr("State"))}
}

// OpMoveCoreClusterGroup moves the cluster core group — and with it the Primary Active Manager — to node.
func OpMoveCoreClusterGroup(node string) (Op, error) {
	n, err := ident("cluster node", node)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Move-ClusterGroup", Write: true, Script: writeJSON("Move-ClusterGroup -Name '" + CoreClusterGroup + "' -Node " + n)}, nil
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

// installerProcesses are the processes that mean an installer is at work: Exchange setup (Setup.exe runs
// ExSetup.exe, which does the upgrade), the Windows Modules Installer worker (TiWorker.exe: component
// servicing, which Windows Update and an .msu install use) and the Windows Update standalone installer.
func installerProcesses() []string { return []string{"ExSetup", "TiWorker", "wusa"} }

// OpInstallers reads whether an installer is active on the host: a Windows Installer install holds the
// Global\_MSIExecute mutex while it runs (Microsoft Learn, "_MSIExecute Mutex": the way to tell whether an
// installation is in progress), and the installerProcesses. A mutex that exists but cannot be opened
// (access denied) is held; only "no handle of the given name exists" (WaitHandleCannotBeOpenedException)
// is free.
func OpInstallers() Op {
	procs := installerProcesses()
	names := make([]string, len(procs))
	for i, n := range procs {
		names[i] = Quote(n)
	}
	return Op{Cmdlet: "Get-Process", Script: scriptPrelude +
		"$msi = $false; try { $m = [System.Threading.Mutex]::OpenExisting('Global\\_MSIExecute'); $m.Dispose(); $msi = $true } " +
		"catch { $msi = $_.FullyQualifiedErrorId -ne 'WaitHandleCannotBeOpenedException' }; " +
		"ConvertTo-Json -Compress -InputObject @{ MSIExecute = $msi; Processes = @(Get-Process -Name " + strings.Join(names, ", ") +
		" -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.Name }) }"}
}

// OpLastBootUpTime reads Win32_OperatingSystem.LastBootUpTime in UTC.
func OpLastBootUpTime() Op {
	return Op{Cmdlet: "Get-CimInstance", Script: scriptPrelude + "$os = Get-CimInstance -ClassName 'Win32_OperatingSystem'; ConvertTo-Json -Compress -InputObject @{ LastBootUpTime = $os.LastBootUpTime.ToUniversalTime().ToString('o') }"}
}

// OpServerTime reads the host's clock (Win32_OperatingSystem.LocalDateTime) in UTC: how far it is from
// exmaintd's decides whether Kerberos works (5 minutes of skew by default) and whether times exmaintd reads
// from the server can be compared with its own.
func OpServerTime() Op {
	return Op{Cmdlet: "Get-CimInstance", Script: scriptPrelude + "$os = Get-CimInstance -ClassName 'Win32_OperatingSystem'; ConvertTo-Json -Compress -InputObject @{ LocalDateTime = $os.LocalDateTime.ToUniversalTime().ToString('o') }"}
}

// OpPendingReboot reads whether Windows waits for a restart, the way Windows and the checks admins trust read
// it (CSS-Exchange's Shared/Get-ServerRebootPending.ps1, which SetupAssist runs before setup; the community's
// Test-PendingReboot scripts; Ansible): Component Based Servicing's RebootPending key, Windows Update's
// RebootRequired key, Session Manager's PendingFileRenameOperations, a new computer name not yet active,
// the UpdateExeVolatile value under HKLM:\SOFTWARE\Microsoft\Updates when it is not 0, and the
// Configuration Manager client's CCM_ClientUtilities.DetermineIfRebootPending (RebootPending or
// IsHardRebootPending; on a server without the client its namespace does not exist, which is "no").
func OpPendingReboot() Op {
	return Op{Cmdlet: "Get-ItemProperty", Script: scriptPrelude +
		"$sm = Get-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager' -Name 'PendingFileRenameOperations' -ErrorAction SilentlyContinue; " +
		"$ux = Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Updates' -Name 'UpdateExeVolatile' -ErrorAction SilentlyContinue; " +
		"$ccm = Invoke-CimMethod -Namespace 'ROOT\\ccm\\ClientSDK' -ClassName 'CCM_ClientUtilities' -MethodName 'DetermineIfRebootPending' -ErrorAction SilentlyContinue; " +
		"$active = (Get-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ActiveComputerName').ComputerName; " +
		"$next = (Get-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName').ComputerName; " +
		"ConvertTo-Json -Compress -InputObject @{ CBS = [bool](Test-Path -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending'); " +
		"WindowsUpdate = [bool](Test-Path -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired'); " +
		"FileRenames = [bool]($sm.PendingFileRenameOperations); Rename = [bool]($active -ne $next); " +
		"UpdateExeVolatile = [bool]($ux.UpdateExeVolatile); ConfigMgr = [bool]($ccm.RebootPending -or $ccm.IsHardRebootPending) }"}
}

// OpRestartComputer schedules a restart of the host delay from now with shutdown.exe, which answers before
// the host goes down (Ansible's win_reboot does the same; Restart-Computer's reply is what a host going
// down does not send). /d p:2:17 records the reason "Operating System: Hot fix (Planned)" in the System
// log (event 1074). 1190, a shutdown already scheduled (by Windows Update, say, perhaps a power-off), is
// aborted and the restart scheduled again, as win_reboot does; 1115, a shutdown already in progress, is
// left to the caller (RestartComputer takes it as requested). The reply may still not arrive.
func OpRestartComputer(delay time.Duration) (Op, error) {
	if delay < 0 || delay > 10*time.Minute {
		return Op{}, fmt.Errorf("restart: delay %v: want 0..10m", delay)
	}
	restart := "@() | & shutdown.exe /r /t " + strconv.Itoa(int(delay/time.Second)) + " /d p:2:17 /c 'exmaintd: maintenance restart'"
	return Op{Cmdlet: "shutdown.exe", Write: true, Timeout: 60 * time.Second, Script: scriptPrelude + "$exmOut = @(" + restart + ")\n" +
		"if ($LASTEXITCODE -eq 1190) { @() | & shutdown.exe /a | Out-Null; $exmOut = @(" + restart + ") }\n" +
		"ConvertTo-Json -Depth 3 -Compress -InputObject @{ Output = @($exmOut | ForEach-Object { [string]$_ }); ExitCode = [long]$LASTEXITCODE }"}, nil
}

// shutdownInProgress is shutdown.exe's ERROR_SHUTDOWN_IN_PROGRESS: the host is already going down.
const shutdownInProgress = 1115

// jobDir is where detached jobs write their output and exit code on the server.
const jobDir = `C:\ProgramData\exmaintd\jobs`

// TaskPath is the Task Scheduler folder of exmaintd's jobs; a job's task is TaskPath + TaskName(id).
const TaskPath = `\exmaintd\`

// TaskName is the scheduled task of job id.
func TaskName(id string) string { return "exmaintd-" + id }

// TaskSpec is how a detached job's scheduled task runs.
type TaskSpec struct {
	// User is the account the task runs as: "" for SYSTEM (S-1-5-18, a service logon), a group managed
	// service account (EXLAB\gmsa-patch$, a password logon the system fetches from AD), or a named account
	// (EXLAB\svc-patch) with its Password — Task Scheduler's "run whether the user is logged on or not",
	// which stores the password with the task.
	User     string
	Password secret.Value
	// TimeLimit is the task's ExecutionTimeLimit. It is a statement of intent, not a bound: Task Scheduler
	// bypasses the limit for a task started on demand, as Start-ScheduledTask starts exmaintd's
	// (ITaskSettings::ExecutionTimeLimit: "a task that is started on demand will not be terminated if it
	// exceeds the ExecutionTimeLimit"). What bounds a patch is its timeout and, on a reverse, patch_grace —
	// and an installer is never cut off: a server is held in maintenance while one runs.
	TimeLimit time.Duration
}

// taskPriority is the scheduled task's priority: 4, NORMAL_PRIORITY_CLASS with normal I/O and memory
// priority, as an installer an admin starts interactively runs. Task Scheduler's default, 7, is
// BELOW_NORMAL_PRIORITY_CLASS, meant for background tasks, and would make a 90-minute cumulative update
// slower still (Microsoft Learn, ITaskSettings::Priority: "Priority levels 7 and 8 are used for background
// tasks, and priority levels 4, 5, and 6 are used for interactive tasks").
const taskPriority = 4

// JobLog is where job id's output is kept on the server (the task writes it; it stays after the task is
// removed, for the operator).
func JobLog(id string) string { return jobDir + `\` + id + ".log" }

// jobScript is the task's script (real PowerShell, not the dialect: exchsim recognises its marker and
// does not interpret the body). command is the configured command, verbatim. Before running it, the
// script gives the jobs folder an explicit ACL — Administrators and SYSTEM only, inheritance from
// ProgramData (where Users may create files) cut — because what lands there is what exmaintd believes
// about the install, and removes this job's old files; any failure there stops the script
// ($ErrorActionPreference 'Stop').
//
// The command runs under 'Continue'. Its output, every stream, goes to the log; under 'Stop', Windows
// PowerShell 5.1 would turn a native program's first line on stderr in that merged stream into a
// terminating error (PowerShell/PowerShell#4002, #3996): the job would record a failure at once while the
// installer it started runs on, and the reverse would follow with the installer at work. So the result is
// the exit code of the command's last native program ($LASTEXITCODE: an installer's own), and a PowerShell
// error the command wrote that is not a native program's stderr (NativeCommandError) fails a command whose
// programs all exited 0 — a cmdlet that failed fails the job, as before, but no longer stops the command
// where it failed. A terminating error (throw, -ErrorAction Stop) is exit code 1. The script exits with
// the result, which is then the task's LastTaskResult.
func jobScript(id, command string) string {
	log, exit := Quote(JobLog(id)), Quote(jobDir+`\`+id+".exit")
	return "# exmaintd-job/1 " + id + "\n" +
		"$ErrorActionPreference = 'Stop'\n" +
		"$dir = " + Quote(jobDir) + "\n" +
		"New-Item -ItemType Directory -Force -Path $dir | Out-Null\n" +
		"$acl = New-Object System.Security.AccessControl.DirectorySecurity\n" +
		"$acl.SetAccessRuleProtection($true, $false)\n" +
		"foreach ($sid in 'S-1-5-32-544', 'S-1-5-18') {\n" +
		"  $who = New-Object System.Security.Principal.SecurityIdentifier($sid)\n" +
		"  $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')))\n" +
		"}\n" +
		"$acl.SetOwner((New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')))\n" +
		"Set-Acl -Path $dir -AclObject $acl\n" +
		"Remove-Item -Force -ErrorAction SilentlyContinue -Path " + log + ", " + exit + "\n" +
		"$ErrorActionPreference = 'Continue'\n" +
		"$global:LASTEXITCODE = 0\n" +
		"$Error.Clear()\n" +
		"try { & {\n" + command + "\n} *>&1 | Out-File -FilePath " + log + " -Encoding utf8; $code = $LASTEXITCODE; if ($null -eq $code) { $code = 0 }\n" +
		"  if ($code -eq 0 -and @($Error | Where-Object { $_.FullyQualifiedErrorId -notlike 'NativeCommandError*' }).Count -gt 0) { $code = 1 } }\n" +
		"catch { $_ | Out-File -FilePath " + log + " -Append -Encoding utf8; $code = 1 }\n" +
		"Set-Content -Path " + exit + " -Value $code\n" +
		"exit $code\n"
}

func validJobID(id string) error {
	if id == "" || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	}) >= 0 {
		return &IdentityError{Kind: "job", Value: id, Why: "want 1-64 characters of A-Z a-z 0-9 -"}
	}
	return nil
}

// taskArgument is the action's command line: powershell.exe runs the job script, encoded (no script file
// needs writing before the task has set the folder's ACL).
func taskArgument(id, command string) string {
	return "-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + encodeCommand(jobScript(id, command))
}

// OpStartJob registers job id as a scheduled task and starts it (docs/powershell-dialect.md "Detached
// jobs"): it runs outside every WinRM shell — a Start-Process child would die with the shell's job
// object — as SYSTEM (or spec.User) with the highest run level, and survives the session, the shell and
// exmaintd. The task is registered with -Force: a start repeated after a crash replaces the definition,
// and MultipleInstances IgnoreNew keeps a running instance from being started twice.
func OpStartJob(id, command string, spec TaskSpec) (Op, error) {
	if err := validJobID(id); err != nil {
		return Op{}, err
	}
	if strings.TrimSpace(command) == "" {
		return Op{}, fmt.Errorf("job %s: empty command", id)
	}
	gmsa := strings.HasSuffix(spec.User, "$")
	if spec.User == "" && !spec.Password.Empty() {
		return Op{}, fmt.Errorf("job %s: a password without an account", id)
	}
	if spec.User != "" && !gmsa && spec.Password.Empty() {
		return Op{}, fmt.Errorf("job %s: account %s needs its password (a group managed service account's name ends in $)", id, spec.User)
	}
	if gmsa && !spec.Password.Empty() {
		return Op{}, fmt.Errorf("job %s: %s is a group managed service account: Windows fetches its password, none is given", id, spec.User)
	}
	principal := "-Principal (New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest)"
	password, shown := "", ""
	if gmsa {
		principal = "-Principal (New-ScheduledTaskPrincipal -UserId " + Quote(spec.User) + " -LogonType Password -RunLevel Highest)"
	} else if spec.User != "" {
		// The password is a variable set on a line of its own: an error record quotes the line of the
		// command that failed, and that line holds only the variable's name.
		principal = "-User " + Quote(spec.User) + " -Password $exmPw -RunLevel Highest"
		password = "$exmPw = " + Quote(spec.Password.Reveal()) + "\n"
		shown = "$exmPw = '<run_as_password>'\n"
	}
	limit := spec.TimeLimit
	if limit <= 0 {
		limit = 4 * time.Hour
	}
	name, path := Quote(TaskName(id)), Quote(TaskPath)
	register := func(password, argument string) string {
		return password + scriptPrelude +
			"$a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument " + argument + " -WorkingDirectory 'C:\\Windows\\System32'; " +
			"$s = New-ScheduledTaskSettingsSet -ExecutionTimeLimit " + Quote(formatTimeSpan(limit)) + " -Priority " + strconv.Itoa(taskPriority) + " -MultipleInstances IgnoreNew -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries; " +
			"Register-ScheduledTask -TaskName " + name + " -TaskPath " + path + " -Action $a " + principal + " -Settings $s -Description " + Quote("exmaintd job "+id) + " -Force | Out-Null; " +
			"Start-ScheduledTask -TaskName " + name + " -TaskPath " + path + "; " +
			"ConvertTo-Json -Compress -InputObject @{ Task = " + Quote(TaskPath+TaskName(id)) + " }"
	}
	return Op{Cmdlet: "Register-ScheduledTask", Write: true, Script: register(password, Quote(taskArgument(id, command))),
		Show: register(shown, "'-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand <JOB>'") +
			"\n        JOB (UTF-16LE, base64), runs as " + taskUser(spec) + " with the highest run level:\n" + indent(jobScript(id, command), "          ")}, nil
}

func taskUser(spec TaskSpec) string {
	if spec.User == "" {
		return "SYSTEM"
	}
	return spec.User
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// formatTimeSpan is d as .NET's TimeSpan text (d.hh:mm:ss), which PowerShell converts to a TimeSpan.
func formatTimeSpan(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d.%02d:%02d:%02d", s/86400, s%86400/3600, s%3600/60, s%60)
}

// OpPollJob reads a job's task (whether it exists, its state and last result) and its two files. Strings
// are cast with [string]: Get-Content's output carries PSPath and other note properties, which Windows
// PowerShell 5.1's ConvertTo-Json would write out as an object; the state enum goes through ToString().
func OpPollJob(id string) (Op, error) {
	if err := validJobID(id); err != nil {
		return Op{}, err
	}
	file := func(ext string) string {
		p := Quote(jobDir + `\` + id + ext)
		return "$(if (Test-Path -Path " + p + ") { [string](Get-Content -Raw -Path " + p + ") } else { $null })"
	}
	name, path := Quote(TaskName(id)), Quote(TaskPath)
	return Op{Cmdlet: "Get-ScheduledTask", Script: scriptPrelude +
		"$t = Get-ScheduledTask -TaskName " + name + " -TaskPath " + path + " -ErrorAction SilentlyContinue; " +
		"$i = $(if ($t) { Get-ScheduledTaskInfo -TaskName " + name + " -TaskPath " + path + " } else { $null }); " +
		"ConvertTo-Json -Compress -InputObject @{ Exists = [bool]$t; State = $(if ($t) { $t.State.ToString() } else { '' }); " +
		"LastResult = $(if ($i) { [long]$i.LastTaskResult } else { $null }); Exit = " + file(".exit") + "; Log = " + file(".log") + " }"}, nil
}

// OpRemoveJob unregisters a finished job's task (its files stay, for the operator).
func OpRemoveJob(id string) (Op, error) {
	if err := validJobID(id); err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Unregister-ScheduledTask", Write: true, Script: writeJSON("Unregister-ScheduledTask -TaskName " + Quote(TaskName(id)) +
		" -TaskPath " + Quote(TaskPath) + " -Confirm:$false")}, nil
}

// OpRun runs a configured command and reports its output lines and exit code ($LASTEXITCODE of the last
// native program, or the command's own exit N; 0 if neither). The command runs in a child powershell.exe,
// so nothing it does can end the session loop: exit ends the PowerShell instance it is called in, and
// break or continue outside a loop of their own leave the caller's loop (about_Language_Keywords,
// about_Break) — in a child process they end the child alone, and output it left without a line break
// reaches the loop as a line. The child's stdin is an empty pipe (`@() |`): it must never read the
// session's own stdin, which carries the requests.
func OpRun(command string) (Op, error) {
	if strings.TrimSpace(command) == "" {
		return Op{}, fmt.Errorf("run: empty command")
	}
	child := scriptPrelude + "$global:LASTEXITCODE = 0\n" + command + "\nexit $LASTEXITCODE\n"
	args := append([]string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"}, encodeCommand(child))
	if n := commandLineLength("powershell.exe", args); n > childCommandLineLimit {
		return Op{}, fmt.Errorf("run: the command of %d characters makes a child powershell.exe command line of %d characters, over Windows' %d (the command travels as base64 of UTF-16: at most about 12,000 characters); run a script file on the server instead", len([]rune(command)), n, childCommandLineLimit)
	}
	return Op{Cmdlet: "Run", Write: true, Script: scriptPrelude + "$global:LASTEXITCODE = 0\n" +
		"$exmOut = @(@() | & powershell.exe " + strings.Join(args[:len(args)-1], " ") + " " + Quote(args[len(args)-1]) + ")\n" +
		"ConvertTo-Json -Depth 3 -Compress -InputObject @{ Output = @($exmOut | ForEach-Object { [string]$_ }); ExitCode = [long]$LASTEXITCODE }"}, nil
}

// AllCmdlets lists the cmdlets exmaintd's operations use, sorted (documentation and RBAC checks).
func AllCmdlets() []string {
	c := []string{"Get-ServerComponentState", "Set-ServerComponentState", "Get-Queue", "Redirect-Message", "Resume-Queue", "Retry-Queue",
		"Get-MailboxDatabaseCopyStatus", "Get-MailboxDatabase", "Get-Mailbox", "Suspend-MailboxDatabaseCopy", "Resume-MailboxDatabaseCopy",
		"Mount-Database", "Dismount-Database", "Move-ActiveMailboxDatabase", "Get-MailboxServer", "Set-MailboxServer", "Get-ClusterNode",
		"Suspend-ClusterNode", "Resume-ClusterNode", "Get-ClusterGroup", "Move-ClusterGroup", "Get-DatabaseAvailabilityGroup", "Get-ExchangeServer", "Test-ServiceHealth",
		"Get-Service", "Restart-Service", "Get-Process", "Get-CimInstance", "Restart-Computer", "Test-Path", "Get-Content",
		"New-ScheduledTaskAction", "New-ScheduledTaskPrincipal", "New-ScheduledTaskSettingsSet", "Register-ScheduledTask",
		"Start-ScheduledTask", "Get-ScheduledTask", "Get-ScheduledTaskInfo", "Unregister-ScheduledTask"}
	slices.Sort(c)
	return c
}
