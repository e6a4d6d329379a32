package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/sentinel"
)

const errUsage = sentinel.Error("usage")

// run parses flags, starts the simulation and serves until ctx ends.
func run(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	return serve(ctx, args, stdout, stderr, nil)
}

// serve is run with a hook that receives the simulation once it listens (for tests).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*exchsim.Sim)) error {
	fs := flag.NewFlagSet("exchsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5985", "address of the first server's WinRM listener; the other servers take the following ports (port 0: any free ports)")
	scenario := fs.String("scenario", "dag2", "a built-in scenario ("+strings.Join(org.BuiltinScenarioNames(), ", ")+") or a scenario file (a path, or a name ending in .toml)")
	https := fs.Bool("https", false, "serve HTTPS with a generated certificate (written to -ca-out)")
	caOut := fs.String("ca-out", "", "with -https and a generated certificate: write the CA certificate (PEM) clients must trust to this file")
	certFile := fs.String("cert", "", "with -https: serve this certificate (PEM) instead of a generated one")
	keyFile := fs.String("key", "", "with -cert: its private key (PEM)")
	clockName := fs.String("clock", "wall", "wall (real time) or manual (time moves only by POST /sim/v1/clock {\"advance_ms\": N})")
	costName := fs.String("cost", "zero", "cost profile: zero (instant) or realistic (RTT, shell create, powershell start, snap-in load, per-cmdlet time)")
	requireEnc := fs.Bool("require-encryption", false, "model AllowUnencrypted=false: over plain HTTP refuse Basic and NTLM, and accept only sealed Kerberos messages")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: exchsim [flags]\n\nServes a simulated Exchange organisation over WinRM (WS-Management, Basic and NTLM, optionally HTTPS)\n"+
			"on loopback, one listener per server, with a control API under /sim/v1/ on each listener.\n"+
			"Credentials come from the scenario; the built-in scenarios use EXLAB\\Administrator with password %s.\n\nFlags:\n", org.DefaultPassword)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	sc, err := scenarioNamed(*scenario)
	if err != nil {
		return fmt.Errorf("-scenario: %w", err)
	}
	var profile cost.Profile
	switch *costName {
	case "zero":
	case "realistic":
		profile = cost.Realistic()
	default:
		return fmt.Errorf("-cost: %q is not zero or realistic", *costName)
	}
	opts := exchsim.Options{Scenario: sc, Listen: *listen, HTTPS: *https, RequireEncryption: *requireEnc, Cost: profile, Logger: logger}
	switch *clockName {
	case "wall":
	case "manual":
		opts.Clock = org.NewManualClock(time.Now())
	default:
		return fmt.Errorf("-clock: %q is not wall or manual", *clockName)
	}
	if *certFile != "" || *keyFile != "" {
		if !*https || *certFile == "" || *keyFile == "" {
			return errors.New("-cert and -key go together, with -https")
		}
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("-cert/-key: %w", err)
		}
		opts.Certificate = &cert
	}
	sim, err := exchsim.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer sim.Close()
	if *https && *caOut != "" {
		if err := os.WriteFile(*caOut, sim.CACertPEM(), 0o644); err != nil {
			return fmt.Errorf("-ca-out: %w", err)
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVER\tFQDN\tWINRM\tCONTROL API\n")
	scheme := "http"
	if *https {
		scheme = "https"
	}
	for _, ep := range sim.Servers() {
		fmt.Fprintf(tw, "%s\t%s\t%s://%s/wsman\t%s://%s/sim/v1/state\n", ep.Name, ep.Fqdn, scheme, ep.Addr(), scheme, ep.Addr())
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "credentials: %s\\%s (scenario %s); Ctrl-C stops\n", sim.Domain(), sim.User(), sc.Name)
	if ready != nil {
		ready(sim)
	}
	<-ctx.Done()
	return nil
}

// scenarioNamed is a built-in scenario, or a file when name is a path or ends in .toml: a bare name is
// never looked up in the working directory, where a directory of that name (the repository's demo/) would
// shadow the built-in.
func scenarioNamed(name string) (*org.Scenario, error) {
	if strings.ContainsAny(name, `/\`) || strings.HasSuffix(strings.ToLower(name), ".toml") {
		return org.LoadScenario(name)
	}
	return org.BuiltinScenario(name)
}
