package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// GateFailure is a failed gate: which gate, on which server, and why.
type GateFailure struct {
	Server, Gate, Reason string
	Err                  error // set when the gate could not be evaluated (result "error")
}

func (e *GateFailure) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: gate %s could not be checked: %v", e.Server, e.Gate, e.Err)
	}
	return fmt.Sprintf("%s: gate %s failed: %s", e.Server, e.Gate, e.Reason)
}

func (e *GateFailure) Unwrap() error { return e.Err }

// PreGate is an extra check before a server starts, e.g. the Prometheus alert gate of package alerting.
type PreGate interface {
	Name() string
	Check(ctx context.Context, t Target) error
}

// check runs one gate, reports it to the observer and the journal (with what it read, or why it failed)
// and wraps its failure.
func check(ctx context.Context, env *Env, gate string, f func(context.Context) (string, error)) error {
	reason, err := f(ctx)
	result, detail := GatePass, env.gateRead[gate]
	delete(env.gateRead, gate)
	if err != nil {
		result, detail = GateError, err.Error()
	} else if reason != "" {
		result, detail = GateFail, reason
	}
	env.Observer.GateChecked(env.Target.Server, gate, result)
	if env.journalGate != nil {
		env.journalGate(gate, result, detail)
	}
	if err != nil {
		env.Logger.Warn("gate", "server", env.Target.Server, "gate", gate, "result", result, "err", err)
		return &GateFailure{Server: env.Target.Server, Gate: gate, Err: err}
	}
	if reason != "" {
		env.Logger.Warn("gate", "server", env.Target.Server, "gate", gate, "result", result, "reason", reason)
		return &GateFailure{Server: env.Target.Server, Gate: gate, Reason: reason}
	}
	env.Logger.Debug("gate", "server", env.Target.Server, "gate", gate, "result", result)
	return nil
}

// queueGate: no more than QueueMax messages queued (Microsoft's filter), exported as metrics.
func queueGate(ctx context.Context, env *Env) (string, error) {
	s, err := readQueues(ctx, env)
	if err != nil {
		return "", err
	}
	env.readFor("queues", fmt.Sprintf("%d active (max %d), %d poison, %d shadow", s.Active, env.Settings.QueueMax, s.Poison, s.Shadow))
	if s.Active > env.Settings.QueueMax {
		return fmt.Sprintf("%d messages queued (limit %d)", s.Active, env.Settings.QueueMax), nil
	}
	return "", nil
}

// copyGate: every database with a copy on the server is mounted somewhere (unless this run dismounted it
// on purpose), and the server's copies are healthy (no failed copy; copy and replay queues under the
// thresholds, lagged copies exempt from the replay one).
func copyGate(ctx context.Context, env *Env) (string, error) {
	cs, err := env.Ex.CopyStatus(ctx, env.Target.Server)
	if err != nil {
		return "", err
	}
	var problems []string
	var maxCQ, maxRQ int64
	unhealthy := 0
	for _, c := range cs {
		maxCQ, maxRQ = max(maxCQ, c.CopyQueueLength), max(maxRQ, c.ReplayQueueLength)
		if p := copyProblem(env, c); p != "" && !env.down[strings.ToUpper(c.DatabaseName)] {
			unhealthy++
			problems = append(problems, p)
		}
	}
	env.Observer.Copies(env.Target.Server, maxCQ, maxRQ, unhealthy)
	env.readFor("copies", fmt.Sprintf("%d copies, %d unhealthy, worst copy/replay queue %d/%d (max %d/%d)",
		len(cs), unhealthy, maxCQ, maxRQ, env.Settings.CopyQueueMax, env.Settings.ReplayQueueMax))
	dbs, err := env.Ex.Databases(ctx, env.Target.Server)
	if err != nil {
		return "", err
	}
	for _, d := range dbs {
		if !d.Mounted && !env.down[strings.ToUpper(d.Name)] {
			problems = append(problems, fmt.Sprintf("database %s is not mounted anywhere", d.Name))
		}
	}
	return strings.Join(problems, "; "), nil
}

func copyProblem(env *Env, c exchange.CopyStatus) string {
	switch {
	case c.ActiveCopy || c.Status == "Mounted":
		return ""
	case strings.HasPrefix(c.Status, "Failed") || c.Status == "ServiceDown" || c.Status == "Dismounted":
		return fmt.Sprintf("copy %s is %s", c.Name, c.Status)
	case c.CopyQueueLength >= env.Settings.CopyQueueMax:
		return fmt.Sprintf("copy %s has CopyQueueLength %d (limit %d)", c.Name, c.CopyQueueLength, env.Settings.CopyQueueMax)
	case c.ReplayLagTime == 0 && c.ReplayQueueLength >= env.Settings.ReplayQueueMax:
		return fmt.Sprintf("copy %s has ReplayQueueLength %d (limit %d)", c.Name, c.ReplayQueueLength, env.Settings.ReplayQueueMax)
	}
	return ""
}

// stepGates are the gates before and after every step.
func stepGates(ctx context.Context, env *Env) error {
	if err := check(ctx, env, "queues", func(ctx context.Context) (string, error) { return queueGate(ctx, env) }); err != nil {
		return err
	}
	return check(ctx, env, "copies", func(ctx context.Context) (string, error) { return copyGate(ctx, env) })
}

// PreGateOptions are the inputs of the checks before a server starts.
type PreGateOptions struct {
	Deadline      time.Time     // the window's hard end
	Estimate      time.Duration // how long this server is expected to take
	BackupMaxAge  time.Duration // 0: backups not checked
	DAGMembers    []string      // the other members of the server's DAG
	Extra         []PreGate     // e.g. the Prometheus alert gate
	SkipRedundant bool          // standalone: no redundancy check
	// All evaluates every gate and returns all failures (errors.Join) instead of stopping at the first:
	// exmaintd plan shows the whole verdict. The runner stops at the first, before any change.
	All bool
}

// preGates runs the checks before a server starts; the first failure stops the server's run before any change.
func preGates(ctx context.Context, env *Env, o PreGateOptions) error {
	srv := env.Target.Server
	gates := []struct {
		name string
		f    func(context.Context) (string, error)
	}{
		{"permissions", func(ctx context.Context) (string, error) {
			if _, err := env.Ex.ExchangeServers(ctx); err != nil { // a harmless read proves the account reaches Exchange
				return "", err
			}
			comps, err := env.Ex.ComponentStates(ctx, srv)
			if err != nil {
				return "", err
			}
			env.baseline = map[string]bool{}
			for _, c := range comps {
				for _, r := range c.Requesters() {
					if r.State == "Inactive" && !strings.EqualFold(r.Requester, "Maintenance") {
						env.baseline[c.Component+"/"+r.Requester] = true
					}
				}
			}
			return "", nil
		}},
		{"time_left", func(context.Context) (string, error) {
			if o.Deadline.IsZero() {
				return "", nil
			}
			if left := o.Deadline.Sub(env.Clock.Now()); left < o.Estimate {
				return fmt.Sprintf("%v left in the window, this server needs about %v", left.Round(time.Second), o.Estimate), nil
			}
			return "", nil
		}},
		{"setup", func(ctx context.Context) (string, error) {
			in, err := env.Ex.Installers(ctx)
			if a := in.Active(); err == nil && len(a) > 0 {
				return "an installer is at work: " + strings.Join(a, ", "), nil
			}
			return "", err
		}},
		{"pending_reboot", func(ctx context.Context) (string, error) {
			if env.Settings.AllowPendingReboot {
				return "", nil
			}
			p, err := env.Ex.PendingReboot(ctx)
			if r := p.Reasons(); err == nil && len(r) > 0 {
				return fmt.Sprintf("a restart is already pending from before the window (%s); restart the server outside "+
					"the window or set steps.allow_pending_reboot = true", strings.Join(r, ", ")), nil
			}
			return "", err
		}},
		{"dag_members", func(ctx context.Context) (string, error) { return dagMembersGate(ctx, env, o.DAGMembers) }},
		{"redundancy", func(ctx context.Context) (string, error) {
			return redundancyGate(ctx, env, minHealthyCopies(env, o.DAGMembers))
		}},
		{"backup", func(ctx context.Context) (string, error) { return backupGate(ctx, env, o.BackupMaxAge) }},
		{"queues", func(ctx context.Context) (string, error) { return queueGate(ctx, env) }},
		{"copies", func(ctx context.Context) (string, error) { return copyGate(ctx, env) }},
	}
	var failed []error
	for _, g := range gates {
		if err := check(ctx, env, g.name, g.f); err != nil {
			if !o.All {
				return err
			}
			failed = append(failed, err)
		}
	}
	for _, g := range o.Extra {
		if err := check(ctx, env, g.Name(), func(ctx context.Context) (string, error) {
			if err := g.Check(ctx, env.Target); err != nil {
				var ge *GateFailure
				if asGateError(err, &ge) && ge.Err == nil {
					return ge.Reason, nil
				}
				return "", err
			}
			return "", nil
		}); err != nil {
			if !o.All {
				return err
			}
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	env.Logger.Info("pre-gates passed", "server", srv)
	return nil
}

// dagMembersGate: every cluster node is Up (a paused or down peer means this server's copies are the
// redundancy, and quorum has one vote less to lose), Exchange lists no stopped member, the file share
// witness is usable (WitnessShareInUse InvalidConfiguration: the cluster may lose quorum when this node
// goes — Justin Beeden's DAG scripts refuse then), and no other member is in maintenance (ServerWideOffline
// or HubTransport not Active).
func dagMembersGate(ctx context.Context, env *Env, members []string) (string, error) {
	if env.Target.DAG == "" {
		return "", nil
	}
	var problems []string
	dag, err := env.Ex.DAG(ctx, env.Target.DAG)
	if err != nil {
		return "", err
	}
	if dag.WitnessShareInUse == "InvalidConfiguration" {
		problems = append(problems, fmt.Sprintf("DAG %s: the file share witness is InvalidConfiguration (WitnessShareInUse)", env.Target.DAG))
	}
	if len(dag.StoppedMailboxServers) > 0 {
		problems = append(problems, fmt.Sprintf("DAG %s has stopped members: %s", env.Target.DAG, strings.Join(dag.StoppedMailboxServers, ", ")))
	}
	nodes, err := env.Ex.ClusterNodes(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if n.State != "Up" {
			problems = append(problems, fmt.Sprintf("cluster node %s is %s", n.Name, n.State))
		}
	}
	for _, m := range members {
		stopped := slices.ContainsFunc(dag.StoppedMailboxServers, func(s string) bool { return strings.EqualFold(s, m) })
		if strings.EqualFold(m, env.Target.Server) || stopped {
			continue // a stopped member is reported above and cannot be asked
		}
		comps, err := env.Ex.ComponentStates(ctx, m)
		if err != nil {
			return "", err
		}
		if !effectiveActive(comps, "ServerWideOffline") || !effectiveActive(comps, "HubTransport") {
			problems = append(problems, m+" is in maintenance")
		}
	}
	return strings.Join(problems, "; "), nil
}

// minHealthyCopies is how many other healthy copies each database needs before a server may go: the
// configured redundancy_min_copies, else CheckDatabaseRedundancy.ps1's rule — 2 in a DAG of more than two
// members, 1 in a two-member DAG (where 2 cannot exist).
func minHealthyCopies(env *Env, dagMembers []string) int {
	if env.Settings.RedundancyMinCopies > 0 {
		return env.Settings.RedundancyMinCopies
	}
	members := len(dagMembers)
	if !slices.ContainsFunc(dagMembers, func(m string) bool { return strings.EqualFold(m, env.Target.Server) }) {
		members++ // DAGMembers may or may not list the server itself
	}
	if members > 2 {
		return 2
	}
	return 1
}

// redundancyGate: every replicated database on the server has at least want other healthy copies (Active
// Manager's first tier: Healthy or Mounted, CQ < 10, RQ < 50, not lagged, a usable content index), as
// Microsoft's CheckDatabaseRedundancy.ps1 counts them; recovery databases are skipped; on a DAG member no
// non-replicated database holds mailboxes (it would go down with the server).
func redundancyGate(ctx context.Context, env *Env, want int) (string, error) {
	dbs, err := env.Ex.Databases(ctx, env.Target.Server)
	if err != nil {
		return "", err
	}
	var problems []string
	for _, d := range dbs {
		if d.Recovery {
			continue
		}
		if d.ReplicationType != "Remote" {
			if env.Target.DAG != "" && d.Mailboxes > 0 {
				problems = append(problems, fmt.Sprintf("non-replicated database %s holds mailboxes", d.Name))
			}
			continue
		}
		copies, err := env.Ex.DatabaseCopies(ctx, d.Name)
		if err != nil {
			return "", err
		}
		healthy := 0
		for _, c := range copies {
			if strings.EqualFold(c.MailboxServer, env.Target.Server) {
				continue
			}
			// A lagged copy is never a move target, so it is no redundancy.
			ok := (c.Status == "Healthy" || c.Status == "Mounted") && c.ReplayLagTime == 0
			if ok && c.CopyQueueLength < env.Settings.CopyQueueMax && c.ReplayQueueLength < env.Settings.ReplayQueueMax && contentIndexUsable(c.ContentIndexState) {
				healthy++
			}
		}
		if healthy < want {
			problems = append(problems, fmt.Sprintf("database %s has %d other healthy, non-lagged copies (want %d)", d.Name, healthy, want))
		}
	}
	return strings.Join(problems, "; "), nil
}

// contentIndexUsable: Healthy, HealthyAndUpgrading, or NotApplicable — what Exchange 2019 and SE report,
// because their search index lives in the database (cunninghamp/Test-ExchangeServerHealth.ps1 PR #36). A
// gate that wanted Healthy would skip every 2019/SE DAG member.
func contentIndexUsable(state string) bool {
	switch state {
	case "Healthy", "HealthyAndUpgrading", "NotApplicable":
		return true
	}
	return false
}

func backupGate(ctx context.Context, env *Env, maxAge time.Duration) (string, error) {
	if maxAge <= 0 {
		return "", nil
	}
	dbs, err := env.Ex.Databases(ctx, env.Target.Server)
	if err != nil {
		return "", err
	}
	var problems []string
	now := env.Clock.Now()
	for _, d := range dbs {
		last := d.LastFullBackup
		if d.LastIncrementalBackup.After(last) {
			last = d.LastIncrementalBackup
		}
		if last.IsZero() {
			problems = append(problems, fmt.Sprintf("database %s has never been backed up", d.Name))
		} else if age := now.Sub(last); age > maxAge {
			problems = append(problems, fmt.Sprintf("database %s: last backup %v ago (limit %v)", d.Name, age.Round(time.Minute), maxAge))
		}
	}
	return strings.Join(problems, "; "), nil
}
