package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/sentinel"
)

// The typed operations: each builds its Op, runs it, and decodes the reply. *Client implements
// steps.Exchange (a test in steps asserts it).

func (c *Client) read(ctx context.Context, op Op, err error) (string, error) {
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", op.Cmdlet, c.ep.Name, err)
	}
	return c.Exec(ctx, op)
}

func (c *Client) write(ctx context.Context, op Op, err error) error {
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op.Cmdlet, c.ep.Name, err)
	}
	_, err = c.Exec(ctx, op)
	return err
}

// ComponentStates reads every component's state on server.
func (c *Client) ComponentStates(ctx context.Context, server string) ([]ComponentState, error) {
	op, err := OpComponentStates(server)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	return decodeComponentStates(out)
}

// SetComponentState sets one component's state for one requester.
func (c *Client) SetComponentState(ctx context.Context, server, component, state, requester string) error {
	op, err := OpSetComponentState(server, component, state, requester)
	return c.write(ctx, op, err)
}

// Queues reads every transport queue on server.
func (c *Client) Queues(ctx context.Context, server string) ([]Queue, error) {
	op, err := OpQueues(server)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	return decodeQueues(out)
}

// RedirectMessage sends server's queued messages to targetFQDN.
func (c *Client) RedirectMessage(ctx context.Context, server, targetFQDN string) error {
	op, err := OpRedirectMessage(server, targetFQDN)
	return c.write(ctx, op, err)
}

// ResumeQueue resumes a suspended queue.
func (c *Client) ResumeQueue(ctx context.Context, identity string) error {
	op, err := OpResumeQueue(identity)
	return c.write(ctx, op, err)
}

// RetryQueue retries (and resubmits) a queue.
func (c *Client) RetryQueue(ctx context.Context, identity string) error {
	op, err := OpRetryQueue(identity)
	return c.write(ctx, op, err)
}

// CopyStatus lists the database copies hosted on server.
func (c *Client) CopyStatus(ctx context.Context, server string) ([]CopyStatus, error) {
	op, err := OpCopyStatus(server)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	return decodeCopies(out)
}

// DatabaseCopies lists every copy of database.
func (c *Client) DatabaseCopies(ctx context.Context, database string) ([]CopyStatus, error) {
	op, err := OpDatabaseCopies(database)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	return decodeCopies(out)
}

// Databases lists the databases with a copy on server.
func (c *Client) Databases(ctx context.Context, server string) ([]Database, error) {
	op, err := OpDatabases(server)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	return decodeDatabases(out)
}

// SuspendDatabaseCopy suspends a copy (DB\SERVER).
func (c *Client) SuspendDatabaseCopy(ctx context.Context, copyIdentity string, activationOnly bool) error {
	op, err := OpSuspendDatabaseCopy(copyIdentity, activationOnly)
	return c.write(ctx, op, err)
}

// ResumeDatabaseCopy resumes a copy.
func (c *Client) ResumeDatabaseCopy(ctx context.Context, copyIdentity string) error {
	op, err := OpResumeDatabaseCopy(copyIdentity)
	return c.write(ctx, op, err)
}

// MountDatabase mounts a database.
func (c *Client) MountDatabase(ctx context.Context, database string) error {
	op, err := OpMountDatabase(database)
	return c.write(ctx, op, err)
}

// DismountDatabase dismounts a database.
func (c *Client) DismountDatabase(ctx context.Context, database string) error {
	op, err := OpDismountDatabase(database)
	return c.write(ctx, op, err)
}

// MoveActiveDatabases moves every active copy off server.
func (c *Client) MoveActiveDatabases(ctx context.Context, server string) error {
	op, err := OpMoveActiveDatabases(server)
	return c.write(ctx, op, err)
}

// MoveActiveDatabase activates database on target.
func (c *Client) MoveActiveDatabase(ctx context.Context, database, target string) error {
	op, err := OpMoveActiveDatabase(database, target)
	return c.write(ctx, op, err)
}

// MailboxServer reads server's Get-MailboxServer settings.
func (c *Client) MailboxServer(ctx context.Context, server string) (MailboxServer, error) {
	op, err := OpMailboxServer(server)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return MailboxServer{}, err
	}
	return decodeOne[MailboxServer](op.Cmdlet, "server", out)
}

// SetMailboxServer changes the settings that are not nil.
func (c *Client) SetMailboxServer(ctx context.Context, server string, s MailboxServerSettings) error {
	op, err := OpSetMailboxServer(server, s)
	return c.write(ctx, op, err)
}

// ClusterNodes lists the cluster's nodes.
func (c *Client) ClusterNodes(ctx context.Context) ([]ClusterNode, error) {
	out, err := c.Exec(ctx, OpClusterNodes())
	if err != nil {
		return nil, err
	}
	return decodeRows[ClusterNode]("Get-ClusterNode", out)
}

// SuspendClusterNode pauses node.
func (c *Client) SuspendClusterNode(ctx context.Context, node string) error {
	op, err := OpSuspendClusterNode(node)
	return c.write(ctx, op, err)
}

// ResumeClusterNode resumes node.
func (c *Client) ResumeClusterNode(ctx context.Context, node string) error {
	op, err := OpResumeClusterNode(node)
	return c.write(ctx, op, err)
}

// DAG reads a DAG's status.
func (c *Client) DAG(ctx context.Context, name string) (DAG, error) {
	op, err := OpDAG(name)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return DAG{}, err
	}
	r, err := decodeOne[dagRow](op.Cmdlet, "DAG", out)
	return DAG{Name: r.Name, Servers: r.Servers, StoppedMailboxServers: r.StoppedMailboxServers, PrimaryActiveManager: r.PrimaryActiveManager, WitnessShareInUse: r.WitnessShareInUse}, err
}

// ExchangeServers lists the organisation's Exchange servers.
func (c *Client) ExchangeServers(ctx context.Context) ([]ExchangeServer, error) {
	out, err := c.Exec(ctx, OpExchangeServers())
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows[exchangeServerRow]("Get-ExchangeServer", out)
	if err != nil {
		return nil, err
	}
	res := make([]ExchangeServer, len(rows))
	for i, r := range rows {
		res[i] = ExchangeServer{Name: r.Name, Fqdn: r.Fqdn, Site: r.Site, ServerRole: r.ServerRole, AdminDisplayVersion: r.AdminDisplayVersion,
			IsMemberOfCluster: strings.EqualFold(r.IsMemberOfCluster, "Yes") || strings.EqualFold(r.IsMemberOfCluster, "True")}
	}
	return res, nil
}

// ServiceHealth runs Test-ServiceHealth on server.
func (c *Client) ServiceHealth(ctx context.Context, server string) ([]ServiceHealth, error) {
	op, err := OpServiceHealth(server)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows[serviceHealthRow](op.Cmdlet, out)
	if err != nil {
		return nil, err
	}
	res := make([]ServiceHealth, len(rows))
	for i, r := range rows {
		res[i] = ServiceHealth{Role: r.Role, RequiredServicesRunning: r.RequiredServicesRunning, ServicesNotRunning: r.ServicesNotRunning}
	}
	return res, nil
}

// Services reads Windows services by name.
func (c *Client) Services(ctx context.Context, names ...string) ([]Service, error) {
	op, err := OpServices(names...)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return nil, err
	}
	return decodeRows[Service](op.Cmdlet, out)
}

// RestartService restarts a Windows service.
func (c *Client) RestartService(ctx context.Context, name string) error {
	op, err := OpRestartService(name)
	return c.write(ctx, op, err)
}

// SetupRunning reports whether Exchange setup runs on the host.
func (c *Client) SetupRunning(ctx context.Context) (bool, error) {
	op := OpSetupRunning()
	out, err := c.Exec(ctx, op)
	if err != nil {
		return false, err
	}
	return decodeBool(op.Cmdlet, out)
}

// LastBootUpTime is the host's last boot, UTC.
func (c *Client) LastBootUpTime(ctx context.Context) (time.Time, error) {
	op := OpLastBootUpTime()
	out, err := c.Exec(ctx, op)
	if err != nil {
		return time.Time{}, err
	}
	var r struct{ LastBootUpTime isoTime }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return time.Time{}, decodeError(op.Cmdlet, out, err)
	}
	if time.Time(r.LastBootUpTime).IsZero() {
		return time.Time{}, decodeError(op.Cmdlet, out, errors.New("no LastBootUpTime"))
	}
	return time.Time(r.LastBootUpTime), nil
}

// RestartComputer asks the host to reboot and drops the session (the host is going down). When the reply is
// lost (the host went down first) the error wraps ErrSessionLost: the caller verifies through LastBootUpTime.
func (c *Client) RestartComputer(ctx context.Context) error {
	err := c.write(ctx, OpRestartComputer(), nil)
	c.sem <- struct{}{}
	if c.sess != nil {
		c.dropSession()
		c.stats.SessionsLost-- // a planned end, not a loss
	}
	<-c.sem
	return err
}

// StartJob starts command detached on the host.
func (c *Client) StartJob(ctx context.Context, id, command string) (Job, error) {
	op, err := OpStartJob(id, command)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return Job{}, err
	}
	var r struct{ Id int64 } //nolint:revive // the JSON key
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return Job{}, decodeError(op.Cmdlet, out, err)
	}
	if r.Id <= 0 {
		return Job{}, decodeError(op.Cmdlet, out, errors.New("no process id"))
	}
	return Job{ID: id, PID: r.Id, Started: time.Now(), Running: true}, nil
}

// ErrJobLost means a detached job neither runs nor left an exit code (a reboot killed it).
const ErrJobLost = sentinel.Error("job is not running and left no exit code")

// PollJob reads job's state.
func (c *Client) PollJob(ctx context.Context, job Job) (Job, error) {
	op, err := OpPollJob(job.ID, job.PID)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return job, err
	}
	var r jobRow
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return job, decodeError(op.Cmdlet, out, err)
	}
	if r.Log != nil {
		job.Output = strings.TrimPrefix(*r.Log, "\ufeff")
	}
	switch {
	case r.Exit != nil:
		code, err := parseExitFile(*r.Exit)
		if err != nil {
			return job, decodeError(op.Cmdlet, out, fmt.Errorf("exit file: %w", err))
		}
		job.Running, job.ExitCode = false, code
	case r.Running:
		job.Running = true
	default:
		job.Running = false
		return job, fmt.Errorf("job %s (pid %d) on %s: %w", job.ID, job.PID, c.ep.Name, ErrJobLost)
	}
	return job, nil
}

// Run executes a short configured command in the session.
func (c *Client) Run(ctx context.Context, command string) (CommandResult, error) {
	op, err := OpRun(command)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return CommandResult{}, err
	}
	var r runRow
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return CommandResult{}, decodeError(op.Cmdlet, out, err)
	}
	return CommandResult{ExitCode: int(r.ExitCode), Output: strings.Join(r.Output, "\n")}, nil
}
