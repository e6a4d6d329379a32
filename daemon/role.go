package daemon

import (
	"fmt"

	"github.com/exmaintd/exmaintd/api"
)

// SetLeader records who leads the cluster, as the election sees it: self when this instance won (Open
// and Schedule follow), else the leader's name and API URL ("" while none is known). A standby refuses
// write actions with them.
func (d *Daemon) SetLeader(self bool, name, url string) {
	d.mu.Lock()
	d.leading, d.leader, d.leaderAt = self, name, url
	d.mu.Unlock()
	if m := d.o.Metrics; m != nil {
		m.Leader(self, name)
	}
}

// notLeader is the refusal of a write action on a standby, or nil on the leader. Callers hold d.mu.
func (d *Daemon) notLeaderLocked() error {
	if d.leading {
		return nil
	}
	if d.leader == "" {
		return fmt.Errorf("this instance (%s) stands by and no leader is known: %w", d.o.Instance, api.ErrNotLeader)
	}
	return fmt.Errorf("this instance (%s) stands by; send this to the leader, %s at %s: %w", d.o.Instance, d.leader, d.leaderAt, api.ErrNotLeader)
}

func (d *Daemon) notLeader() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.notLeaderLocked()
}

// cluster is the status document's cluster part.
func (d *Daemon) cluster() *api.ClusterStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	role := "leader"
	if !d.leading {
		role = "standby"
	}
	return &api.ClusterStatus{Instance: d.o.Instance, Role: role, Leader: d.leader, LeaderURL: d.leaderAt}
}
