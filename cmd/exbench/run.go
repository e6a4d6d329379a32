package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchange/workload"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/secret"
)

func run(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modes := fs.String("mode", "both", "session, command or both")
	polls := fs.Int("polls", 30, "drain polls in the window (each reads queues and copy status)")
	profile := fs.String("profile", "realistic", "exchsim cost profile: realistic or zero")
	scale := fs.Float64("scale", 1, "multiply every cost of the profile (e.g. 0.1 for a quick run)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: exbench [-mode both|session|command] [-polls N] [-profile realistic|zero] [-scale F]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *polls < 0 || *scale <= 0 {
		fs.Usage()
		return fmt.Errorf("bad arguments: %v (polls %d, scale %g)", fs.Args(), *polls, *scale)
	}
	var p cost.Profile
	switch *profile {
	case "realistic":
		p = cost.Realistic()
	case "zero":
	default:
		return fmt.Errorf("-profile %q: want realistic or zero", *profile)
	}
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * *scale) }
	p = cost.Profile{RTT: sc(p.RTT), ShellCreate: sc(p.ShellCreate), PowerShellStart: sc(p.PowerShellStart), SnapinLoad: sc(p.SnapinLoad), Cmdlet: sc(p.Cmdlet)}
	var list []string
	switch *modes {
	case "both":
		list = []string{exchange.ModeSession, exchange.ModeCommand}
	case exchange.ModeSession, exchange.ModeCommand:
		list = []string{*modes}
	default:
		return fmt.Errorf("-mode %q: want session, command or both", *modes)
	}
	scenario, err := org.BuiltinScenario("dag2")
	if err != nil {
		return err
	}
	sim, err := exchsim.Start(ctx, exchsim.Options{Scenario: scenario, Listen: "127.0.0.1:0", Cost: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer sim.Close()
	var ep exchange.Endpoint
	for _, e := range sim.Servers() {
		if e.Name == "EX01" {
			ep = exchange.Endpoint{Name: e.Name, Host: e.Host, Port: e.Port, Auth: exchange.AuthNTLM, User: sim.Domain() + `\` + sim.User(), Password: secret.New(sim.Password()), ExchangeURL: e.ExchangeURL(), AllowUnencrypted: true}
		}
	}
	w := workload.Window{Server: "EX01", Peer: "ex02.exlab.local", DAG: "DAG01", Polls: *polls}
	fmt.Fprintf(stdout, "window: %d operations on EX01 (%d drain polls); cost profile %s ×%g: rtt %v, shell %v, powershell %v, snap-in %v, cmdlet %v\n\n",
		w.Ops(), *polls, *profile, *scale, p.RTT, p.ShellCreate, p.PowerShellStart, p.SnapinLoad, p.Cmdlet)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\twinrm requests\trequests/op\twall\tremote overhead\toverhead/op\t")
	overhead := map[string]time.Duration{}
	for _, mode := range list {
		c, err := exchange.New(ep, exchange.Options{Mode: mode})
		if err != nil {
			return err
		}
		sim.ResetRequests()
		start := time.Now()
		err = w.Run(ctx, c)
		wall := time.Since(start)
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("%s mode: %w", mode, err)
		}
		var reqs int64
		for _, n := range sim.Requests() {
			reqs += n
		}
		oh := wall - time.Duration(w.Ops())*p.Cmdlet
		overhead[mode] = oh
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%v\t%v\t%v\t\n", mode, reqs, float64(reqs)/float64(w.Ops()), wall.Round(time.Millisecond), oh.Round(time.Millisecond), (oh / time.Duration(w.Ops())).Round(10*time.Microsecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s, c := overhead[exchange.ModeSession], overhead[exchange.ModeCommand]; s > 0 && c > 0 {
		fmt.Fprintf(stdout, "\nper-command mode pays %.1f× the remote overhead of the persistent session\n", float64(c)/float64(s))
	}
	return nil
}
