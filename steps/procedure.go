package steps

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Procedure is an ordered list of step names: the steps that put a server into maintenance. The patch and
// the reboot follow, then the steps' Undo in reverse brings the server back.
type Procedure struct {
	Name  string
	Steps []string
}

// Catalogue returns every step by name.
func Catalogue() map[string]Step {
	steps := []Step{
		componentStep{name: "hubtransport-draining", component: "HubTransport", state: "Draining", restartOnUndo: true,
			describe: "Set-ServerComponentState HubTransport Draining (Maintenance); undo: Active, then restart transport"},
		componentStep{name: "frontendtransport-draining", component: "FrontendTransport", state: "Draining",
			describe: "Set-ServerComponentState FrontendTransport Draining (Maintenance)"},
		componentStep{name: "umcallrouter-draining", component: "UMCallRouter", state: "Draining",
			describe: "Set-ServerComponentState UMCallRouter Draining (Maintenance); skipped with a warning where the component does not exist (2019, SE)"},
		componentStep{name: "highavailability-inactive", component: "HighAvailability", state: "Inactive",
			describe: "Set-ServerComponentState HighAvailability Inactive (Maintenance): no database activation here"},
		componentStep{name: "serverwideoffline-inactive", component: "ServerWideOffline", state: "Inactive",
			describe: "Set-ServerComponentState ServerWideOffline Inactive (Maintenance): every component but Monitoring and RecoveryActionsEnabled"},
		restartTransport{},
		redirectMessage{},
		drainQueues{},
		suspendClusterNode{},
		activationStep{name: "block-activation"},
		activationStep{name: "activation-blocked", policyOnly: true},
		moveActiveDatabases{},
		movePAM{},
		suspendCopies{},
		dismountDatabases{},
		verifyMaintenance{},
	}
	out := make(map[string]Step, len(steps))
	for _, s := range steps {
		out[s.Name()] = s
	}
	return out
}

// StepNames lists the catalogue's names, sorted (for error messages and docs).
func StepNames() []string {
	var names []string
	for n := range Catalogue() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// BuiltinProcedures are dag (Microsoft's order for DAG members, exchange-maintenance.md §1.1) and standalone.
func BuiltinProcedures() map[string]Procedure {
	return map[string]Procedure{
		"dag": {Name: "dag", Steps: []string{"hubtransport-draining", "umcallrouter-draining", "restart-transport", "redirect-message", "drain-queues",
			"suspend-cluster-node", "block-activation", "highavailability-inactive", "move-active-databases",
			"move-primary-active-manager", "serverwideoffline-inactive", "verify-maintenance"}},
		"standalone": {Name: "standalone", Steps: []string{"hubtransport-draining", "umcallrouter-draining", "restart-transport", "redirect-message", "drain-queues",
			"serverwideoffline-inactive"}},
	}
}

// SeedProcedure is the procedure of the how-to our users start from, as a custom list (config.example.toml
// shows it): Blocked → Suspend-MailboxDatabaseCopy → Dismount-Database → transport draining. It is an outage
// on a DAG member, so it is refused there without allow_outage.
func SeedProcedure() Procedure {
	return Procedure{Name: "seed", Steps: []string{"activation-blocked", "suspend-database-copies", "dismount-databases",
		"hubtransport-draining", "frontendtransport-draining"}}
}

// OutageRisk is implemented by steps that take service down for users on some targets.
type OutageRisk interface {
	OutageReason(t Target) string
}

// RefusedError is a procedure refused at plan time, with the reason.
type RefusedError struct {
	Procedure, Server, Step, Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("procedure %s refused on %s at step %s: %s", e.Procedure, e.Server, e.Step, e.Reason)
}

// Resolve turns the procedure into steps for target: unknown or repeated step names are errors, and a step
// that would cause an outage on this target is refused unless allowOutage.
func (p Procedure) Resolve(t Target, allowOutage bool) ([]Step, error) {
	cat := Catalogue()
	if len(p.Steps) == 0 {
		return nil, fmt.Errorf("procedure %s has no steps", p.Name)
	}
	var out []Step
	for i, name := range p.Steps {
		s, ok := cat[name]
		if !ok {
			return nil, fmt.Errorf("procedure %s step %d: unknown step %q (known: %s)", p.Name, i+1, name, strings.Join(StepNames(), ", "))
		}
		if slices.Contains(p.Steps[:i], name) {
			return nil, fmt.Errorf("procedure %s step %d: %q appears twice", p.Name, i+1, name)
		}
		if r, ok := s.(OutageRisk); ok && !allowOutage {
			if reason := r.OutageReason(t); reason != "" {
				return nil, &RefusedError{Procedure: p.Name, Server: t.Server, Step: name, Reason: reason}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Estimate is how long the procedure should take on one server: per step, the median of previous runs
// (journal.StepDurations) or def for a step never seen, plus the patch and the reboot.
func (p Procedure) Estimate(history map[string]time.Duration, def time.Duration) time.Duration {
	var total time.Duration
	for _, name := range append(slices.Clone(p.Steps), "patch", "reboot") {
		if d, ok := history[name]; ok {
			total += d
		} else {
			total += def
		}
	}
	// The exit undoes every step: count it as half of entering (it has no drain or move to wait for).
	return total + total/2
}
