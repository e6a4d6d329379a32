package exchange_test

import (
	"errors"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
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
	return simtest.Start(tb, simtest.Options{Scenario: o.scenario, HTTPS: o.https, Cost: o.cost})
}

func endpoint(tb testing.TB, sim *exchsim.Sim, server, auth string) exchange.Endpoint {
	tb.Helper()
	return simtest.Endpoint(tb, sim, server, auth)
}

func newClient(tb testing.TB, ep exchange.Endpoint, opts exchange.Options) *exchange.Client {
	tb.Helper()
	return simtest.Client(tb, ep, opts)
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

// simAccount is a task spec for the scenario's named account (in Organization Management, with its
// password): Exchange setup refuses to run as SYSTEM.
func simAccount(sim *exchsim.Sim, limit time.Duration) exchange.TaskSpec {
	return exchange.TaskSpec{User: sim.Domain() + `\` + sim.User(), Password: secret.New(sim.Password()), TimeLimit: limit}
}

// jobDone polls job until it has finished (up to 20 s) and returns it as the last poll read it.
func jobDone(tb testing.TB, c *exchange.Client, job exchange.Job) exchange.Job {
	tb.Helper()
	var done exchange.Job
	waitFor(tb, 20*time.Second, func() error {
		j, err := c.PollJob(tb.Context(), job)
		if err != nil {
			return err
		}
		if j.Running {
			return errors.New("still running")
		}
		done = j
		return nil
	})
	return done
}
