package org

import (
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

// The failover cluster under each DAG. Its core group ("Cluster Group") belongs to one node, and that node
// is the DAG's Primary Active Manager (Get-DatabaseAvailabilityGroup -Status PrimaryActiveManager):
// StartDagServerMaintenance.ps1 moves it off a server before maintenance (DagCommonLibrary.ps1,
// Move-CriticalMailboxResources) and ExchangeDsc's maintenance Test wants the server not to be PAM. Pausing
// a node does not move the group; a node that goes down holding it makes the cluster fail it over — an
// unplanned PAM change, counted here so that a test can tell a planned move from one a reboot forced.

// coreGroup is the cluster core group's name in every Windows failover cluster.
const coreGroup = "Cluster Group"

// dagState is the cluster state of one DAG.
type dagState struct {
	pam string // owner of the cluster core group; "" while it is offline (no node was Up to take it)
	// unplannedPAM counts core-group failovers forced by the owner going down.
	unplannedPAM int
}

func (g *Org) resetDAGs() {
	g.dags = map[string]*dagState{}
	for _, d := range g.sc.DAGs {
		st := &dagState{pam: d.PAM}
		if members := g.dagMembers(d.Name); st.pam == "" && len(members) > 0 {
			st.pam = members[0].spec.Name
		}
		g.dags[strings.ToUpper(d.Name)] = st
	}
}

// holdsPAM reports whether s owns its DAG's core group.
func (g *Org) holdsPAM(s *server) bool {
	st := g.dags[strings.ToUpper(s.spec.DAG)]
	return st != nil && strings.EqualFold(st.pam, s.spec.Name)
}

// failOverPAM runs when s goes down: if it owned the core group, the cluster moves the group to the first
// other node that is Up (never to a paused node), or takes it offline when there is none. Callers hold g.mu.
func (g *Org) failOverPAM(s *server) {
	if !g.holdsPAM(s) {
		return
	}
	st := g.dags[strings.ToUpper(s.spec.DAG)]
	st.pam = ""
	for _, m := range g.dagMembers(s.spec.DAG) {
		if m != s && m.node == "Up" && m.downTil.IsZero() {
			st.pam = m.spec.Name
			break
		}
	}
	st.unplannedPAM++
	g.logger.Warn("cluster core group failed over: its owner went down holding it", "dag", s.spec.DAG, "from", s.spec.Name, "to", st.pam)
}

func clusterNodeObject(s *server) *ps.Object {
	o := ps.NewObject("Microsoft.FailoverClusters.PowerShell.ClusterNode", "Name", s.spec.Name, "State", nodeState(s.node))
	o.ToStringValue = s.spec.Name // [string]$group.OwnerNode is the node's name
	return o
}

func nodeState(st string) ps.Enum {
	return enum("Microsoft.FailoverClusters.PowerShell.ClusterNodeState", st, map[string]int64{"Up": 0, "Down": 1, "Paused": 2, "Joining": 3})
}

func (g *Org) clusterOf(inv ps.Invocation, cmdlet string) (string, error) {
	local := g.lookup(inv.Host)
	if local == nil || local.spec.DAG == "" {
		return "", &ps.Error{Message: "The cluster service is not running. Make sure that the service is running on all nodes in the cluster.", Category: "ConnectionError", ErrorID: "ClusterCmdletException," + cmdlet}
	}
	return local.spec.DAG, nil
}

func getClusterNode(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	dag, err := g.clusterOf(inv, "Get-ClusterNode")
	if err != nil {
		return nil, err
	}
	var out []any
	for _, s := range g.dagMembers(dag) {
		if n := arg(inv, "Name"); n != "" && !strings.EqualFold(n, s.spec.Name) {
			continue
		}
		o := clusterNodeObject(s)
		o.Props = append(o.Props, ps.Prop{Name: "Cluster", Value: dag})
		out = append(out, o)
	}
	if n := arg(inv, "Name"); n != "" && len(out) == 0 {
		return nil, nodeNotFound(n, "Get-ClusterNode")
	}
	return out, nil
}

func nodeNotFound(name, cmdlet string) *ps.Error {
	return &ps.Error{Message: fmt.Sprintf("The cluster node '%s' was not found.", name), Category: "ObjectNotFound", ErrorID: "ClusterObjectNotFoundException," + cmdlet}
}

func (g *Org) nodeArg(inv ps.Invocation, param, cmdlet string) (*server, error) {
	dag, err := g.clusterOf(inv, cmdlet)
	if err != nil {
		return nil, err
	}
	name := arg(inv, param)
	if name == "" {
		name = inv.Host
	}
	for _, s := range g.dagMembers(dag) {
		if strings.EqualFold(s.spec.Name, name) {
			return s, nil
		}
	}
	return nil, nodeNotFound(name, cmdlet)
}

func suspendClusterNode(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s, err := g.nodeArg(inv, "Name", "Suspend-ClusterNode")
	if err != nil {
		return nil, err
	}
	if s.node == "Up" {
		s.node = "Paused" // without -Drain nothing moves; with it only roles would, never the core group here
	}
	return []any{clusterNodeObject(s)}, nil
}

func resumeClusterNode(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s, err := g.nodeArg(inv, "Name", "Resume-ClusterNode")
	if err != nil {
		return nil, err
	}
	if s.node == "Paused" {
		s.node = "Up"
	}
	return []any{clusterNodeObject(s)}, nil
}

// clusterGroupObject is a Microsoft.FailoverClusters.PowerShell.ClusterGroup: the core group (owned by the
// PAM, Offline when no node holds it) or Available Storage (a DAG has no shared disks: always Offline).
func (g *Org) clusterGroupObject(dag, name string) *ps.Object {
	st := g.dags[strings.ToUpper(dag)]
	var owner any
	state := "Offline"
	if name == coreGroup && st.pam != "" {
		owner, state = clusterNodeObject(g.lookup(st.pam)), "Online"
	} else if name != coreGroup && st.pam != "" {
		owner = clusterNodeObject(g.lookup(st.pam))
	}
	o := ps.NewObject("Microsoft.FailoverClusters.PowerShell.ClusterGroup", "Name", name, "OwnerNode", owner,
		"State", enum("Microsoft.FailoverClusters.PowerShell.ClusterGroupState", state, map[string]int64{"Online": 0, "Offline": 1, "Failed": 2, "PartialOnline": 3, "Pending": 4}),
		"IsCoreGroup", name == coreGroup, "Cluster", dag)
	o.ToStringValue = name
	return o
}

func getClusterGroup(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	dag, err := g.clusterOf(inv, "Get-ClusterGroup")
	if err != nil {
		return nil, err
	}
	var out []any
	for _, name := range []string{coreGroup, "Available Storage"} {
		if n := arg(inv, "Name"); n == "" || strings.EqualFold(n, name) {
			out = append(out, g.clusterGroupObject(dag, name))
		}
	}
	if len(out) == 0 {
		return nil, &ps.Error{Message: fmt.Sprintf("The cluster group '%s' was not found.", arg(inv, "Name")), Category: "ObjectNotFound", ErrorID: "ClusterObjectNotFoundException,Get-ClusterGroup"}
	}
	return out, nil
}

// moveClusterGroup moves the core group to -Node, or without it to the first other node that is Up. A
// paused or down node cannot own a group: the cluster refuses (ERROR_CLUSTER_NODE_PAUSED 5070,
// ERROR_CLUSTER_NODE_DOWN 5050).
func moveClusterGroup(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	dag, err := g.clusterOf(inv, "Move-ClusterGroup")
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(arg(inv, "Name"), coreGroup) {
		return nil, &ps.Error{Message: fmt.Sprintf("The cluster group '%s' was not found.", arg(inv, "Name")), Category: "ObjectNotFound", ErrorID: "ClusterObjectNotFoundException,Move-ClusterGroup"}
	}
	st := g.dags[strings.ToUpper(dag)]
	var target *server
	if arg(inv, "Node") != "" {
		if target, err = g.nodeArg(inv, "Node", "Move-ClusterGroup"); err != nil {
			return nil, err
		}
	} else {
		for _, m := range g.dagMembers(dag) {
			if m.node == "Up" && !strings.EqualFold(m.spec.Name, st.pam) {
				target = m
				break
			}
		}
		if target == nil {
			return nil, moveGroupError("There is no node available to host the group", "0x800713AB")
		}
	}
	switch target.node {
	case "Paused":
		return nil, moveGroupError("The cluster node is paused", "0x800713CE")
	case "Down":
		return nil, moveGroupError("The cluster node is down", "0x800713BA")
	}
	st.pam = target.spec.Name
	return []any{g.clusterGroupObject(dag, coreGroup)}, nil
}

func moveGroupError(reason, hresult string) *ps.Error {
	return &ps.Error{Message: fmt.Sprintf("An error occurred while moving the clustered role '%s'.\r\n%s. (Exception from HRESULT: %s)", coreGroup, reason, hresult),
		Category: "NotSpecified", ErrorID: "Move-ClusterGroup,Microsoft.FailoverClusters.PowerShell.MoveClusterGroupCommand"}
}

// witnessShareInUse is Get-DatabaseAvailabilityGroup -Status WitnessShareInUse: Primary, or
// InvalidConfiguration under the witness_invalid fault (the witness server is unreachable or its share is
// misconfigured — Justin Beeden's DAG maintenance scripts refuse to start then).
func (g *Org) witnessShareInUse(dag string) ps.Enum {
	v := "Primary"
	for _, f := range g.faults {
		if f.Kind == "witness_invalid" && (f.Target == "" || strings.EqualFold(f.Target, dag)) {
			v = "InvalidConfiguration"
		}
	}
	return enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.WitnessShareUsage", v, map[string]int64{"None": 0, "Primary": 1, "Alternate": 2, "InvalidConfiguration": 3})
}

func getDAG(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	_, status := inv.Args["Status"]
	var out []any
	for _, d := range g.sc.DAGs {
		if id := arg(inv, "Identity"); id != "" && !strings.EqualFold(id, d.Name) {
			continue
		}
		var servers, stopped []any
		for _, s := range g.dagMembers(d.Name) {
			servers = append(servers, adObjectID(s.spec.Name))
			if !s.downTil.IsZero() {
				stopped = append(stopped, adObjectID(s.spec.Name))
			}
		}
		// The live properties are filled only with -Status ("retrieves information ... from the servers");
		// without it they are $null.
		var pam, witness any
		if status {
			// pam_unknown: -Status answers without the PAM (an instrument: exmaintd must read an empty
			// PrimaryActiveManager as unknown, never as "not this server").
			if p := g.dags[strings.ToUpper(d.Name)].pam; p != "" && !g.hasFault("pam_unknown", "") {
				pam = adObjectID(p)
			}
			witness = g.witnessShareInUse(d.Name)
		}
		out = append(out, ps.NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseAvailabilityGroup",
			"Name", d.Name, "Servers", servers, "StoppedMailboxServers", stopped, "PrimaryActiveManager", pam,
			"WitnessServer", d.Witness, "WitnessShareInUse", witness))
	}
	if id := arg(inv, "Identity"); id != "" && len(out) == 0 {
		return nil, notFound("Get-DatabaseAvailabilityGroup", id)
	}
	return out, nil
}
