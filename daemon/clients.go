package daemon

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// clients are the live Exchange clients. A server's Exchange cmdlets run on a peer's endpoint; when that
// peer enters maintenance itself, every client holding a session there closes it, so that none is open on
// a server while its update runs and none depends on an IIS that is about to stop. The next cmdlet opens a
// session on another peer (exchange.Options.InMaintenance passes over the busy one).
type clients struct {
	logger *slog.Logger
	mu     sync.Mutex
	live   map[*exchange.Client]struct{}
	wg     sync.WaitGroup // releases in progress; Daemon.Close waits for them
}

func newClients(logger *slog.Logger) *clients {
	return &clients{logger: logger, live: map[*exchange.Client]struct{}{}}
}

func (cs *clients) add(c *exchange.Client) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.live[c] = struct{}{}
}

func (cs *clients) remove(c *exchange.Client) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.live, c)
}

// release makes every other server's client close its session on server's endpoint, each after the
// operation it may be running (bounded), in the background: the entering server's run does not wait.
func (cs *clients) release(server string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.live {
		if strings.EqualFold(c.Server(), server) {
			continue // its own session: the patch step closes it (steps.patchStep)
		}
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			if err := c.ReleaseVia(ctx, server); err != nil {
				cs.logger.Warn("an Exchange session stayed open on a server entering maintenance", "server", c.Server(), "via", server, "err", err)
			}
		}()
	}
}
