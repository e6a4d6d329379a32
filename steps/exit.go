package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/exchange"
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
		warn = append(warn, restartProxiedServices(ctx, env, comps)...)
		for _, c := range comps {
			for _, r := range c.Requesters() {
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

// restartProxiedServices starts the IMAP4 and POP3 services that maintenance stopped: while ImapProxy or
// PopProxy is Inactive their front-end service is stopped, and it "may need to be restarted manually" once the
// component is Active again (Set-ServerComponentState, Microsoft Learn). A service set to start automatically
// that is stopped while its component is Active is one of those; a Manual one (IMAP4/POP3 not in use) is left.
func restartProxiedServices(ctx context.Context, env *Env, comps []exchange.ComponentState) []string {
	var warn []string
	for _, p := range []struct{ component, service string }{{"ImapProxy", "MSExchangeIMAP4"}, {"PopProxy", "MSExchangePOP3"}} {
		active := false
		for _, c := range comps {
			if strings.EqualFold(c.Component, p.component) {
				active = c.State == "Active"
			}
		}
		if !active {
			continue
		}
		svcs, err := env.Ex.Services(ctx, p.service)
		if err != nil {
			warn = append(warn, fmt.Sprintf("reading %s: %v", p.service, err))
			continue
		}
		for _, s := range svcs {
			if s.StartType != "Automatic" || s.Status == "Running" {
				continue
			}
			if err := env.Ex.RestartService(ctx, s.Name); err != nil {
				warn = append(warn, fmt.Sprintf("starting %s (stopped while %s was Inactive): %v", s.Name, p.component, err))
				continue
			}
			env.Logger.Info("started a service that maintenance stopped", "server", env.Target.Server, "service", s.Name, "component", p.component)
		}
	}
	return warn
}
