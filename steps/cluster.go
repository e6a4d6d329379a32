package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// suspendClusterNode pauses the server's cluster node (Suspend-ClusterNode) and resumes it on Undo if it was
// Up before.
type suspendClusterNode struct{}

type nodeOrig struct {
	State string `json:"state"`
}

func (suspendClusterNode) Name() string { return "suspend-cluster-node" }
func (suspendClusterNode) Describe() string {
	return "Suspend-ClusterNode (the node stays out of quorum moves)"
}

func nodeState(ctx context.Context, env *Env) (string, error) {
	nodes, err := env.Ex.ClusterNodes(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if strings.EqualFold(n.Name, env.Target.Server) {
			return n.State, nil
		}
	}
	return "", fmt.Errorf("no cluster node %s", env.Target.Server)
}

func (suspendClusterNode) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	st, err := nodeState(ctx, env)
	if err != nil {
		return nil, err
	}
	return encodeOrig(nodeOrig{State: st})
}

func (suspendClusterNode) Do(ctx context.Context, env *Env, _ json.RawMessage) error {
	st, err := nodeState(ctx, env)
	if err != nil || st == "Paused" {
		return err
	}
	return env.Ex.SuspendClusterNode(ctx, env.Target.Server)
}

func expectNode(ctx context.Context, env *Env, want string) error {
	st, err := nodeState(ctx, env)
	if err != nil {
		return err
	}
	if st != want {
		return fmt.Errorf("cluster node %s is %s, want %s", env.Target.Server, st, want)
	}
	return nil
}

func (suspendClusterNode) Verify(ctx context.Context, env *Env, _ json.RawMessage) error {
	return expectNode(ctx, env, "Paused")
}

func (suspendClusterNode) Undo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[nodeOrig]("suspend-cluster-node", orig)
	if err != nil {
		return err
	}
	st, err := nodeState(ctx, env)
	if err != nil || o.State != "Up" || st != "Paused" {
		return err
	}
	return env.Ex.ResumeClusterNode(ctx, env.Target.Server)
}

func (suspendClusterNode) VerifyUndo(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[nodeOrig]("suspend-cluster-node", orig)
	if err != nil {
		return err
	}
	return expectNode(ctx, env, o.State)
}
