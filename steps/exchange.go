package steps

import (
	"context"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// Exchange is what the steps need from one Exchange server's management session. *exchange.Client
// implements it (a test asserts so); identities are validated and quoted by the client. server arguments are
// Exchange server names (EX01); the session runs on the server being maintained unless noted.
type Exchange interface {
	ComponentStates(ctx context.Context, server string) ([]exchange.ComponentState, error)
	SetComponentState(ctx context.Context, server, component, state, requester string) error

	Queues(ctx context.Context, server string) ([]exchange.Queue, error)
	RedirectMessage(ctx context.Context, server, targetFQDN string) error
	ResumeQueue(ctx context.Context, identity string) error
	RetryQueue(ctx context.Context, identity string) error

	// CopyStatus lists the copies hosted on server; DatabaseCopies lists every copy of one database.
	CopyStatus(ctx context.Context, server string) ([]exchange.CopyStatus, error)
	DatabaseCopies(ctx context.Context, database string) ([]exchange.CopyStatus, error)
	Databases(ctx context.Context, server string) ([]exchange.Database, error)
	SuspendDatabaseCopy(ctx context.Context, copyIdentity string, activationOnly bool) error
	ResumeDatabaseCopy(ctx context.Context, copyIdentity string) error
	MountDatabase(ctx context.Context, database string) error
	DismountDatabase(ctx context.Context, database string) error
	// MoveActiveDatabase activates database on target, or with target "" on the copy Active Manager picks.
	MoveActiveDatabase(ctx context.Context, database, target string) error
	// MoveActiveDatabases switches over every database active on server, each to the copy Active Manager picks.
	MoveActiveDatabases(ctx context.Context, server string) error

	MailboxServer(ctx context.Context, server string) (exchange.MailboxServer, error)
	SetMailboxServer(ctx context.Context, server string, s exchange.MailboxServerSettings) error

	ClusterNodes(ctx context.Context) ([]exchange.ClusterNode, error)
	SuspendClusterNode(ctx context.Context, node string) error
	ResumeClusterNode(ctx context.Context, node string) error
	// CoreClusterGroup reads the cluster core group: its owner node is the DAG's Primary Active Manager.
	CoreClusterGroup(ctx context.Context) (exchange.ClusterGroup, error)
	MoveCoreClusterGroup(ctx context.Context, node string) error
	DAG(ctx context.Context, name string) (exchange.DAG, error)
	ExchangeServers(ctx context.Context) ([]exchange.ExchangeServer, error)

	ServiceHealth(ctx context.Context, server string) ([]exchange.ServiceHealth, error)
	Services(ctx context.Context, names ...string) ([]exchange.Service, error)
	RestartService(ctx context.Context, name string) error
	// Installers reads which installers are at work on the host: Windows Installer (its mutex), Exchange
	// setup, component servicing, the standalone update installer.
	Installers(ctx context.Context) (exchange.Installers, error)

	LastBootUpTime(ctx context.Context) (time.Time, error)
	// PendingReboot reads whether Windows waits for a restart (CBS, Windows Update, file renames, rename).
	PendingReboot(ctx context.Context) (exchange.PendingReboot, error)
	// RestartComputer asks the host to restart delay from now and returns without waiting: the session is
	// lost afterwards.
	RestartComputer(ctx context.Context, delay time.Duration) error
	// StartJob runs command detached on the host as a scheduled task; PollJob reads its state (long
	// installs survive the WinRM shell, a lost session and exmaintd); RemoveJob unregisters a finished one.
	StartJob(ctx context.Context, id, command string, spec exchange.TaskSpec) (exchange.Job, error)
	PollJob(ctx context.Context, job exchange.Job) (exchange.Job, error)
	RemoveJob(ctx context.Context, job exchange.Job) error
	// Run executes a short configured command in the session, within timeout, and returns its output.
	Run(ctx context.Context, command string, timeout time.Duration) (exchange.CommandResult, error)
	// ReleaseOwnEndpoint closes the Exchange session when it is open on the server's own endpoint (a
	// standalone server's): none may be open there while its update runs.
	ReleaseOwnEndpoint()
}
