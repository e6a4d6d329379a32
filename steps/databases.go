package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// moveActiveDatabases moves every active copy off the server and waits until none is mounted there, as
// StartDagServerMaintenance.ps1 does: first it waits for the moves DatabaseCopyActivationDisabledAndMoveNow
// started in the background (block-activation) while they make progress (move_settle without one ends the
// wait); then it switches over what remains with Move-ActiveMailboxDatabase -Server (Microsoft's
// Move-CriticalMailboxResources; the targets left to Active Manager's best-copy selection), move_attempts
// times move_retry_interval apart (Microsoft: 2 attempts, 60 s) — move suppression
// (AmDbMoveMoveSuppressedBlackoutException) and a copy not yet ready to be activated are named in the error.
// Moves are not undone (as in Microsoft's script); exit can rebalance.
type moveActiveDatabases struct{}

func (moveActiveDatabases) Name() string { return "move-active-databases" }
func (moveActiveDatabases) Describe() string {
	return "wait for the moves MoveNow started, then Move-ActiveMailboxDatabase -Server for what is still here (with retries)"
}
func (moveActiveDatabases) Record(context.Context, *Env) (json.RawMessage, error) { return nil, nil }

// activeDatabases lists the databases whose active copy is on the server.
func activeDatabases(ctx context.Context, env *Env) ([]string, error) {
	cs, err := env.Ex.CopyStatus(ctx, env.Target.Server)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		if c.ActiveCopy || c.Status == "Mounted" {
			out = append(out, c.DatabaseName)
		}
	}
	return out, nil
}

func activeHere(ctx context.Context, env *Env) (int64, error) {
	dbs, err := activeDatabases(ctx, env)
	return int64(len(dbs)), err
}

func (moveActiveDatabases) Do(ctx context.Context, env *Env, _ json.RawMessage) error {
	deadline := env.Clock.Now().Add(env.Settings.MoveTimeout)
	if err := settleMoves(ctx, env, deadline); err != nil {
		return err
	}
	if err := moveOff(ctx, env); err != nil {
		return err
	}
	return waitProgress(ctx, env, "move-active-databases", "active copies to move off", max(deadline.Sub(env.Clock.Now()), env.Settings.PollInterval), env.Settings.DrainStall, func(ctx context.Context) (int64, error) {
		return activeHere(ctx, env)
	})
}

// settleMoves waits while the background moves make progress: until nothing is active here, until
// move_settle passes without a database leaving, or until deadline.
func settleMoves(ctx context.Context, env *Env, deadline time.Time) error {
	best, lastProgress := int64(-1), env.Clock.Now()
	for {
		n, err := activeHere(ctx, env)
		if err != nil {
			return err
		}
		now := env.Clock.Now()
		if n == 0 {
			return nil
		}
		if best < 0 || n < best {
			best, lastProgress = n, now
		}
		if now.Sub(lastProgress) >= env.Settings.MoveSettle || !now.Before(deadline) {
			env.Logger.Info("moving the remaining databases one at a time", "server", env.Target.Server, "left", n)
			return nil
		}
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return fmt.Errorf("waiting for the background database moves: %w", ctx.Err())
		}
	}
}

// moveOff switches over what is still active on the server. The move names the server it leaves, not each
// database: Active Manager's background moves go on meanwhile, and a move of one database sent just after a
// background move of it finished would move it again, off the peer it has just reached — refused in a DAG of
// two ("no healthy copy", which once failed this step at random), a second switchover in a larger DAG.
// -Server moves what is active on the server when Active Manager handles the request.
func moveOff(ctx context.Context, env *Env) error {
	var refused error
	for attempt := 0; ; attempt++ {
		dbs, err := activeDatabases(ctx, env)
		if err != nil {
			return err
		}
		if len(dbs) == 0 {
			return nil // moved meanwhile (the background moves finished, or a refusal was partial)
		}
		if attempt == env.Settings.MoveAttempts {
			return fmt.Errorf("%s still active on %s after %d move attempts %v apart%s: %w", strings.Join(dbs, ", "), env.Target.Server, attempt, env.Settings.MoveRetryInterval, moveRefusal(refused), refused)
		}
		if attempt > 0 {
			env.Logger.Warn("database move refused; trying again", "server", env.Target.Server, "databases", dbs, "attempt", attempt, "retry_in", env.Settings.MoveRetryInterval, "reason", strings.TrimPrefix(moveRefusal(refused), ": "), "err", refused)
			if !env.Clock.Sleep(ctx, env.Settings.MoveRetryInterval) {
				return fmt.Errorf("moving databases off %s: %w", env.Target.Server, ctx.Err())
			}
		}
		if refused = env.Ex.MoveActiveDatabases(ctx, env.Target.Server); refused == nil {
			return nil // what the move leaves behind, the wait that follows sees
		}
	}
}

// moveRefusal names the two refusals Active Manager makes to a maintenance move that time can cure.
func moveRefusal(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "AmDbMoveMoveSuppressedBlackoutException"):
		return ": Active Manager suppressed the move because the database moved too often recently " +
			"(it lifts by itself; an administrator can move it with -SkipMoveSuppressionChecks)"
	case strings.Contains(msg, "validate the specified database copy") || strings.Contains(msg, "AmBcs"):
		return ": no other copy is ready to be activated (copy or replay queue, content index, or its server blocked)"
	}
	return ""
}

func (moveActiveDatabases) Verify(ctx context.Context, env *Env, _ json.RawMessage) error {
	n, err := activeHere(ctx, env)
	if err == nil && n > 0 {
		err = fmt.Errorf("%d database copies still active on %s", n, env.Target.Server)
	}
	return err
}
func (moveActiveDatabases) Undo(context.Context, *Env, json.RawMessage) error       { return nil }
func (moveActiveDatabases) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }

// suspendCopies suspends activation of the server's passive copies (Suspend-MailboxDatabaseCopy
// -ActivationOnly: replication continues) and resumes on Undo exactly those it suspended. The seed's list
// uses it; Microsoft's 2016+ procedure does not (HighAvailability Inactive replaces it).
type suspendCopies struct{}

type copiesOrig struct {
	Copies []string `json:"copies"` // copies this step suspends (passive, not already suspended)
}

func (suspendCopies) Name() string { return "suspend-database-copies" }
func (suspendCopies) Describe() string {
	return "Suspend-MailboxDatabaseCopy -ActivationOnly for each passive copy on the server"
}

func (suspendCopies) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	cs, err := env.Ex.CopyStatus(ctx, env.Target.Server)
	if err != nil {
		return nil, err
	}
	o := copiesOrig{Copies: []string{}}
	for _, c := range cs {
		if !c.ActiveCopy && !c.ActivationSuspended && !strings.HasPrefix(c.Status, "Suspended") {
			o.Copies = append(o.Copies, c.Name)
		}
	}
	return encodeOrig(o)
}

func (suspendCopies) Do(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[copiesOrig]("suspend-database-copies", orig)
	if err != nil {
		return err
	}
	for _, c := range o.Copies {
		if err := env.Ex.SuspendDatabaseCopy(ctx, c, true); err != nil {
			return err
		}
	}
	return nil
}

func copiesSuspended(ctx context.Context, env *Env, names []string, want bool) error {
	cs, err := env.Ex.CopyStatus(ctx, env.Target.Server)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if slices.Contains(names, c.Name) && c.ActivationSuspended != want {
			return fmt.Errorf("copy %s activation suspended = %v, want %v", c.Name, c.ActivationSuspended, want)
		}
	}
	return nil
}

func (suspendCopies) Verify(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[copiesOrig]("suspend-database-copies", orig)
	if err != nil {
		return err
	}
	return copiesSuspended(ctx, env, o.Copies, true)
}

func (suspendCopies) Undo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[copiesOrig]("suspend-database-copies", orig)
	if err != nil {
		return err
	}
	for _, c := range o.Copies {
		if err := env.Ex.ResumeDatabaseCopy(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (suspendCopies) VerifyUndo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[copiesOrig]("suspend-database-copies", orig)
	if err != nil {
		return err
	}
	return copiesSuspended(ctx, env, o.Copies, false)
}

// dismountDatabases dismounts the databases whose active copy is on the server and mounts them again on
// Undo. On a DAG member that is an outage for every user of those databases (exchange-maintenance.md §0):
// procedures refuse it at plan time unless allow_outage is set.
type dismountDatabases struct{}

type dismountOrig struct {
	Databases []string `json:"databases"` // mounted here before; dismounted by this step
}

func (dismountDatabases) Name() string { return "dismount-databases" }
func (dismountDatabases) Describe() string {
	return "Dismount-Database for each database mounted on the server (an outage for its users)"
}

// OutageReason makes dismount-databases refused at plan time on DAG members.
func (dismountDatabases) OutageReason(t Target) string {
	if t.DAG == "" {
		return ""
	}
	return fmt.Sprintf("dismount-databases on DAG member %s would take the active copy of every database mounted there offline — users lose access; the dag procedure switches copies over instead (set allow_outage = true to run it anyway)", t.Server)
}

func mountedHere(ctx context.Context, env *Env) ([]exchange.Database, error) {
	dbs, err := env.Ex.Databases(ctx, env.Target.Server)
	if err != nil {
		return nil, err
	}
	var out []exchange.Database
	for _, d := range dbs {
		if strings.EqualFold(d.Server, env.Target.Server) && d.Mounted {
			out = append(out, d)
		}
	}
	return out, nil
}

func (dismountDatabases) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	dbs, err := mountedHere(ctx, env)
	if err != nil {
		return nil, err
	}
	o := dismountOrig{Databases: []string{}}
	for _, d := range dbs {
		o.Databases = append(o.Databases, d.Name)
	}
	return encodeOrig(o)
}

func (dismountDatabases) Do(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[dismountOrig]("dismount-databases", orig)
	if err != nil {
		return err
	}
	for _, d := range o.Databases {
		env.expectDown(d, true)
		if err := env.Ex.DismountDatabase(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func mountState(ctx context.Context, env *Env, names []string, want bool) error {
	dbs, err := env.Ex.Databases(ctx, env.Target.Server)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		if slices.Contains(names, d.Name) && d.Mounted != want {
			return fmt.Errorf("database %s mounted = %v, want %v", d.Name, d.Mounted, want)
		}
	}
	return nil
}

func (dismountDatabases) Verify(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[dismountOrig]("dismount-databases", orig)
	if err != nil {
		return err
	}
	return mountState(ctx, env, o.Databases, false)
}

func (dismountDatabases) Undo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[dismountOrig]("dismount-databases", orig)
	if err != nil {
		return err
	}
	for _, d := range o.Databases {
		if err := env.Ex.MountDatabase(ctx, d); err != nil {
			return err
		}
		env.expectDown(d, false)
	}
	return nil
}

func (dismountDatabases) VerifyUndo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[dismountOrig]("dismount-databases", orig)
	if err != nil {
		return err
	}
	return mountState(ctx, env, o.Databases, true)
}
