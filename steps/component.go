package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/sentinel"
)

// componentStep sets one server component's state for the Maintenance requester and restores the
// Maintenance requester's previous state on Undo. Other requesters' entries are never touched here (exit
// reports or fixes them, see exit.go).
type componentStep struct {
	name, component, state string
	// restartOnUndo restarts the transport services after the undo, as Microsoft's exit does after
	// HubTransport Active (the state takes effect at once instead of at the next health probe).
	restartOnUndo bool
	describe      string
}

type componentOrig struct {
	Component string `json:"component"`
	State     string `json:"state"` // the Maintenance requester's state before: Active when it had none
	// Absent: the server has no such component (UMCallRouter on 2019/SE, HighAvailability on some builds);
	// the step is skipped with a warning, as Microsoft's scripts skip it, not a reason to reverse.
	Absent bool `json:"absent,omitempty"`
}

// errComponentAbsent: Get-ServerComponentState does not list the component on this server.
const errComponentAbsent = sentinel.Error("component not present on this server")

func (s componentStep) Name() string     { return s.name }
func (s componentStep) Describe() string { return s.describe }

// maintenanceState is the Maintenance requester's state of component (Active if it has no entry).
func maintenanceState(ctx context.Context, env *Env, component string) (string, exchange.ComponentState, error) {
	comps, err := env.Ex.ComponentStates(ctx, env.Target.Server)
	if err != nil {
		return "", exchange.ComponentState{}, err
	}
	for _, c := range comps {
		if !strings.EqualFold(c.Component, component) {
			continue
		}
		for _, r := range c.Requesters() {
			if strings.EqualFold(r.Requester, "Maintenance") {
				return r.State, c, nil
			}
		}
		return "Active", c, nil
	}
	return "", exchange.ComponentState{}, fmt.Errorf("component %s on %s: %w", component, env.Target.Server, errComponentAbsent)
}

func (s componentStep) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	st, _, err := maintenanceState(ctx, env, s.component)
	if errors.Is(err, errComponentAbsent) {
		w := fmt.Sprintf("%s has no %s component (Exchange 2019 and SE have no Unified Messaging): step %s skipped", env.Target.Server, s.component, s.name)
		env.Logger.Warn(w, "server", env.Target.Server, "step", s.name)
		env.warnings = append(env.warnings, w)
		return encodeOrig(componentOrig{Component: s.component, Absent: true})
	}
	if err != nil {
		return nil, err
	}
	return encodeOrig(componentOrig{Component: s.component, State: st})
}

// absent reports whether orig recorded the component as not present on the server.
func absent(name string, orig json.RawMessage) bool {
	o, err := decodeOrig[componentOrig](name, orig)
	return err == nil && o.Absent
}

func (s componentStep) Do(ctx context.Context, env *Env, orig json.RawMessage) error {
	if absent(s.name, orig) {
		return nil
	}
	return env.Ex.SetComponentState(ctx, env.Target.Server, s.component, s.state, "Maintenance")
}

func (s componentStep) Verify(ctx context.Context, env *Env, orig json.RawMessage) error {
	if absent(s.name, orig) {
		return nil
	}
	return s.expect(ctx, env, s.state)
}

func (s componentStep) expect(ctx context.Context, env *Env, want string) error {
	return converged(ctx, env, func(ctx context.Context) (string, error) {
		got, c, err := maintenanceState(ctx, env, s.component)
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(got, want) {
			return fmt.Sprintf("%s is %s for requester Maintenance (effective %s), want %s", s.component, got, c.State, want), nil
		}
		return "", nil
	})
}

func (s componentStep) Undo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[componentOrig](s.name, orig)
	if err != nil {
		return err
	}
	if o.Absent {
		return nil
	}
	if err := env.Ex.SetComponentState(ctx, env.Target.Server, s.component, o.State, "Maintenance"); err != nil {
		return err
	}
	if s.restartOnUndo {
		return restartServices(ctx, env)
	}
	return nil
}

func (s componentStep) VerifyUndo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[componentOrig](s.name, orig)
	if err != nil {
		return err
	}
	if o.Absent {
		return nil
	}
	return s.expect(ctx, env, o.State)
}

// restartServices restarts the transport services and checks they run.
func restartServices(ctx context.Context, env *Env) error {
	for _, svc := range env.Settings.TransportServices {
		if err := env.Ex.RestartService(ctx, svc); err != nil {
			return err
		}
	}
	return servicesRunning(ctx, env, env.Settings.TransportServices)
}

func servicesRunning(ctx context.Context, env *Env, names []string) error {
	svcs, err := env.Ex.Services(ctx, names...)
	if err != nil {
		return err
	}
	var down []string
	for _, n := range names {
		ok := false
		for _, s := range svcs {
			if strings.EqualFold(s.Name, n) && s.Status == "Running" {
				ok = true
			}
		}
		if !ok {
			down = append(down, n)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("services not running: %s", strings.Join(down, ", "))
	}
	return nil
}
