package org

import (
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

// Database moves as Active Manager makes them. Set-MailboxServer -DatabaseCopyActivationDisabledAndMoveNow
// $true returns at once and moves the server's active copies in the background, one database after another
// (every tool that uses it — Power-EXCH, the DAG scripts in exchange-maintenance.md §2 — then waits until
// nothing is mounted). Move-ActiveMailboxDatabase is synchronous and can be refused: no healthy copy to
// activate (Active Manager's best-copy selection), or move suppression — AmDbMoveMoveSuppressedBlackoutException
// after too many moves in a short time, which StartDagServerMaintenance.ps1 recognises by name and meets with
// a second attempt 60 s later. When the suppression ends is not documented: the move_suppressed fault
// refuses a set number of moves instead, and the background moves wait while any refusal is left (harsher:
// the client must make the moves itself).

// moveDelay is the time one background move takes.
func (g *Org) moveDelay() time.Duration {
	if d := g.sc.Timing.Move.Duration; d > 0 {
		return d
	}
	return 300 * time.Millisecond
}

// startMoves queues the background moves of every database mounted on s. Callers hold g.mu.
func (g *Org) startMoves(s *server, now time.Time) {
	at := now
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		if a := activeCopy(d); a != nil && a.server == strings.ToUpper(s.spec.Name) && d.moveAt.IsZero() {
			at = at.Add(g.moveDelay())
			d.moveAt = at
		}
	}
}

// finishMoves completes the background moves off s that are due. A move Active Manager refuses (move_fails,
// a suppression in force, no healthy copy) is dropped, as Active Manager drops it: the database stays
// mounted on s. Callers hold g.mu.
func (g *Org) finishMoves(s *server, now time.Time) {
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		a := activeCopy(d)
		if d.moveAt.IsZero() || now.Before(d.moveAt) || a == nil || a.server != strings.ToUpper(s.spec.Name) {
			continue
		}
		d.moveAt = time.Time{}
		if g.hasFault("move_fails", s.spec.Name) || g.suppression(s.spec.Name) != nil {
			continue
		}
		_ = g.moveActive(d, "")
	}
}

func activeCopy(d *database) *dbCopy {
	for _, c := range d.copies {
		if c.status == "Mounted" {
			return c
		}
	}
	return nil
}

// suppression is the move_suppressed fault in force for moves off server, if any refusal is left.
func (g *Org) suppression(server string) *Fault {
	for i, f := range g.faults {
		if f.Kind == "move_suppressed" && f.refusals > 0 && (f.Server == "" || strings.EqualFold(f.Server, server)) {
			return &g.faults[i]
		}
	}
	return nil
}

func activeManagerErr(msg string) *ps.Error {
	return &ps.Error{Message: msg, Category: "InvalidOperation", ErrorID: "AmDbActionWrapperException,Microsoft.Exchange.Management.SystemConfigurationTasks.MoveActiveMailboxDatabase"}
}

// refuseMove returns Active Manager's refusal of a move of d off server, or nil. A suppression refusal is
// used up.
func (g *Org) refuseMove(d *database, server string) *ps.Error {
	if g.hasFault("move_fails", server) {
		return activeManagerErr("An Active Manager operation failed. Error: The database action failed. Error: Operation failed with message: AmDbMoveMoveSuppressedBlackoutException: Move for database '" + d.spec.Name + "' was suppressed because too many moves happened recently.")
	}
	if f := g.suppression(server); f != nil {
		f.refusals--
		return activeManagerErr("An Active Manager operation failed. Error: The database action failed. Error: Operation failed with message: AmDbMoveMoveSuppressedBlackoutException: Move for database '" + d.spec.Name + "' was suppressed because too many moves happened recently.")
	}
	return nil
}

func moveActiveMailboxDatabase(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	if id := arg(inv, "Identity"); id != "" {
		d := g.dbs[strings.ToUpper(id)]
		if d == nil {
			return nil, notFound("Move-ActiveMailboxDatabase", id)
		}
		if a := activeCopy(d); a != nil {
			if err := g.refuseMove(d, a.server); err != nil {
				return nil, err
			}
		}
		if err := g.moveActive(d, arg(inv, "ActivateOnServer")); err != nil {
			return nil, activeManagerErr(err.Error())
		}
		return nil, nil
	}
	srv := arg(inv, "Server")
	if g.lookup(srv) == nil {
		return nil, notFound("Move-ActiveMailboxDatabase", srv)
	}
	var errs []string
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		if a := activeCopy(d); a == nil || !strings.EqualFold(a.server, srv) {
			continue
		}
		if err := g.refuseMove(d, srv); err != nil {
			errs = append(errs, err.Message)
			continue
		}
		if err := g.moveActive(d, ""); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, activeManagerErr(strings.Join(errs, " "))
	}
	return nil, nil
}
