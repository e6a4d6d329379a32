package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// verifyMaintenance checks the end state of entering maintenance the way ExchangeDsc's Test does: every
// component except Monitoring and RecoveryActionsEnabled is not Active, the cluster node is Paused and not
// the Primary Active Manager (DAG members), no message is queued (Microsoft's filter) and no database copy is active on the server.
type verifyMaintenance struct{}

func (verifyMaintenance) Name() string { return "verify-maintenance" }
func (verifyMaintenance) Describe() string {
	return "check: only Monitoring and RecoveryActionsEnabled Active, node Paused and not PAM, 0 queued, 0 active databases"
}
func (verifyMaintenance) Record(context.Context, *Env) (json.RawMessage, error) { return nil, nil }
func (verifyMaintenance) Do(context.Context, *Env, json.RawMessage) error       { return nil }

func (verifyMaintenance) Verify(ctx context.Context, env *Env, _ json.RawMessage) error {
	comps, err := env.Ex.ComponentStates(ctx, env.Target.Server)
	if err != nil {
		return err
	}
	var active []string
	for _, c := range comps {
		if c.State == "Active" && c.Component != "Monitoring" && c.Component != "RecoveryActionsEnabled" {
			active = append(active, c.Component)
		}
	}
	var problems []string
	if len(active) > 0 {
		problems = append(problems, "components still Active: "+strings.Join(active, ", "))
	}
	if env.Target.DAG != "" {
		if err := expectNode(ctx, env, "Paused"); err != nil {
			problems = append(problems, err.Error())
		}
		if err := notPAM(ctx, env); err != nil {
			problems = append(problems, err.Error())
		}
	}
	s, err := readQueues(ctx, env)
	if err != nil {
		return err
	}
	if s.Active > 0 {
		problems = append(problems, fmt.Sprintf("%d messages queued", s.Active))
	}
	if env.Target.DAG != "" {
		n, err := activeHere(ctx, env)
		if err != nil {
			return err
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%d database copies active", n))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("not fully in maintenance: %s", strings.Join(problems, "; "))
	}
	return nil
}
func (verifyMaintenance) Undo(context.Context, *Env, json.RawMessage) error       { return nil }
func (verifyMaintenance) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }
