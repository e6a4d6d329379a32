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

func oneOf(kind, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return Quote(a), nil
		}
	}
	return "", fmt.Errorf("invalid %s %q (want one of %s)", kind, v, strings.Join(allowed, ", "))
}

// Component states, requesters and policies exmaintd may set.
func componentStateValues() []string { return []string{"Active", "Inactive", "Draining"} }
func requesterValues() []string {
	return []string{"Maintenance", "Functional", "HealthApi", "Sidelined", "Deployment"}
}
func activationPolicies() []string { return []string{"Unrestricted", "IntrasiteOnly", "Blocked"} }

// OpComponentStates reads Get-ServerComponentState for server.
func OpComponentStates(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	entry := "@{ Requester = [string]$_.Requester; State = [string]$_.State; Timestamp = $(" + dateExpr("$_.Timestamp") + ") }"
	return Op{Cmdlet: "Get-ServerComponentState", Script: selectJSON("Get-ServerComponentState -Identity "+s,
		fStr("ServerFqdn"), fStr("Component"), fStr("State"),
		field{"LocalStates", "@($_.LocalStates | ForEach-Object { " + entry + " })"},
		field{"RemoteStates", "@($_.RemoteStates | ForEach-Object { " + entry + " })"})}, nil
}

// OpSetComponentState runs Set-ServerComponentState.
func OpSetComponentState(server, component, state, requester string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	c, err := ident("component", component)
	if err != nil {
		return Op{}, err
	}
	st, err := oneOf("component state", state, componentStateValues()...)
	if err != nil {
		return Op{}, err
	}
	rq, err := oneOf("requester", requester, requesterValues()...)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Set-ServerComponentState", Write: true,
		Script: writeJSON("Set-ServerComponentState -Identity " + s + " -Component " + c + " -State " + st + " -Requester " + rq)}, nil
}

// OpQueues reads Get-Queue on server.
func OpQueues(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Get-Queue", Script: selectJSON("Get-Queue -Server "+s,
		fStr("Identity"), fStr("DeliveryType"), fStr("Status"), fLong("MessageCount"), fStr("NextHopDomain"), fStr("LastError"))}, nil
}

// OpRedirectMessage runs Redirect-Message (the server's queued messages go to target, an FQDN).
func OpRedirectMessage(server, target string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	t, err := ident("target", target)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Redirect-Message", Write: true, Script: writeJSON("Redirect-Message -Server " + s + " -Target " + t + " -Confirm:$false")}, nil
}

// OpResumeQueue runs Resume-Queue.
func OpResumeQueue(identity string) (Op, error) {
	q, err := ident("queue", identity)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Resume-Queue", Write: true, Script: writeJSON("Resume-Queue -Identity " + q + " -Confirm:$false")}, nil
}

// OpRetryQueue runs Retry-Queue -Resubmit.
func OpRetryQueue(identity string) (Op, error) {
	q, err := ident("queue", identity)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Retry-Queue", Write: true, Script: writeJSON("Retry-Queue -Identity " + q + " -Resubmit:$true -Confirm:$false")}, nil
}

func copyFields() []field {
	return []field{fStr("Name"), fStr("DatabaseName"), fStr("MailboxServer"), fStr("Status"), fBool("ActiveCopy"),
		fStr("ActiveDatabaseCopy"), fBool("ActivationSuspended"), fLong("CopyQueueLength"), fLong("ReplayQueueLength"), fStr("ContentIndexState")}
}

// copiesScript reads copy status rows plus, from Get-MailboxDatabase, each copy's activation preference and
// replay lag (Get-MailboxDatabaseCopyStatus does not carry them).
func copiesScript(statusArgs, dbArgs string) string {
	rows := strings.TrimPrefix(selectJSON("Get-MailboxDatabaseCopyStatus "+statusArgs, copyFields()...), scriptPrelude)
	rows = strings.TrimPrefix(rows, "ConvertTo-Json -Depth 6 -Compress -InputObject ")
	pairs := func(prop, value string) string {
		return "@($_." + prop + " | ForEach-Object { @{ Key = [string]$_.Key; Value = " + value + " } })"
	}
	dbs := "@(Get-MailboxDatabase " + dbArgs + " | Select-Object @{Name='Name'; Expression={ [string]$_.Name }}, " +
		"@{Name='ActivationPreference'; Expression={ " + pairs("ActivationPreference", "[long]$_.Value") + " }}, " +
		"@{Name='ReplayLagTimes'; Expression={ " + pairs("ReplayLagTimes", "[long]$_.Value.TotalSeconds") + " }})"
	return scriptPrelude + "ConvertTo-Json -Depth 6 -Compress -InputObject @{ Copies = " + rows + "; Databases = " + dbs + " }"
}

// OpCopyStatus reads the copies hosted on server.
func OpCopyStatus(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Get-MailboxDatabaseCopyStatus", Script: copiesScript("-Server "+s, "-Server "+s)}, nil
}

// OpDatabaseCopies reads every copy of database.
func OpDatabaseCopies(database string) (Op, error) {
	d, err := ident("database", database)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Get-MailboxDatabaseCopyStatus", Script: copiesScript("-Identity "+d, "-Identity "+d)}, nil
}

// OpDatabases reads Get-MailboxDatabase -Status for the databases with a copy on server, with whether each
// holds any mailbox (sampled with -ResultSize 1, user and arbitration mailboxes).
func OpDatabases(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Get-MailboxDatabase", Script: selectJSON("Get-MailboxDatabase -Server "+s+" -Status",
		fStr("Name"), fStr("Server"), fStr("ReplicationType"), fBool("Mounted"), fStrs("Servers"), fDate("LastFullBackup"), fDate("LastIncrementalBackup"),
		field{"UserMailboxes", "@(Get-Mailbox -Database $_.Name -ResultSize 1 -WarningAction SilentlyContinue).Count"},
		field{"ArbitrationMailboxes", "@(Get-Mailbox -Arbitration -Database $_.Name -ResultSize 1 -WarningAction SilentlyContinue).Count"})}, nil
}

// OpSuspendDatabaseCopy runs Suspend-MailboxDatabaseCopy (with -ActivationOnly: replication continues, the
// copy only cannot be activated).
func OpSuspendDatabaseCopy(copyIdentity string, activationOnly bool) (Op, error) {
	c, err := copyIdent(copyIdentity)
	if err != nil {
		return Op{}, err
	}
	cmd := "Suspend-MailboxDatabaseCopy -Identity " + c
	if activationOnly {
		cmd += " -ActivationOnly"
	}
	return Op{Cmdlet: "Suspend-MailboxDatabaseCopy", Write: true, Script: writeJSON(cmd + " -SuspendComment 'exmaintd maintenance' -Confirm:$false")}, nil
}

// OpResumeDatabaseCopy runs Resume-MailboxDatabaseCopy.
func OpResumeDatabaseCopy(copyIdentity string) (Op, error) {
	c, err := copyIdent(copyIdentity)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Resume-MailboxDatabaseCopy", Write: true, Script: writeJSON("Resume-MailboxDatabaseCopy -Identity " + c + " -Confirm:$false")}, nil
}

func copyIdent(id string) (string, error) {
	db, srv, ok := strings.Cut(id, `\`)
	if !ok || db == "" || srv == "" || strings.Contains(srv, `\`) {
		return "", &IdentityError{Kind: "database copy", Value: id, Why: `want DATABASE\SERVER`}
	}
	return ident("database copy", id)
}

// OpMountDatabase runs Mount-Database.
func OpMountDatabase(database string) (Op, error) {
	d, err := ident("database", database)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Mount-Database", Write: true, Script: writeJSON("Mount-Database -Identity " + d + " -Confirm:$false")}, nil
}

// OpDismountDatabase runs Dismount-Database.
func OpDismountDatabase(database string) (Op, error) {
	d, err := ident("database", database)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Dismount-Database", Write: true, Script: writeJSON("Dismount-Database -Identity " + d + " -Confirm:$false")}, nil
}

// OpMoveActiveDatabases moves every active copy off server.
func OpMoveActiveDatabases(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Move-ActiveMailboxDatabase", Write: true, Script: writeJSON("Move-ActiveMailboxDatabase -Server " + s + " -MoveComment 'exmaintd maintenance' -Confirm:$false")}, nil
}

// OpMoveActiveDatabase activates database on target.
func OpMoveActiveDatabase(database, target string) (Op, error) {
	d, err := ident("database", database)
	if err != nil {
		return Op{}, err
	}
	t, err := ident("server", target)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Move-ActiveMailboxDatabase", Write: true, Script: writeJSON("Move-ActiveMailboxDatabase -Identity " + d + " -ActivateOnServer " + t + " -MoveComment 'exmaintd rebalance' -Confirm:$false")}, nil
}

// OpMailboxServer reads Get-MailboxServer.
func OpMailboxServer(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Get-MailboxServer", Script: selectJSON("Get-MailboxServer -Identity "+s,
		fStr("Name"), fStr("DatabaseAvailabilityGroup"), fStr("DatabaseCopyAutoActivationPolicy"), fBool("DatabaseCopyActivationDisabledAndMoveNow"), fLong("MaximumActiveDatabases"))}, nil
}

// OpSetMailboxServer runs Set-MailboxServer with the settings that are not nil.
func OpSetMailboxServer(server string, st MailboxServerSettings) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	cmd := "Set-MailboxServer -Identity " + s
	if st.DatabaseCopyAutoActivationPolicy == nil && st.DatabaseCopyActivationDisabledAndMoveNow == nil {
		return Op{}, fmt.Errorf("Set-MailboxServer on %s: nothing to set", server)
	}
	if p := st.DatabaseCopyAutoActivationPolicy; p != nil {
		q, err := oneOf("DatabaseCopyAutoActivationPolicy", *p, activationPolicies()...)
		if err != nil {
			return Op{}, err
		}
		cmd += " -DatabaseCopyAutoActivationPolicy " + q
	}
	if m := st.DatabaseCopyActivationDisabledAndMoveNow; m != nil {
		cmd += " -DatabaseCopyActivationDisabledAndMoveNow " + psBool(*m)
	}
	return Op{Cmdlet: "Set-MailboxServer", Write: true, Script: writeJSON(cmd + " -Confirm:$false")}, nil
}

func psBool(b bool) string {
	if b {
		return "$true"
	}
	return "$false"
}

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

// OpDAG reads Get-DatabaseAvailabilityGroup -Status.
func OpDAG(name string) (Op, error) {
	d, err := ident("DAG", name)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Get-DatabaseAvailabilityGroup", Script: selectJSON("Get-DatabaseAvailabilityGroup -Identity "+d+" -Status",
		fStr("Name"), fStrs("Servers"), fStrs("StoppedMailboxServers"), fStr("PrimaryActiveManager"), fStr("WitnessShareInUse"))}, nil
}

// OpExchangeServers reads Get-ExchangeServer.
func OpExchangeServers() Op {
	return Op{Cmdlet: "Get-ExchangeServer", Script: selectJSON("Get-ExchangeServer",
		fStr("Name"), fStr("Fqdn"), fStr("Site"), fStr("ServerRole"), fStr("AdminDisplayVersion"), fStr("IsMemberOfCluster"))}
}

// OpServiceHealth runs Test-ServiceHealth.
func OpServiceHealth(server string) (Op, error) {
	s, err := ident("server", server)
	if err != nil {
		return Op{}, err
	}
	return Op{Cmdlet: "Test-ServiceHealth", Script: selectJSON("Test-ServiceHealth -Server "+s,
		fStr("Role"), fBool("RequiredServicesRunning"), fStrs("ServicesNotRunning"))}, nil
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
