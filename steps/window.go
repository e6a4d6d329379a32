package steps

import (
	"context"
	"sync"
)

// Group is a set of servers that must be maintained one at a time, in order: the members of one DAG (or a
// single standalone server).
type Group struct {
	Name    string
	Servers []ServerRun
	// FailureBudget is how many servers of the group may end other than completed before the rest of the
	// group is skipped for this window (default 0: the first failure stops the group).
	FailureBudget int
}

// WindowResult maps each server to its result; servers never started are reported skipped.
type WindowResult map[string]Result

// RunWindow runs the groups: servers within a group strictly one after the other, independent groups in
// parallel up to parallel (at least 1). Blocked servers (rollback_failed, not cleared) are skipped.
func (r *Runner) RunWindow(ctx context.Context, groups []Group, parallel int, blocked map[string]bool) WindowResult {
	if parallel < 1 {
		parallel = 1
	}
	res := WindowResult{}
	var mu sync.Mutex
	set := func(server string, x Result) {
		mu.Lock()
		res[server] = x
		mu.Unlock()
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, sr := range g.Servers {
					set(sr.Env.Target.Server, Result{Outcome: OutcomeSkipped, Err: ctx.Err(), Stopped: StopAbort})
				}
				return
			}
			defer func() { <-sem }()
			failures, lastFailed := 0, ""
			for _, sr := range g.Servers {
				srv := sr.Env.Target.Server
				switch {
				case blocked[srv]:
					set(srv, Result{Outcome: OutcomeSkipped, Err: errBlocked(srv)})
					continue
				case ctx.Err() != nil:
					set(srv, Result{Outcome: OutcomeSkipped, Err: ctx.Err(), Stopped: StopAbort})
					continue
				case failures > g.FailureBudget:
					set(srv, Result{Outcome: OutcomeSkipped, Err: errStopped(g.Name, lastFailed)})
					continue
				}
				x := r.Run(ctx, sr) // calls sr.Begin once the pre-gates have passed
				if sr.End != nil {
					sr.End(context.WithoutCancel(ctx), x)
				}
				set(srv, x)
				if x.Outcome != OutcomeCompleted {
					failures, lastFailed = failures+1, srv
				}
			}
		}()
	}
	wg.Wait()
	return res
}
