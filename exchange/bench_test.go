package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchange/workload"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
)

func winrmRequests(sim *exchsim.Sim) int64 {
	var n int64
	for k, v := range sim.Requests() {
		if k != "sealed" && k != "fault" { // properties of requests already counted by their action
			n += v
		}
	}
	return n
}

// BenchmarkOperation is one read on each channel, at zero cost (the client's own cost) and with
// cost.Realistic() (a LAN-connected Exchange server): "exchange" is Get-Queue in the runspace pool on
// Exchange's endpoint (PSRP); "winrs-session" and "winrs-command" are an operating-system read
// (LastBootUpTime) in the WinRS session and per command. overhead-ms/op is the time per operation minus
// the cmdlet's own cost and the one round trip any remote call needs. Sessions are opened before timing:
// this is the steady state of a window.
func BenchmarkOperation(b *testing.B) {
	for _, prof := range []struct {
		name string
		p    cost.Profile
	}{{"zero", cost.Profile{}}, {"realistic", cost.Realistic()}} {
		for _, ch := range []struct {
			name string
			mode string
			read func(context.Context, *exchange.Client) error
			cost time.Duration
		}{
			{"exchange", exchange.ModeSession, func(ctx context.Context, c *exchange.Client) error { _, err := c.Queues(ctx, "EX01"); return err }, prof.p.Cmdlet},
			{"winrs-session", exchange.ModeSession, func(ctx context.Context, c *exchange.Client) error { _, err := c.LastBootUpTime(ctx); return err }, 0},
			{"winrs-command", exchange.ModeCommand, func(ctx context.Context, c *exchange.Client) error { _, err := c.LastBootUpTime(ctx); return err }, 0},
		} {
			b.Run(ch.name+"/"+prof.name, func(b *testing.B) {
				sim := startSim(b, simOptions{cost: prof.p})
				c := newClient(b, endpoint(b, sim, "EX01", exchange.AuthNTLM), exchange.Options{Mode: ch.mode})
				measure(b, sim, func(ctx context.Context) error { return ch.read(ctx, c) }, ch.cost+prof.p.RTT)
			})
		}
	}
}

// measureOperation times Get-Queue on EX01 with c once its pool is open (the Kerberos benchmark uses it).
func measureOperation(b *testing.B, sim *exchsim.Sim, c *exchange.Client, p cost.Profile) {
	b.Helper()
	measure(b, sim, func(ctx context.Context) error { _, err := c.Queues(ctx, "EX01"); return err }, p.Cmdlet+p.RTT)
}

// measure times op once it has run once (its session open), and reports WinRM requests and overhead (time
// minus floor: the cmdlet's cost and one round trip) per operation.
func measure(b *testing.B, sim *exchsim.Sim, op func(context.Context) error, floor time.Duration) {
	b.Helper()
	ctx := context.Background()
	if err := op(ctx); err != nil {
		b.Fatal(err)
	}
	sim.ResetRequests()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := op(ctx); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	b.ReportMetric(float64(winrmRequests(sim))/float64(b.N), "winrm-requests/op")
	b.ReportMetric(float64(per-floor)/float64(time.Millisecond), "overhead-ms/op")
}

// BenchmarkPoolOpen is the cost of opening a runspace pool on Exchange's endpoint (Create with creationXml,
// then Receives until Opened), with a fresh client per iteration; with the realistic profile it is dominated
// by the endpoint's runspace_open.
func BenchmarkPoolOpen(b *testing.B) {
	for _, prof := range []struct {
		name string
		p    cost.Profile
	}{{"zero", cost.Profile{}}, {"realistic", cost.Realistic()}} {
		b.Run(prof.name, func(b *testing.B) {
			sim := startSim(b, simOptions{cost: prof.p})
			ep := endpoint(b, sim, "EX01", exchange.AuthNTLM)
			b.ResetTimer()
			var open time.Duration
			for range b.N {
				c, err := exchange.New(ep, exchange.Options{})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := c.ExchangeServers(context.Background()); err != nil { // opens the pool, then one pipeline
					b.Fatal(err)
				}
				open += time.Since(start)
				_ = c.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64((open/time.Duration(b.N))-prof.p.Cmdlet)/float64(time.Millisecond), "open-ms")
		})
	}
}

// BenchmarkDrainWindow runs a DAG member's whole window operation mix (workload.Window, 30 drain polls:
// 84 operations) on a fresh client per iteration, so the session's start-up is included. remote-overhead-s
// is the window's wall time minus the cmdlets' own cost.
func BenchmarkDrainWindow(b *testing.B) {
	w := workload.Window{Server: "EX01", Peer: "ex02.exlab.local", DAG: "DAG01", Polls: 30}
	prof := cost.Realistic()
	for _, mode := range []string{exchange.ModeSession, exchange.ModeCommand} {
		b.Run(mode, func(b *testing.B) {
			sim := startSim(b, simOptions{cost: prof})
			ep := endpoint(b, sim, "EX01", exchange.AuthNTLM)
			sim.ResetRequests()
			b.ResetTimer()
			var total time.Duration
			for range b.N {
				c, err := exchange.New(ep, exchange.Options{Mode: mode})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := w.Run(context.Background(), c); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				_ = c.Close()
			}
			b.StopTimer()
			perWindow := total / time.Duration(b.N)
			b.ReportMetric(float64(winrmRequests(sim))/float64(b.N), "winrm-requests/window")
			b.ReportMetric((perWindow - time.Duration(w.Ops())*prof.Cmdlet).Seconds(), "remote-overhead-s/window")
		})
	}
}
