package steps

import (
	"context"
	"fmt"
	"time"
)

// converged reads back a value Exchange keeps in Active Directory until it is as written. read returns ""
// when it is, else what it found. A read through another peer's endpoint than the write's — after a
// failover — goes to another domain controller, which has the change only once AD replication brings it
// (within a site, 15 s after the change by default: Microsoft Learn, "Active Directory replication
// concepts"). So a mismatch is read again every poll_interval for up to ad_replication_wait before it
// counts, and the error then says that replication may be why. A failed read is returned at once.
func converged(ctx context.Context, env *Env, read func(context.Context) (string, error)) error {
	start := env.Clock.Now()
	for {
		got, err := read(ctx)
		if err != nil || got == "" {
			return err
		}
		waited := env.Clock.Now().Sub(start)
		if waited >= env.Settings.ADReplicationWait {
			return fmt.Errorf("%s, still after reading it again for %v (ad_replication_wait): longer than Active Directory replication takes", got, waited.Round(time.Second))
		}
		if !env.Clock.Sleep(ctx, min(env.Settings.PollInterval, env.Settings.ADReplicationWait-waited)) {
			return fmt.Errorf("%s: %w", got, ctx.Err())
		}
	}
}
