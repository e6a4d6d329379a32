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

// invoke runs an Exchange operation whose construction may have failed.
func (c *Client) invoke(ctx context.Context, op Op, err error) ([]any, error) {
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", op.Cmdlet, c.ep.Name, err)
	}
	return c.Invoke(ctx, op)
}

func (c *Client) write(ctx context.Context, op Op, err error) error {
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op.Cmdlet, c.ep.Name, err)
	}
	if op.Command != nil {
		_, err = c.Invoke(ctx, op)
		return err
	}
	_, err = c.Exec(ctx, op)
	return err
}

// onServer names the server in a projection's error.
func (c *Client) onServer(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("on %s: %w", c.ep.Name, err)
}

// ComponentStates reads every component's state on server.
func (c *Client) ComponentStates(ctx context.Context, server string) ([]ComponentState, error) {
	op, err := OpComponentStates(server)
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return nil, err
	}
	res, err := projectComponentStates(out)
	return res, c.onServer(err)
}

// SetComponentState sets one component's state for one requester.
func (c *Client) SetComponentState(ctx context.Context, server, component, state, requester string) error {
	op, err := OpSetComponentState(server, component, state, requester)
	return c.write(ctx, op, err)
}

// Queues reads every transport queue on server.
func (c *Client) Queues(ctx context.Context, server string) ([]Queue, error) {
	op, err := OpQueues(server)
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return nil, err
	}
	res, err := projectQueues(out)
	return res, c.onServer(err)
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

// CopyStatus lists the database copies hosted on server, with each copy's activation preference and replay
// lag (from Get-MailboxDatabase).
func (c *Client) CopyStatus(ctx context.Context, server string) ([]CopyStatus, error) {
	op, err := OpCopyStatus(server)
	sop, serr := OpDatabaseSettings("server", server)
	return c.copies(ctx, op, err, sop, serr)
}

func (c *Client) copies(ctx context.Context, op Op, err error, sop Op, serr error) ([]CopyStatus, error) {
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return nil, err
	}
	copies, err := projectCopies(out)
	if err != nil {
		return nil, c.onServer(err)
	}
	sout, err := c.invoke(ctx, sop, serr)
	if err != nil {
		return nil, err
	}
	settings, err := projectDatabaseSettings(sout)
	if err != nil {
		return nil, c.onServer(err)
	}
	for i := range copies {
		st := settings[strings.ToUpper(copies[i].DatabaseName)]
		srv := strings.ToUpper(copies[i].MailboxServer)
		copies[i].ActivationPreference = st.preference[srv]
		copies[i].ReplayLagTime = st.lag[srv]
	}
	return copies, nil
}

// DatabaseCopies lists every copy of database.
func (c *Client) DatabaseCopies(ctx context.Context, database string) ([]CopyStatus, error) {
	op, err := OpDatabaseCopies(database)
	sop, serr := OpDatabaseSettings("database", database)
	return c.copies(ctx, op, err, sop, serr)
}

// Databases lists the databases with a copy on server, with whether each holds any user or arbitration
// mailbox (a sample of one each).
func (c *Client) Databases(ctx context.Context, server string) ([]Database, error) {
	op, err := OpDatabases(server)
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return nil, err
	}
	dbs, err := projectDatabases(out)
	if err != nil {
		return nil, c.onServer(err)
	}
	for i := range dbs {
		for _, arbitration := range []bool{false, true} {
			mop, err := OpMailboxSample(dbs[i].Name, arbitration)
			sample, err := c.invoke(ctx, mop, err)
			if err != nil {
				return nil, err
			}
			dbs[i].Mailboxes += int64(len(sample))
		}
	}
	return dbs, nil
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
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return MailboxServer{}, err
	}
	res, err := projectMailboxServer(out, server)
	return res, c.onServer(err)
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

// CoreClusterGroup reads the cluster core group, whose owner is the DAG's Primary Active Manager.
func (c *Client) CoreClusterGroup(ctx context.Context) (ClusterGroup, error) {
	out, err := c.Exec(ctx, OpCoreClusterGroup())
	if err != nil {
		return ClusterGroup{}, err
	}
	rows, err := decodeRows[ClusterGroup]("Get-ClusterGroup", out)
	if err != nil {
		return ClusterGroup{}, err
	}
	if len(rows) != 1 {
		return ClusterGroup{}, fmt.Errorf("Get-ClusterGroup %q: %d groups, want 1", CoreClusterGroup, len(rows))
	}
	return rows[0], nil
}

// MoveCoreClusterGroup moves the cluster core group (and the Primary Active Manager) to node.
func (c *Client) MoveCoreClusterGroup(ctx context.Context, node string) error {
	op, err := OpMoveCoreClusterGroup(node)
	return c.write(ctx, op, err)
}

// DAG reads a DAG's status.
func (c *Client) DAG(ctx context.Context, name string) (DAG, error) {
	op, err := OpDAG(name)
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return DAG{}, err
	}
	res, err := projectDAG(out, name)
	return res, c.onServer(err)
}

// ExchangeServers lists the organisation's Exchange servers.
func (c *Client) ExchangeServers(ctx context.Context) ([]ExchangeServer, error) {
	out, err := c.Invoke(ctx, OpExchangeServers())
	if err != nil {
		return nil, err
	}
	res, err := projectExchangeServers(out)
	return res, c.onServer(err)
}

// ServiceHealth runs Test-ServiceHealth on server.
func (c *Client) ServiceHealth(ctx context.Context, server string) ([]ServiceHealth, error) {
	op, err := OpServiceHealth(server)
	out, err := c.invoke(ctx, op, err)
	if err != nil {
		return nil, err
	}
	res, err := projectServiceHealth(out)
	return res, c.onServer(err)
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

// Installers reads which installers are active on the host (OpInstallers).
func (c *Client) Installers(ctx context.Context) (Installers, error) {
	op := OpInstallers()
	out, err := c.Exec(ctx, op)
	if err != nil {
		return Installers{}, err
	}
	var r Installers
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return Installers{}, decodeError(op.Cmdlet, out, err)
	}
	return r, nil
}

// ServerTime reads the host's clock, UTC (OpServerTime).
func (c *Client) ServerTime(ctx context.Context) (time.Time, error) {
	op := OpServerTime()
	out, err := c.Exec(ctx, op)
	if err != nil {
		return time.Time{}, err
	}
	var r struct{ LocalDateTime isoTime }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return time.Time{}, decodeError(op.Cmdlet, out, err)
	}
	if time.Time(r.LocalDateTime).IsZero() {
		return time.Time{}, decodeError(op.Cmdlet, out, errors.New("no LocalDateTime"))
	}
	return time.Time(r.LocalDateTime), nil
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

// RestartComputer asks the host to restart delay from now (OpRestartComputer) and drops the session (the
// host is going down). When the reply is lost (the host went down first) the error wraps ErrSessionLost:
// the caller verifies through LastBootUpTime. A shutdown already in progress (1115) counts as requested.
func (c *Client) RestartComputer(ctx context.Context, delay time.Duration) error {
	op, err := OpRestartComputer(delay)
	out, err := c.read(ctx, op, err)
	if err == nil {
		err = restartResult(c.ep.Name, op.Cmdlet, out)
	}
	c.sem <- struct{}{}
	if c.sess != nil {
		c.dropSession()
		c.stats.SessionsLost-- // a planned end, not a loss
	}
	if c.pool != nil && c.onOwnEndpoint() { // IIS goes down with the host: a pool on its own endpoint is gone too
		c.dropPool()
		c.stats.PoolsLost--
	}
	<-c.sem
	return err
}

// restartResult reads shutdown.exe's answer: 0, or 1115 (a shutdown already in progress: the host is
// going down anyway), is a restart requested; any other exit code is the error, with what it printed.
func restartResult(server, cmdlet, out string) error {
	var r runRow
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return decodeError(cmdlet, out, err)
	}
	if r.ExitCode != 0 && r.ExitCode != shutdownInProgress {
		return fmt.Errorf("%s on %s: exit code %d: %s", cmdlet, server, r.ExitCode, strings.Join(r.Output, " "))
	}
	return nil
}

// StartJob registers command as job id's scheduled task on the host and starts it (OpStartJob).
func (c *Client) StartJob(ctx context.Context, id, command string, spec TaskSpec) (Job, error) {
	op, err := OpStartJob(id, command, spec)
	out, err := c.read(ctx, op, err)
	if err != nil {
		return Job{}, err
	}
	var r struct{ Task string }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return Job{}, decodeError(op.Cmdlet, out, err)
	}
	if r.Task == "" {
		return Job{}, decodeError(op.Cmdlet, out, errors.New("no task name"))
	}
	return Job{ID: id, Task: r.Task, Started: time.Now(), Running: true}, nil
}

// ErrJobLost means a detached job neither runs nor left an exit code: its task is gone, or its instance
// ended without writing one (a reboot terminated it).
const ErrJobLost = sentinel.Error("job is not running and left no exit code")

// Task Scheduler results that mean an instance has not finished: it has not started yet, or it runs.
const (
	taskHasNotRun = 0x41303 // SCHED_S_TASK_HAS_NOT_RUN
	taskRunning   = 0x41301 // SCHED_S_TASK_RUNNING
)

// PollJob reads job's state from its task and files. A job that is Running, Queued, or Ready but not yet
// started runs; one with an exit file is done with that code; anything else is ErrJobLost, naming the
// task's last result.
func (c *Client) PollJob(ctx context.Context, job Job) (Job, error) {
	op, err := OpPollJob(job.ID)
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
	if r.LastResult != nil {
		job.LastResult = *r.LastResult
	}
	job.State, job.Registered = r.State, r.Exists
	switch {
	case r.Exit != nil:
		code, err := parseExitFile(*r.Exit)
		if err != nil {
			return job, decodeError(op.Cmdlet, out, fmt.Errorf("exit file: %w", err))
		}
		job.Running, job.ExitCode = false, code
	case r.Exists && (r.State == "Running" || r.State == "Queued" || r.LastResult != nil && (*r.LastResult == taskHasNotRun || *r.LastResult == taskRunning)):
		job.Running = true
	case !r.Exists:
		job.Running = false
		return job, fmt.Errorf("job %s: task %s on %s is not registered: %w", job.ID, job.Task, c.ep.Name, ErrJobLost)
	default:
		job.Running = false
		return job, fmt.Errorf("job %s: task %s on %s is %s with last result %#x and wrote no exit code: %w", job.ID, job.Task, c.ep.Name, r.State, job.LastResult, ErrJobLost)
	}
	return job, nil
}

// RemoveJob unregisters job's task once it is done.
func (c *Client) RemoveJob(ctx context.Context, job Job) error {
	op, err := OpRemoveJob(job.ID)
	_, err = c.read(ctx, op, err)
	return err
}

// PendingReboot reads whether the host waits for a restart (OpPendingReboot).
func (c *Client) PendingReboot(ctx context.Context) (PendingReboot, error) {
	op := OpPendingReboot()
	out, err := c.read(ctx, op, nil)
	if err != nil {
		return PendingReboot{}, err
	}
	var r PendingReboot
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return PendingReboot{}, decodeError(op.Cmdlet, out, err)
	}
	return r, nil
}

// Run executes a short configured command in the session, within timeout (the client's WriteTimeout when
// 0).
func (c *Client) Run(ctx context.Context, command string, timeout time.Duration) (CommandResult, error) {
	op, err := OpRun(command)
	op.Timeout = timeout // the command's own bound, not the client's WriteTimeout
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
