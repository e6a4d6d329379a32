package daemon

import (
	"strings"
	"sync"

	"github.com/exmaintd/exmaintd/exchange"
)

// clients are the live Exchange clients. A server's Exchange cmdlets run on a peer's endpoint; when that
// peer enters maintenance itself, every client holding a session there closes it, so that none is open on
// a server while its update runs and none depends on an IIS that is about to stop. The next cmdlet opens a
// session on another peer (exchange.Options.InMaintenance passes over the busy one).
type clients struct {
	mu   sync.Mutex
	live map[*exchange.Client]struct{}
	wg   sync.WaitGroup // releases in progress; Daemon.Close waits for them
}

func newClients() *clients {
	return &clients{live: map[*exchange.Client]struct{}{}}
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
			c.ReleaseVia(server) // after the operation in progress, which its deadline bounds
		}()
	}
}
