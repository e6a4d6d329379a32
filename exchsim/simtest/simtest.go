// Package simtest starts exchsim for tests of other packages and connects exmaintd's real Exchange client
// to it over loopback.
package simtest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/wsman"
	"github.com/exmaintd/exmaintd/secret"
)

// Options tune Start.
type Options struct {
	Scenario string // built-in scenario, default "demo"
	// Edit changes the built-in scenario before exchsim starts: a test's one-off database or setting,
	// without a scenario file of its own.
	Edit func(*org.Scenario)
	// Clock drives exchsim's model (default the wall clock): with an *org.ManualClock that a test's step
	// clock advances, background work (moves, drains) progresses exactly as the steps wait.
	Clock org.Clock
	HTTPS bool
	Cost  cost.Profile
	// CertMappings turn on certificate authentication (with HTTPS); see wsman.ClientCertificate.
	CertMappings []wsman.CertMapping
	// Kerberos turns on Kerberos (see exchsim/kdc).
	Kerberos *wsman.Kerberos
	// DisableNTLM refuses NTLM (a domain without NTLM).
	DisableNTLM bool
	// RequireEncryption is Windows' default AllowUnencrypted=false: over plain HTTP only sealed (Kerberos)
	// messages are accepted.
	RequireEncryption bool
}

// Start starts exchsim on 127.0.0.1 with free ports and stops it when the test ends.
func Start(tb testing.TB, o Options) *exchsim.Sim {
	tb.Helper()
	sim, stop, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return sim
}

// New is Start for a goroutine that must not call tb.Fatal (a worker of a parallel matrix): it returns
// the error, and stop, which the caller must call.
func New(o Options) (sim *exchsim.Sim, stop func(), err error) {
	if o.Scenario == "" {
		o.Scenario = "demo"
	}
	sc, err := org.BuiltinScenario(o.Scenario)
	if err != nil {
		return nil, nil, err
	}
	if o.Edit != nil {
		o.Edit(sc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sim, err = exchsim.Start(ctx, exchsim.Options{Scenario: sc, Listen: "127.0.0.1:0", HTTPS: o.HTTPS, Cost: o.Cost, CertMappings: o.CertMappings, Kerberos: o.Kerberos, DisableNTLM: o.DisableNTLM, RequireEncryption: o.RequireEncryption, Clock: o.Clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return sim, func() {
		cancel()
		_ = sim.Close()
	}, nil
}

// Endpoint is server's listener on sim with auth (HTTPS when sim serves it).
func Endpoint(tb testing.TB, sim *exchsim.Sim, server, auth string) exchange.Endpoint {
	tb.Helper()
	ep, err := EndpointOf(sim, server, auth)
	if err != nil {
		tb.Fatal(err)
	}
	return ep
}

// EndpointOf is Endpoint returning its error.
func EndpointOf(sim *exchsim.Sim, server, auth string) (exchange.Endpoint, error) {
	for _, e := range sim.Servers() {
		if e.Name != server {
			continue
		}
		user := sim.User()
		if auth == exchange.AuthNTLM {
			user = sim.Domain() + `\` + user
		}
		return exchange.Endpoint{Name: e.Name, Host: e.Host, Port: e.Port, HTTPS: e.HTTPS, TLSServerName: e.Fqdn, CACertPEM: sim.CACertPEM(),
			Auth: auth, User: user, Password: secret.New(sim.Password()), ExchangeURL: e.ExchangeURL(),
			AllowUnencrypted: !e.HTTPS}, nil // loopback
	}
	return exchange.Endpoint{}, fmt.Errorf("no server %s in the simulation", server)
}

// Via returns ep with its Exchange cmdlets run on the peers' own /PowerShell endpoints, in order, with
// ep's credentials: how exmaintd reaches a server it maintains (docs/exchange-client.md, "Through a peer").
func Via(tb testing.TB, sim *exchsim.Sim, ep exchange.Endpoint, peers ...string) exchange.Endpoint {
	tb.Helper()
	for _, p := range peers {
		pe := Endpoint(tb, sim, p, ep.Auth)
		ep.Exchange = append(ep.Exchange, exchange.ExchangeEndpoint{Server: p, URL: pe.ExchangeURL, Auth: ep.Auth, User: ep.User, Password: ep.Password,
			Kerberos: pe.Kerberos, TLSServerName: pe.TLSServerName, CACertPEM: pe.CACertPEM, AllowUnencrypted: pe.AllowUnencrypted})
	}
	return ep
}

// Client connects to ep and closes the client when the test ends. A zero Backoff becomes 10 ms.
func Client(tb testing.TB, ep exchange.Endpoint, opts exchange.Options) *exchange.Client {
	tb.Helper()
	c, err := NewClient(ep, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// NewClient is Client returning its error; the caller closes the client.
func NewClient(ep exchange.Endpoint, opts exchange.Options) (*exchange.Client, error) {
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	return exchange.New(ep, opts)
}
