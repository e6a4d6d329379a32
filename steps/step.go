package steps

import (
	"context"
	"encoding/json"
	"fmt"
)

// Step is one reversible change. The runner calls Record (and journals the result) before Do, and Verify
// after it; on a reverse, Undo then VerifyUndo with the recorded values. Do and Undo are idempotent: after a
// crash either may run again on a server where it already happened.
type Step interface {
	Name() string
	// Describe says in one line what Do changes (exmaintd plan).
	Describe() string
	// Record reads the values the step will change (nil: nothing to restore).
	Record(ctx context.Context, env *Env) (json.RawMessage, error)
	Do(ctx context.Context, env *Env, orig json.RawMessage) error
	// Verify reads back that Do took effect.
	Verify(ctx context.Context, env *Env, orig json.RawMessage) error
	// Undo restores orig; VerifyUndo reads back that it did.
	Undo(ctx context.Context, env *Env, orig json.RawMessage) error
	VerifyUndo(ctx context.Context, env *Env, orig json.RawMessage) error
}

// StepError names the server and step that failed and the phase (record, do, verify, undo, verify-undo).
type StepError struct {
	Server, Step, Phase string
	Err                 error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s: step %s: %s: %v", e.Server, e.Step, e.Phase, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

func decodeOrig[T any](step string, orig json.RawMessage) (T, error) {
	var v T
	if len(orig) == 0 {
		return v, fmt.Errorf("step %s: no recorded original values", step)
	}
	if err := json.Unmarshal(orig, &v); err != nil {
		return v, fmt.Errorf("step %s: recorded values %s: %w", step, orig, err)
	}
	return v, nil
}

func encodeOrig(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	return b, err
}
