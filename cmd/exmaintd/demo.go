package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

// demoInjectAt names the step at whose start a fault must already be in place because the failing step's
// effect begins earlier (the drain starts with HubTransport Draining; MoveNow moves databases off).
func demoInjectAt(step string) string {
	switch step {
	case "drain-queues":
		return "hubtransport-draining"
	case "move-active-databases":
		return "block-activation"
	}
	return step
}

// demoFaults is how -fail-at makes each step fail on EX01, through exchsim's fault API.
func demoFaults() map[string]exchsim.Fault {
	setState := exchsim.Fault{Kind: "cmdlet_error", Target: "Set-ServerComponentState", Message: "The operation couldn't be performed (injected by exmaintd demo -fail-at)."}
	return map[string]exchsim.Fault{
		"hubtransport-draining":      setState,
		"restart-transport":          {Kind: "cmdlet_error", Target: "Restart-Service"},
		"redirect-message":           {Kind: "cmdlet_error", Target: "Redirect-Message"},
		"drain-queues":               {Kind: "stuck_queue"},
		"suspend-cluster-node":       {Kind: "cmdlet_error", Target: "Suspend-ClusterNode"},
		"block-activation":           {Kind: "cmdlet_error", Target: "Set-MailboxServer"},
		"highavailability-inactive":  setState,
		"move-active-databases":      {Kind: "move_fails"},
		"serverwideoffline-inactive": setState,
		"verify-maintenance":         {Kind: "cmdlet_error", Target: "Get-ServerComponentState"},
		"patch":                      {Kind: "patch_fails"},
		"reboot":                     {Kind: "cmdlet_error", Target: "Restart-Computer"},
		// SE has no UMCallRouter: the step reads the components to find that out, and that read fails.
		"umcallrouter-draining": {Kind: "cmdlet_error", Target: "Get-ServerComponentState"},
		// The step reads who owns the cluster core group before it moves it.
		"move-primary-active-manager": {Kind: "cmdlet_error", Target: "Get-ClusterGroup"},
	}
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", stderr)
	failAt := fs.String("fail-at", "", "make this step of EX01's dag procedure fail, to show the abort and the reverse")
	keep := fs.Bool("keep", false, "after the window, keep the simulated org, the daemon and its directory until interrupted: "+
		"exmaintd status/start/abort work with the kept config")
	if err := parse(fs, args); err != nil {
		return err
	}
	faults := demoFaults()
	if _, ok := faults[*failAt]; *failAt != "" && !ok {
		var names []string
		for n := range faults {
			names = append(names, n)
		}
		sort.Strings(names)
		return usageError("-fail-at %q: want one of %s", *failAt, strings.Join(names, ", "))
	}
	sc, err := org.BuiltinScenario("demo")
	if err != nil {
		return err
	}
	sim, err := exchsim.Start(ctx, exchsim.Options{Scenario: sc, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer sim.Close()
	dir, err := os.MkdirTemp("", "exmaintd-demo-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	o := demo.Options{Listen: ln.Addr().String()}
	var token secret.Value
	if *keep {
		// The kept config must work with status, start and abort: the API's real address and a token.
		var b [16]byte
		_, _ = rand.Read(b[:])
		token = secret.New(hex.EncodeToString(b[:]))
		o.APITokenFile = filepath.Join(dir, "api-token")
		if err := os.WriteFile(o.APITokenFile, []byte(token.Reveal()+"\n"), 0o600); err != nil {
			return err
		}
	}
	path, err := demo.WriteConfig(dir, sim, o)
	if err != nil {
		return err
	}
	c, err := config.Load(path) // the real loader, on the file just written
	if err != nil {
		return err
	}
	before := sim.Org().Snapshot()

	disp := &display{w: stdout, start: time.Now(), queues: map[string]int64{}}
	if *failAt != "" {
		f := faults[*failAt]
		f.Server = "EX01"
		at := demoInjectAt(*failAt)
		disp.onStep = func(server, step string, started, undo bool) {
			switch {
			case server != "EX01" || undo:
			case started && step == at:
				_ = sim.InjectFault(f)
				disp.line("EX01", "!! exchsim: injecting %s for %s (-fail-at)", f.Kind, *failAt)
			case !started && step == *failAt:
				_ = sim.ClearFaults()
			}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	m := metrics.New(reg, version, known(c))
	disp.next = m
	d, err := daemon.New(daemon.Options{ConfigPath: path, Config: c, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), Observer: disp, Version: version, Metrics: m,
		ExchangeOptions: func(o exchange.Options) exchange.Options {
			o.Backoff, o.Observer = 100*time.Millisecond, m.WinRMRequest
			return o
		}})
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- api.Serve(sctx, ln, api.NewHandler(api.Options{Controller: d, Token: token, Metrics: m.Handler(reg, slog.New(slog.DiscardHandler)), Logger: slog.New(slog.DiscardHandler)}), 5*time.Second)
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			fmt.Fprintln(stderr, "exmaintd demo: api:", err)
		}
	}()

	fmt.Fprintf(stdout, "exmaintd demo — a simulated Exchange org (exchsim) on loopback:\n")
	for _, e := range sim.Servers() {
		fmt.Fprintf(stdout, "  %s  WinRM http://%s/wsman  (%s)\n", e.Name, e.Addr(), roleOf(c, e.Name))
	}
	kept := "removed at the end; -keep keeps it, with the org and the daemon"
	if *keep {
		kept = "kept, with the org and the daemon, until interrupted (-keep)"
	}
	fmt.Fprintf(stdout, "config %s (%s) · metrics http://%s/metrics · status http://%s/api/v1/status\n\n", path, kept, ln.Addr(), ln.Addr())
	if err := d.Open(ctx); err != nil {
		return err
	}
	id, err := d.StartWindow(ctx, "demo")
	if err != nil {
		return err
	}
	result, _, err := d.Wait(ctx, id)
	if err != nil {
		return err
	}
	ends := map[string]api.ServerRun{} // each server's outcome and reason, in the status's words
	for _, r := range d.Status(ctx).Runs {
		for _, s := range r.Servers {
			if r.ID == id {
				ends[s.Server] = s
			}
		}
	}
	if !*keep {
		_ = d.Close()
	}
	diffs := before.Equivalent(sim.Org().Snapshot())
	err = demoSummary(stdout, disp, id, result, ends, diffs, *failAt)
	if *keep {
		fmt.Fprintf(stdout, "\nkept %s; the simulated org and the daemon run until interrupted (Ctrl-C). Meanwhile:\n"+
			"  exmaintd status -config %s\n  EXMAINTD_API_TOKEN=$(cat %s) exmaintd start -config %s demo\n",
			dir, path, o.APITokenFile, path)
		// The scheduler's loop until interrupted: on Ctrl-C it aborts a window started meanwhile and returns
		// once its servers are reversed, as the daemon does on SIGTERM.
		if serr := d.Schedule(ctx); serr != nil && ctx.Err() == nil {
			fmt.Fprintln(stderr, "exmaintd demo:", serr)
		}
		_ = d.Close()
	}
	return err
}

func roleOf(c *config.Config, s string) string {
	if d := c.DAGOf(s).Name; d != "" {
		return "member of " + d
	}
	return "standalone"
}

func demoSummary(w io.Writer, disp *display, id, result string, ends map[string]api.ServerRun, diffs []string, failAt string) error {
	fmt.Fprintf(w, "\nrun %s: %s in %v\n", id, result, time.Since(disp.start).Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tSTEPS\tOUTCOME")
	disp.mu.Lock()
	seen := map[string]bool{}
	var servers []string
	for s := range disp.steps {
		servers, seen[s] = append(servers, s), true
	}
	for s, e := range ends {
		if !seen[s] && e.Error != "" {
			servers = append(servers, s)
		}
	}
	sort.Strings(servers)
	for _, s := range servers {
		out := ends[s].Outcome
		if out == "" {
			out = disp.final[s]
		}
		if e := ends[s].Error; e != "" {
			out += ": " + e
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s, disp.steps[s], out)
	}
	disp.mu.Unlock()
	_ = tw.Flush()
	if len(diffs) == 0 {
		done := " (patched and rebooted)"
		if result != api.Succeeded {
			done = " (the servers that ran patched and rebooted, the reversed ones as before the window)"
		}
		fmt.Fprintln(w, "\nexchsim's state after the window equals its state before: every server is back exactly as it was"+done+".")
	} else {
		fmt.Fprintf(w, "\nexchsim's state differs from before:\n  %s\n", strings.Join(diffs, "\n  "))
		return exitError{code: 1, msg: "the demo left the org changed"}
	}
	switch {
	case failAt == "" && result == api.Succeeded:
		return nil
	case failAt != "" && result == api.Reversed && strings.Contains(ends["EX01"].Error, failAt):
		// The org is intact, but the window did not do its job: say so, and exit as a failed run would.
		fmt.Fprintf(w, "EX01 failed at %s (injected by -fail-at) and was reversed; the rest of DAG01 did not start this window, EX03 ran on its own. The window did not patch DAG01.\n", failAt)
		return exitError{code: 1, msg: fmt.Sprintf("the window ended %s: EX01 reversed after the failure injected at %s, as asked", result, failAt)}
	}
	return exitError{code: 1, msg: "unexpected demo result " + result}
}

// display prints the window's progress as it happens.
type display struct {
	next   steps.Observer // metrics
	w      io.Writer
	start  time.Time
	mu     sync.Mutex
	queues map[string]int64
	steps  map[string]int
	final  map[string]string
	phase  map[string]steps.ServerState // each server's current state: exit or reverse
	onStep func(server, step string, started, undo bool)
}

func (d *display) fwd() steps.Observer {
	if d.next == nil {
		return steps.NopObserver{}
	}
	return d.next
}

// Copies forwards to the metrics; the display does not show copy health.
func (d *display) Copies(server string, cq, rq int64, unhealthy int) {
	d.fwd().Copies(server, cq, rq, unhealthy)
}

func (d *display) line(server, format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "%6.1fs  %-5s %s\n", time.Since(d.start).Seconds(), server, fmt.Sprintf(format, args...))
}

func (d *display) ServerState(server string, st steps.ServerState) {
	d.fwd().ServerState(server, st)
	d.mu.Lock()
	if d.final == nil {
		d.final, d.steps, d.phase = map[string]string{}, map[string]int{}, map[string]steps.ServerState{}
	}
	d.phase[server] = st
	if _, ok := d.steps[server]; !ok {
		d.steps[server] = 0
	}
	switch st {
	case steps.StateIdle:
		if d.final[server] == "" || d.final[server] == "in progress" {
			d.final[server] = "back in service"
		}
	case steps.StateRollingBack:
		d.final[server] = "reversed"
	case steps.StateRollbackFailed:
		d.final[server] = "ROLLBACK FAILED"
	default:
		if d.final[server] == "" {
			d.final[server] = "in progress"
		}
	}
	d.mu.Unlock()
	d.line(server, "── %s", st)
}

func (d *display) StepStarted(server, step string, at time.Time) {
	d.fwd().StepStarted(server, step, at)
	d.mu.Lock()
	d.steps[server]++
	d.mu.Unlock()
	d.line(server, "→ %s", step)
	if d.onStep != nil {
		d.onStep(server, step, true, false)
	}
}

func (d *display) StepFinished(server, step string, undo bool, took time.Duration, err error) {
	d.fwd().StepFinished(server, step, undo, took, err)
	verb := "done"
	if undo {
		d.mu.Lock()
		exiting := d.phase[server] == steps.StateExiting
		d.mu.Unlock()
		if nothingToReverse(step) && err == nil {
			return // a patch stays installed and a reboot happened: printing "undone" would be untrue
		}
		verb = "undone"
		if exiting {
			verb = "restored" // the normal exit brings the server back; nothing is being reversed after a failure
		}
	}
	if err != nil {
		d.line(server, "✗ %s failed after %v: %v", step, took.Round(time.Millisecond), err)
	} else {
		d.line(server, "✓ %s %s (%v)", step, verb, took.Round(time.Millisecond))
	}
	if d.onStep != nil {
		d.onStep(server, step, false, undo)
	}
}

func (d *display) GateChecked(server, gate, result string) {
	d.fwd().GateChecked(server, gate, result)
	if result != steps.GatePass {
		d.line(server, "gate %s: %s", gate, result)
	}
}

func (d *display) Queues(server string, s exchange.QueueSummary) {
	d.fwd().Queues(server, s)
	d.mu.Lock()
	last, seen := d.queues[server]
	d.queues[server] = s.Active
	d.mu.Unlock()
	if !seen || last != s.Active {
		d.line(server, "queues: %d active, %d shadow, %d poison", s.Active, s.Shadow, s.Poison)
	}
}

func (d *display) DrainStalled(server, step string, stalled bool) {
	d.fwd().DrainStalled(server, step, stalled)
	if stalled {
		d.line(server, "!! %s stalled: no progress (the stuck-drain alert fires on this)", step)
	}
}

func (d *display) RollbackFailed(server string, failed bool) {
	d.fwd().RollbackFailed(server, failed)
	if failed {
		d.line(server, "!! rollback failed: hands off until an operator clears it")
	}
}

// nothingToReverse names the steps whose undo does nothing: a patch is not uninstalled, a reboot is not
// reversed, a verification changed nothing.
func nothingToReverse(step string) bool {
	switch step {
	case "patch", "reboot", "verify-maintenance":
		return true
	}
	return false
}
