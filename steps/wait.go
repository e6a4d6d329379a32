package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/exmaintd/exmaintd/sentinel"
)

// ErrStalled and ErrTimedOut distinguish the two ways a waiting step gives up: no progress for drain_stall
// (the stuck-drain alert), or the overall timeout while progress was still being made.
const (
	ErrStalled  = sentinel.Error("stalled")
	ErrTimedOut = sentinel.Error("timed out")
)

// waitProgress polls measure every PollInterval until it returns 0 remaining. remaining < 0 means "unknown
// right now" (e.g. Get-Queue empty while transport boots): neither progress nor done. A read error is
// logged and counted as no progress.
//
// A stall — no decrease for stall — is reported at once (DrainStalled(true): the stuck-drain alert fires on
// it while exmaintd still waits, so someone can act before the window is lost) and cleared when progress
// resumes. The step gives up at timeout: with ErrStalled if it was stalled then, else ErrTimedOut (still
// moving, just too slow). After a stall the flag stays set until the runner ends the server's run.
func waitProgress(ctx context.Context, env *Env, step, what string, timeout, stall time.Duration, measure func(context.Context) (int64, error)) error {
	start := env.Clock.Now()
	lastProgress := start
	best := int64(-1)
	stalled := false
	for {
		n, err := measure(ctx)
		now := env.Clock.Now()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
			env.Logger.Warn("reading progress failed", "server", env.Target.Server, "step", step, "err", err)
		case n == 0:
			if stalled {
				env.Observer.DrainStalled(env.Target.Server, step, false)
			}
			return nil
		case n > 0 && (best < 0 || n < best):
			best, lastProgress = n, now
			if stalled {
				stalled = false
				env.Observer.DrainStalled(env.Target.Server, step, false)
				env.Logger.Info("progress resumed", "server", env.Target.Server, "step", step, "left", n)
			}
		}
		if !stalled && now.Sub(lastProgress) >= stall {
			stalled = true
			env.Observer.DrainStalled(env.Target.Server, step, true)
			env.Logger.Warn("stalled: no progress", "server", env.Target.Server, "step", step, "left", best, "for", stall)
		}
		if now.Sub(start) >= timeout {
			if stalled {
				return fmt.Errorf("waiting for %s: %w: %d left, none gone for %v", what, ErrStalled, best, now.Sub(lastProgress).Round(time.Second))
			}
			return fmt.Errorf("waiting for %s: %d left after %v: %w", what, best, timeout, ErrTimedOut)
		}
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}
