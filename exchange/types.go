package exchange

import (
	"slices"
	"strings"
	"time"
)

// These are the typed results of Exchange reads. Enum-valued fields hold the enum's name exactly as .NET's
// ToString() gives it (e.g. "Draining", "ShadowRedundancy", "IntrasiteOnly"), never the integer; time fields
// are UTC. Field names follow the Exchange property names so that a reader of exchange-maintenance.md §3
// recognises them.

// RequesterState is one requester's entry in a component's LocalStates or RemoteStates.
type RequesterState struct {
	Requester string    // Maintenance, HealthAPI, Sidelined, Functional, Deployment
	State     string    // Active, Inactive, Draining
	Timestamp time.Time // when that requester set it
}

// ComponentState is one row of Get-ServerComponentState.
type ComponentState struct {
	Server    string // ServerFqdn
	Component string
	State     string // effective state: Inactive wins across requesters; ServerWideOffline overrides
	// LocalStates (registry) and RemoteStates (AD) per requester; Requesters merges them.
	LocalStates  []RequesterState
	RemoteStates []RequesterState
}

// Requesters is each requester's current entry: of its LocalStates (registry) and RemoteStates (AD)
// entries the later one wins, as Exchange and CSS-Exchange's HealthChecker read them. An entry only AD
// has — Set-ServerComponentState -RemoteOnly, or a change replicated before the server saw it — counts:
// reading LocalStates alone would record the wrong original state and undo someone else's hold.
func (c ComponentState) Requesters() []RequesterState {
	out := append([]RequesterState(nil), c.LocalStates...)
	for _, r := range c.RemoteStates {
		i := slices.IndexFunc(out, func(l RequesterState) bool { return strings.EqualFold(l.Requester, r.Requester) })
		switch {
		case i < 0:
			out = append(out, r)
		case r.Timestamp.After(out[i].Timestamp):
			out[i] = r
		}
	}
	return out
}

// Queue is one row of Get-Queue.
type Queue struct {
	Identity      string // EX01\Submission, EX01\Poison, EX01\Shadow\3, EX01\17
	DeliveryType  string // Undefined, ShadowRedundancy, SmtpDeliveryToMailbox, Unreachable, ...
	Status        string // Active, Ready, Retry, Suspended, Connecting, Throttled, None
	MessageCount  int64
	NextHopDomain string // "Submission", "Poison Message", "Unreachable Domain", a DB name, an FQDN
	LastError     string
}

// QueueSummary classifies queues with Microsoft's filter: Active counts every queue that is neither
// ShadowRedundancy nor the poison queue (NextHopDomain "Poison Message"); those are reported apart.
type QueueSummary struct {
	Active      int64
	Poison      int64
	Shadow      int64
	Unreachable int64 // included in Active too (Microsoft's filter keeps it); reported separately
	Retry       int64 // messages in queues whose Status is Retry (a next hop that does not answer); in Active too
	// Queues is false when Get-Queue returned nothing at all, which right after a transport restart means
	// "unknown" (transport is still booting), not "empty".
	Queues bool
	// Suspended lists the identities of queues whose Status is Suspended (e.g. a Submission queue left
	// suspended by an earlier aborted run), which never drain on their own.
	Suspended []string
}

// CopyStatus is one row of Get-MailboxDatabaseCopyStatus.
type CopyStatus struct {
	Name                string // DB01\EX01
	DatabaseName        string
	MailboxServer       string
	Status              string // Mounted, Healthy, Dismounted, Failed, FailedAndSuspended, Suspended, ...
	ActiveCopy          bool
	ActiveDatabaseCopy  string // server holding the active copy
	ActivationSuspended bool
	CopyQueueLength     int64
	ReplayQueueLength   int64
	ContentIndexState   string // Healthy, Crawling, Failed, ...
	// ActivationPreference and ReplayLagTime come from Get-MailboxDatabase for this copy.
	ActivationPreference int
	ReplayLagTime        time.Duration // > 0 for a lagged copy: excluded from replay-queue thresholds
}

// Database is one row of Get-MailboxDatabase -Status.
type Database struct {
	Name string
	// Server is where the database is mounted now: the host of Get-MailboxDatabase -Status's
	// MountedOnServer ("" when that is empty). Owner is its Server property, the owning server recorded in
	// Active Directory, which need not follow a switchover: never decide by it.
	Server                string
	Owner                 string
	ReplicationType       string // Remote (DAG-replicated) or None
	Recovery              bool   // a recovery database: never part of maintenance decisions
	Mounted               bool
	Servers               []string  // servers holding a copy
	LastFullBackup        time.Time // zero if never
	LastIncrementalBackup time.Time // zero if never
	// Mailboxes is the number of user and arbitration mailboxes on the database (a non-replicated database
	// that holds any blocks maintenance, exchange-maintenance.md §1.3).
	Mailboxes int64
}

// MailboxServer is the maintenance-relevant part of Get-MailboxServer.
type MailboxServer struct {
	Name                                     string
	DatabaseAvailabilityGroup                string // "" for a standalone server
	DatabaseCopyAutoActivationPolicy         string // Unrestricted, IntrasiteOnly, Blocked
	DatabaseCopyActivationDisabledAndMoveNow bool
	MaximumActiveDatabases                   int64 // 0 = unlimited
}

// MailboxServerSettings are the Set-MailboxServer parameters exmaintd changes; nil means "leave alone".
type MailboxServerSettings struct {
	DatabaseCopyAutoActivationPolicy         *string
	DatabaseCopyActivationDisabledAndMoveNow *bool
}

// ClusterNode is one row of Get-ClusterNode.
type ClusterNode struct {
	Name  string
	State string // Up, Down, Paused, Joining, Unknown
}

// ClusterGroup is one row of Get-ClusterGroup.
type ClusterGroup struct {
	Name      string
	OwnerNode string
	State     string // Online, Offline, Failed, PartialOnline, Pending
}

// DAG is the maintenance-relevant part of Get-DatabaseAvailabilityGroup -Status.
type DAG struct {
	Name                  string
	Servers               []string
	StoppedMailboxServers []string
	PrimaryActiveManager  string
	WitnessShareInUse     string // Primary, Alternate, None, InvalidConfiguration
}

// ExchangeServer is one row of Get-ExchangeServer.
type ExchangeServer struct {
	Name                string
	Fqdn                string
	Site                string
	ServerRole          string
	AdminDisplayVersion string // "Version 15.2 (Build 2562.17)": ServerVersion's ToString
}

// Service is one row of Get-Service.
type Service struct {
	Name      string
	Status    string // Running, Stopped, StartPending, StopPending
	StartType string // Automatic, Manual, Disabled
}

// ServiceHealth is one row of Test-ServiceHealth.
type ServiceHealth struct {
	Role                    string
	RequiredServicesRunning bool
	ServicesNotRunning      []string
}

// CommandResult is the outcome of an arbitrary configured command (the patch).
type CommandResult struct {
	ExitCode int
	Output   string
}

// Installers is what says an installer is at work on a host: no restart, undo or return to service then.
type Installers struct {
	MSIExecute bool     // Windows Installer holds Global\_MSIExecute: an .msi or .msp install runs
	Processes  []string // ExSetup, TiWorker, wusa: those running
}

// Active names the installers at work; none when the host is quiet.
func (i Installers) Active() []string {
	var out []string
	if i.MSIExecute {
		out = append(out, "Windows Installer (the _MSIExecute mutex is held)")
	}
	for _, p := range i.Processes {
		out = append(out, p+".exe")
	}
	return out
}

// PendingReboot is what says a host waits for a restart.
type PendingReboot struct {
	CBS           bool // Component Based Servicing\RebootPending
	WindowsUpdate bool // WindowsUpdate\Auto Update\RebootRequired
	FileRenames   bool // Session Manager's PendingFileRenameOperations
	Rename        bool // a new computer name not yet active
	// UpdateExeVolatile: HKLM:\SOFTWARE\Microsoft\Updates' UpdateExeVolatile value is not 0.
	UpdateExeVolatile bool
	// ConfigMgr: the Configuration Manager client says a restart is pending (CCM_ClientUtilities).
	ConfigMgr bool
}

// Reasons names what is pending; none when no restart is needed.
func (p PendingReboot) Reasons() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		what string
	}{{p.CBS, "Component Based Servicing RebootPending"}, {p.WindowsUpdate, "Windows Update RebootRequired"},
		{p.FileRenames, "PendingFileRenameOperations"}, {p.Rename, "a pending computer rename"},
		{p.UpdateExeVolatile, "UpdateExeVolatile"}, {p.ConfigMgr, "the Configuration Manager client (CCM_ClientUtilities)"}} {
		if x.on {
			out = append(out, x.what)
		}
	}
	return out
}

// Job is a command started detached on the server (a long install), polled until it ends.
type Job struct {
	ID    string // exmaintd's job id, also in the file names on the server
	Task  string // its scheduled task, \exmaintd\exmaintd-<id>
	State string // the task's state when last polled: Ready, Queued, Running, Disabled
	// LastResult is the task's LastTaskResult when last polled: the job's exit code once it is done,
	// 0x41301 while it runs, 0x41303 before it has run.
	LastResult int64
	Started    time.Time
	Running    bool
	ExitCode   int // valid when !Running
	Output     string
	// Registered: the task still exists (a finished job's files stay after its task is unregistered).
	Registered bool
}
