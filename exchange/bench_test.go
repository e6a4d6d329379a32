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
	for _, v := range sim.Requests() {
		n += v
	}
	return n
}

// BenchmarkOperation is one Get-Queue read, in each mode, at zero cost (the client's own cost) and with
// cost.Realistic() (what a LAN-connected Exchange 2019 server would cost). overhead-ms/op is the time per
// operation minus the cmdlet's own cost and the one round trip any remote call needs. The session is
// started before timing: this is the steady state of a window.
func BenchmarkOperation(b *testing.B) {
	for _, prof := range []struct {
		name string
		p    cost.Profile
	}{{"zero", cost.Profile{}}, {"realistic", cost.Realistic()}} {
		for _, mode := range []string{exchange.ModeSession, exchange.ModeCommand} {
			b.Run(mode+"/"+prof.name, func(b *testing.B) {
				sim := startSim(b, simOptions{cost: prof.p})
				measureOperation(b, sim, newClient(b, endpoint(b, sim, "EX01", exchange.AuthNTLM), exchange.Options{Mode: mode}), prof.p)
			})
		}
	}
}

// measureOperation times Get-Queue on EX01 with c once its session is up, and reports WinRM requests and
// overhead (time minus the cmdlet's cost and one round trip) per operation.
func measureOperation(b *testing.B, sim *exchsim.Sim, c *exchange.Client, p cost.Profile) {
	b.Helper()
	ctx := context.Background()
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		b.Fatal(err)
	}
	sim.ResetRequests()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.Queues(ctx, "EX01"); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	b.ReportMetric(float64(winrmRequests(sim))/float64(b.N), "winrm-requests/op")
	b.ReportMetric(float64(per-p.Cmdlet-p.RTT)/float64(time.Millisecond), "overhead-ms/op")
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
