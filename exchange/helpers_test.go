package exchange_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/secret"
)

// simOptions tune startSim.
type simOptions struct {
	scenario string
	https    bool
	cost     cost.Profile
}

func startSim(tb testing.TB, o simOptions) *exchsim.Sim {
	tb.Helper()
	if o.scenario == "" {
		o.scenario = "demo"
	}
	sc, err := org.BuiltinScenario(o.scenario)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := exchsim.Start(ctx, exchsim.Options{Scenario: sc, Listen: "127.0.0.1:0", HTTPS: o.https, Cost: o.cost, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = sim.Close()
	})
	return sim
}

// endpoint returns the Endpoint of server on sim with the given auth (HTTPS when sim serves it).
func endpoint(tb testing.TB, sim *exchsim.Sim, server, auth string) exchange.Endpoint {
	tb.Helper()
	for _, e := range sim.Servers() {
		if e.Name != server {
			continue
		}
		user := sim.User()
		if auth == exchange.AuthNTLM {
			user = sim.Domain() + `\` + user
		}
		return exchange.Endpoint{Name: e.Name, Host: e.Host, Port: e.Port, HTTPS: e.HTTPS, TLSServerName: e.Fqdn, CACertPEM: sim.CACertPEM(),
			Auth: auth, User: user, Password: secret.New(sim.Password())}
	}
	tb.Fatalf("no server %s in the simulation", server)
	return exchange.Endpoint{}
}

func newClient(tb testing.TB, ep exchange.Endpoint, opts exchange.Options) *exchange.Client {
	tb.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	c, err := exchange.New(ep, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// within runs f and fails the test if it has not returned after limit: the proof that an operation ends by
// itself (its own deadline) rather than hanging. limit is generous; it bounds, it does not time.
func within(tb testing.TB, limit time.Duration, f func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		tb.Fatalf("operation still running after %v: it hangs", limit)
	}
}
