package org

import (
	"slices"
	"strings"
	"time"
)

// Active Directory replication: Exchange keeps a server's mailbox-server settings
// (DatabaseCopyAutoActivationPolicy, DatabaseCopyActivationDisabledAndMoveNow) and its component states'
// RemoteStates in AD; each Exchange server reads and writes them through a domain controller of its own
// choice. Within a site, a DC notifies its replication partners of a change 15 seconds after it (Microsoft
// Learn, "Active Directory replication concepts": intrasite change notification); between sites it waits
// for the site link's schedule, 180 minutes by default. So a write through one server's endpoint and a
// read through another's can disagree for a while. The model: the endpoint that made the latest write
// reads it at once; every other endpoint reads the values from before it until Timing.ADReplication has
// passed. Several writes within that time keep the values from before the first (harsher than a DC that
// received some of them).

// directory is what AD holds for a server that a DC without the latest writes still serves.
type directory struct {
	policy  string
	moveNow bool
	remote  map[string][]RequesterState
}

// adWrite is called before a write to s's AD-held values through via's endpoint. Callers hold g.mu.
func (g *Org) adWrite(s *server, via string, now time.Time) {
	lag := g.sc.Timing.ADReplication.Duration
	if lag <= 0 {
		return
	}
	if s.adAt.IsZero() || now.Sub(s.adAt) >= lag {
		remote := make(map[string][]RequesterState, len(s.remote))
		for c, rs := range s.remote {
			remote[c] = slices.Clone(rs)
		}
		s.adBefore = directory{policy: s.policy, moveNow: s.moveNow, remote: remote}
	}
	s.adAt, s.adVia = now, via
}

// adView is s as a cmdlet run on via's endpoint reads its AD-held values at now: s itself, or a copy with
// the values from before writes made elsewhere that have not replicated yet. Callers hold g.mu and only
// read the copy.
func (g *Org) adView(s *server, via string, now time.Time) *server {
	lag := g.sc.Timing.ADReplication.Duration
	if lag <= 0 || s.adAt.IsZero() || strings.EqualFold(via, s.adVia) || now.Sub(s.adAt) >= lag {
		return s
	}
	v := *s
	v.policy, v.moveNow, v.remote = s.adBefore.policy, s.adBefore.moveNow, s.adBefore.remote // read only; adWrite replaces adBefore whole
	return &v
}
