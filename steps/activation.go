package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/exmaintd/exmaintd/exchange"
)

// activationStep blocks database activation on the server: DatabaseCopyAutoActivationPolicy Blocked and,
// unless policyOnly, DatabaseCopyActivationDisabledAndMoveNow $true (which also moves mounted copies off).
// Undo restores the recorded values — IntrasiteOnly stays IntrasiteOnly (Microsoft's stop script would
// write Unrestricted).
type activationStep struct {
	name       string
	policyOnly bool
}

type activationOrig struct {
	Policy  string `json:"policy"`
	MoveNow bool   `json:"move_now"`
}

func (s activationStep) Name() string { return s.name }
func (s activationStep) Describe() string {
	if s.policyOnly {
		return "Set-MailboxServer -DatabaseCopyAutoActivationPolicy Blocked"
	}
	return "Set-MailboxServer -DatabaseCopyActivationDisabledAndMoveNow $true -DatabaseCopyAutoActivationPolicy Blocked"
}

func (s activationStep) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	ms, err := env.Ex.MailboxServer(ctx, env.Target.Server)
	if err != nil {
		return nil, err
	}
	return encodeOrig(activationOrig{Policy: ms.DatabaseCopyAutoActivationPolicy, MoveNow: ms.DatabaseCopyActivationDisabledAndMoveNow})
}

// target is what Do sets: Blocked, and MoveNow $true unless policy-only (which keeps the recorded MoveNow).
func (s activationStep) target(orig json.RawMessage) (activationOrig, error) {
	o, err := decodeOrig[activationOrig](s.name, orig)
	if err != nil {
		return activationOrig{}, err
	}
	t := activationOrig{Policy: "Blocked", MoveNow: true}
	if s.policyOnly {
		t.MoveNow = o.MoveNow
	}
	return t, nil
}

func (s activationStep) Do(ctx context.Context, env *Env, orig json.RawMessage) error {
	t, err := s.target(orig)
	if err != nil {
		return err
	}
	return set(ctx, env, t)
}

func set(ctx context.Context, env *Env, v activationOrig) error {
	p, m := v.Policy, v.MoveNow
	return env.Ex.SetMailboxServer(ctx, env.Target.Server, exchange.MailboxServerSettings{DatabaseCopyAutoActivationPolicy: &p, DatabaseCopyActivationDisabledAndMoveNow: &m})
}

func expectActivation(ctx context.Context, env *Env, want activationOrig) error {
	return converged(ctx, env, func(ctx context.Context) (string, error) {
		ms, err := env.Ex.MailboxServer(ctx, env.Target.Server)
		if err != nil {
			return "", err
		}
		if ms.DatabaseCopyAutoActivationPolicy != want.Policy || ms.DatabaseCopyActivationDisabledAndMoveNow != want.MoveNow {
			return fmt.Sprintf("activation policy %s, MoveNow %v; want %s, %v", ms.DatabaseCopyAutoActivationPolicy, ms.DatabaseCopyActivationDisabledAndMoveNow, want.Policy, want.MoveNow), nil
		}
		return "", nil
	})
}

func (s activationStep) Verify(ctx context.Context, env *Env, orig json.RawMessage) error {
	t, err := s.target(orig)
	if err != nil {
		return err
	}
	return expectActivation(ctx, env, t)
}

func (s activationStep) Undo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[activationOrig](s.name, orig)
	if err != nil {
		return err
	}
	return set(ctx, env, o)
}

func (s activationStep) VerifyUndo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[activationOrig](s.name, orig)
	if err != nil {
		return err
	}
	return expectActivation(ctx, env, o)
}
