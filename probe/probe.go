package probe

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/secret"
)

// Server is what the probe needs to know of one server.
type Server struct {
	Name string
	DAG  string // "" for a standalone server
	// Services are the configured services the procedure waits for.
	Services           []string
	AllowPendingReboot bool
	// Accounts are the distinct accounts the server's patches run as, each probed with a no-op task; none:
	// SYSTEM, as a patch without run_as would run.
	Accounts []Account
	// Connect reads the server's secrets and returns its endpoints, as a window would when it starts.
	Connect func() (exchange.Endpoint, exchange.Options, error)
}

// Account is a scheduled task's account and the patches that run as it.
type Account struct {
	User     string // "" for SYSTEM; DOMAIN\name$ for a gMSA; DOMAIN\name with Password
	Password func() (secret.Value, error)
	Patches  []string
	// Setup names the patches of this account that run Exchange setup, whose memberships the probe
	// cannot read (they are reported as a warning to check with SetupAssist).
	Setup []string
}

// Options tune a probe.
type Options struct {
	// Parallel bounds how many servers are probed at once (default 8).
	Parallel int
	// TaskTimeout bounds the no-op task's run, from registration to removal (default 2 min).
	TaskTimeout time.Duration
	// PollInterval is how often the no-op task is polled (default 1 s).
	PollInterval time.Duration
	// DialTimeout bounds each connection of the network checks (default 10 s).
	DialTimeout time.Duration
	Logger      *slog.Logger
	// Now is the clock the server's is compared with (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = 2 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Run probes servers, at most o.Parallel at once, and returns every check: servers in the given order.
func Run(ctx context.Context, servers []Server, o Options) Report {
	o = o.withDefaults()
	start := o.Now()
	results := make([][]Check, len(servers))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = []Check{{Server: s.Name, Channel: "winrs", Name: "session", Status: Skip, Detail: "not probed: " + ctx.Err().Error()}}
				return
			}
			defer func() { <-sem }()
			p := &serverProbe{s: s, o: o}
			p.run(ctx)
			results[i] = p.checks
		})
	}
	wg.Wait()
	var r Report
	for _, cs := range results {
		r.Checks = append(r.Checks, cs...)
	}
	r.Took = o.Now().Sub(start)
	return r
}

// serverProbe is one server's probe: its checks in the order run.
type serverProbe struct {
	s      Server
	o      Options
	checks []Check
}

func (p *serverProbe) add(c Check) {
	c.Server = p.s.Name
	p.checks = append(p.checks, c)
}

// timed runs f and adds the check it returns with the time it took.
func (p *serverProbe) timed(channel, name string, f func() Check) Check {
	t := time.Now()
	c := f()
	c.Channel, c.Name, c.Took = channel, name, time.Since(t)
	p.add(c)
	return c
}

func (p *serverProbe) run(ctx context.Context) {
	ep, opts, err := p.s.Connect()
	if err != nil {
		p.add(Check{Channel: "winrs", Name: "secrets", Status: Fail, Detail: err.Error(),
			Remedy: "make the secret readable where exmaintd runs (`exmaintd check` lists every one)"})
		return
	}
	reachable := p.network(ctx, ep)
	if !reachable {
		p.add(Check{Channel: "winrs", Name: "session", Status: Skip, Detail: "the listener cannot be reached"})
		return
	}
	opts.Attempts = 1 // a probe reports what it meets, it does not retry it away
	opts.Logger = p.o.Logger
	cl, err := exchange.New(ep, opts)
	if err != nil {
		p.add(Check{Channel: "winrs", Name: "session", Status: Fail, Detail: err.Error()})
		return
	}
	defer func() { _ = cl.Close() }()
	if p.winrs(ctx, cl) {
		p.patching(ctx, cl)
	}
	p.exchange(ctx, cl)
}
