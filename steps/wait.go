package steps

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStalled and ErrTimedOut distinguish the two ways a waiting step gives up: no progress for drain_stall
// (the stuck-drain alert), or the overall timeout while progress was still being made.
var (
	ErrStalled  = errors.New("no progress")
	ErrTimedOut = errors.New("timed out")
)

// waitProgress polls measure every PollInterval until it returns 0 remaining. remaining < 0 means "unknown
// right now" (e.g. Get-Queue empty while transport boots): neither progress nor done. A read error is
// logged and counted as no progress. The step gives up on a stall (no decrease for stall), reporting
// DrainStalled(true) — it stays set until the runner ends the server's run, so the stuck-drain alert sees it
// through the reverse — or at the overall timeout while progress was still being made.
func waitProgress(ctx context.Context, env *Env, step, what string, timeout, stall time.Duration, measure func(context.Context) (int64, error)) error {
	start := env.Clock.Now()
	lastProgress := start
	best := int64(-1)
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
			return nil
		case n > 0 && (best < 0 || n < best):
			best, lastProgress = n, now
		}
		if now.Sub(lastProgress) >= stall {
			env.Observer.DrainStalled(env.Target.Server, step, true)
			return fmt.Errorf("waiting for %s: %d left, %w for %v", what, best, ErrStalled, stall)
		}
		if now.Sub(start) >= timeout {
			return fmt.Errorf("waiting for %s: %d left after %v: %w", what, best, timeout, ErrTimedOut)
		}
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}
