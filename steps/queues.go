package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/exchange"
)

// readQueues reads the server's transport queues once they can be read. Right after a transport restart
// Get-Queue fails, then returns no queue at all, until the transport bootloader is done (ExchangeDsc's
// Enable-SubmissionQueue waits up to 5 minutes for the Submission queue): either answer is "unknown", never
// "no messages". readQueues polls every PollInterval until a read brings the Submission queue, bounded by
// TransportBootTimeout; a failure that is not Exchange's answer (the connection, the deadline) ends it at
// once. The queue metrics are updated only from a complete read.
func readQueues(ctx context.Context, env *Env) (exchange.QueueSummary, error) {
	deadline := env.Clock.Now().Add(env.Settings.TransportBootTimeout)
	for {
		qs, err := env.Ex.Queues(ctx, env.Target.Server)
		var pe *exchange.PSError
		switch {
		case err == nil && hasSubmission(qs, env.Target.Server):
			s := exchange.SummarizeQueues(qs)
			env.Observer.Queues(env.Target.Server, s)
			return s, nil
		case err != nil && !errors.As(err, &pe):
			return exchange.QueueSummary{}, err
		}
		if !env.Clock.Now().Before(deadline) {
			if err == nil {
				err = errors.New("Get-Queue returns no Submission queue")
			}
			return exchange.QueueSummary{}, fmt.Errorf("transport queues of %s not readable after %v (transport still booting?): %w",
				env.Target.Server, env.Settings.TransportBootTimeout, err)
		}
		why := "Get-Queue shows no Submission queue yet"
		if err != nil {
			why = err.Error()
		}
		env.Logger.Info("transport queues not readable yet", "server", env.Target.Server, "why", why)
		if !env.Clock.Sleep(ctx, env.Settings.PollInterval) {
			return exchange.QueueSummary{}, ctx.Err()
		}
	}
}

func hasSubmission(qs []exchange.Queue, server string) bool {
	for _, q := range qs {
		if strings.EqualFold(q.Identity, server+`\Submission`) || strings.EqualFold(q.NextHopDomain, "Submission") {
			return true
		}
	}
	return false
}
