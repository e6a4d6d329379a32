package steps

import (
	"context"
	"fmt"
	"strings"
)

// exitChecks run after every exit (a completed run or a reverse): resume a suspended Submission queue,
// report (or fix) components held Inactive by requesters other than Maintenance, and rebalance active copies
// by activation preference if configured. Findings are returned as warnings; they never fail the run.
func exitChecks(ctx context.Context, env *Env) []string {
	var warn []string
	srv := env.Target.Server
	// The exit has just restarted transport: wait for its queues (readQueues), as ExchangeDsc's
	// Enable-SubmissionQueue does, or a Submission queue left suspended would stay so.
	if sum, err := readQueues(ctx, env); err == nil {
		for _, id := range sum.Suspended {
			if strings.HasSuffix(strings.ToLower(id), `\submission`) {
				if err := env.Ex.ResumeQueue(ctx, id); err != nil {
					warn = append(warn, fmt.Sprintf("resuming %s: %v", id, err))
				}
			}
		}
	} else {
		warn = append(warn, fmt.Sprintf("reading queues: %v", err))
	}
	if comps, err := env.Ex.ComponentStates(ctx, srv); err == nil {
		for _, c := range comps {
			for _, r := range c.LocalStates {
				if strings.EqualFold(r.Requester, "Maintenance") || r.State != "Inactive" || env.baseline[c.Component+"/"+r.Requester] {
					continue // held before the run too (e.g. ForwardSyncDaemon by HealthApi on-premises): not ours
				}
				if env.Settings.FixOtherRequesters {
					if err := env.Ex.SetComponentState(ctx, srv, c.Component, "Active", r.Requester); err != nil {
						warn = append(warn, fmt.Sprintf("setting %s Active for %s: %v", c.Component, r.Requester, err))
					}
					continue
				}
				warn = append(warn, fmt.Sprintf("%s is held Inactive by requester %s (set fix_other_requesters to clear it)", c.Component, r.Requester))
			}
		}
	} else {
		warn = append(warn, fmt.Sprintf("reading component states: %v", err))
	}
	if env.Settings.Rebalance && env.Target.DAG != "" {
		if cs, err := env.Ex.CopyStatus(ctx, srv); err == nil {
			for _, c := range cs {
				if c.ActivationPreference == 1 && !c.ActiveCopy {
					if err := env.Ex.MoveActiveDatabase(ctx, c.DatabaseName, srv); err != nil {
						warn = append(warn, fmt.Sprintf("rebalancing %s: %v", c.DatabaseName, err))
					}
				}
			}
		}
	}
	for _, w := range warn {
		env.Logger.Warn("exit check", "server", srv, "finding", w)
	}
	return warn
}
