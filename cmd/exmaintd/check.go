package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/scheduler"
	"github.com/exmaintd/exmaintd/steps"
)

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usageError("-config FILE is required")
	}
	c, err := config.Load(path)
	if err != nil { // every problem at once (config.Problems), or the file could not be read
		return nil, exitError{code: 2, msg: err.Error()}
	}
	return c, nil
}

func cmdCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flags("check", stderr)
	path := fs.String("config", "", "configuration file")
	secrets := fs.Bool("secrets", true, "also read every secret and file the configuration names (false: check the file alone, e.g. away from the host that holds them)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	for _, w := range c.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *secrets {
		// Every one at once, as the daemon would meet them at start (it refuses to run with exit 2).
		if problems := unreadableSecrets(c, getenv); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(stderr, "secret:", p)
			}
			return exitError{code: 2, msg: fmt.Sprintf("%s: %d secrets or files cannot be read (check -secrets=false checks the file alone)", *path, len(problems))}
		}
	}
	_, err = fmt.Fprintf(stdout, "%s: OK (%s, %s, %s)\n", *path, count(len(c.Servers), "server"), count(len(c.DAGs), "DAG"), count(len(c.Windows), "window"))
	for _, s := range c.Servers {
		if t, ok := c.Target(s.Name); ok {
			fmt.Fprintf(stdout, "  %s: WinRS %s; Exchange cmdlets %s\n", t.Name, t.WinRS, t.Exchange)
		}
	}
	return err
}

func cmdNext(args []string, stdout, stderr io.Writer) error {
	fs := flags("next", stderr)
	path := fs.String("config", "", "configuration file")
	n := fs.Int("n", 3, "occurrences per window (1 or more)")
	from := fs.String("from", "", "list occurrences after this RFC 3339 time (default: now), e.g. 2027-03-14T00:00:00Z")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("next takes no arguments, got %q", fs.Args())
	}
	if *n < 1 {
		return usageError("-n %d: want 1 or more occurrences", *n)
	}
	now := time.Now()
	if *from != "" {
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			return usageError("-from %q: want an RFC 3339 time such as 2027-03-14T00:00:00Z", *from)
		}
		now = t
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WINDOW\tZONE\tSTART (WINDOW'S ZONE)\tEND (WINDOW'S ZONE)\tSTART (UTC)\tEND (UTC)\tSERVERS")
	for _, w := range c.Windows {
		loc, err := c.Location(w)
		if err != nil {
			return fmt.Errorf("window %q: %w", w.Name, err)
		}
		sch, err := scheduler.Parse(w.Schedule, loc)
		if err != nil {
			return fmt.Errorf("window %q: %w", w.Name, err)
		}
		if z := scheduler.Zone(w.Schedule); z != nil {
			loc = z // a CRON_TZ=/TZ= prefix's zone is the one the spec runs in
		}
		sw := scheduler.Window{Name: w.Name, Schedule: sch, Duration: w.Duration.Duration}
		for _, o := range sw.Upcoming(now, *n) {
			const local = "Mon 2006-01-02 15:04 MST"
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.Name, loc, o.Start.In(loc).Format(local), o.End.In(loc).Format(local),
				o.Start.UTC().Format("2006-01-02 15:04Z"), o.End.UTC().Format("2006-01-02 15:04Z"), strings.Join(w.Servers, ","))
		}
	}
	return tw.Flush()
}

func cmdPlan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flags("plan", stderr)
	path := fs.String("config", "", "configuration file")
	window := fs.String("window", "", "window (default: every window)")
	server := fs.String("server", "", "server (default: every server of the window)")
	offline := fs.Bool("offline", false, "do not connect to the servers for the live pre-gates")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := planTargets(c, *window, *server, *path); err != nil {
		return err // before anything is printed: nothing of a plan that cannot be made
	}
	found := false
	var blocked []string // servers the plan's verdict is "would not start" (or could not be checked) for
	for _, w := range c.Windows {
		if *window != "" && w.Name != *window {
			continue
		}
		zone := "time zone: unknown"
		if loc, err := c.Location(w); err == nil {
			zone = loc.String()
			if w.TimeZone == "" {
				zone += ", from daemon.time_zone or the host"
			}
		}
		fmt.Fprintf(stdout, "window %s: %s (%s), %v\n", w.Name, w.Schedule, zone, w.Duration.Duration)
		rollout, _ := c.Rollout(w.Name)
		for _, group := range rollout {
			for _, t := range group.Servers {
				if *server != "" && !strings.EqualFold(t.Name, *server) {
					continue
				}
				found = true
				if !planServer(ctx, t, *offline, getenv, stdout) {
					blocked = append(blocked, t.Name)
				}
			}
		}
	}
	if !found {
		return usageError("no window %q with server %q in %s", *window, *server, *path)
	}
	if len(blocked) > 0 {
		return exitError{code: 3, msg: fmt.Sprintf("would not start on %s (see above)", strings.Join(blocked, ", "))}
	}
	return nil
}

// planTargets refuses a -window or -server the configuration does not have, naming what it has.
func planTargets(c *config.Config, window, server, path string) error {
	var names []string
	inWindow := false
	for _, w := range c.Windows {
		names = append(names, w.Name)
		if window != "" && w.Name != window {
			continue
		}
		if server == "" || slices.ContainsFunc(w.Servers, func(s string) bool { return strings.EqualFold(s, server) }) {
			inWindow = true
		}
	}
	if window != "" && !slices.Contains(names, window) {
		return usageError("no window %q in %s (windows: %s)", window, path, strings.Join(names, ", "))
	}
	if !inWindow && window != "" {
		return usageError("server %q is not in window %q of %s", server, window, path)
	}
	if !inWindow {
		return usageError("server %q is in no window of %s", server, path)
	}
	return nil
}

// planServer prints one server's plan in its window and, unless offline, its live pre-gates; it reports
// whether the server would start.
func planServer(ctx context.Context, t config.WindowTarget, offline bool, getenv func(string) string, stdout io.Writer) (startable bool) {
	settings := t.Settings
	fmt.Fprintf(stdout, "\nserver %s (procedure %s", t.Name, t.ProcedureName)
	if t.DAG.Name != "" {
		fmt.Fprintf(stdout, ", DAG %s", t.DAG.Name)
	}
	fmt.Fprintln(stdout, ")")
	fmt.Fprintf(stdout, "  channels: WinRS %s (PS>); Exchange cmdlets %s (EX>)\n", t.WinRS, t.Exchange)
	planned, err := t.Procedure.Plan(t.Steps, settings, t.AllowOutage)
	if err != nil {
		fmt.Fprintf(stdout, "  REFUSED: %v\n", err)
		return false
	}
	for i, p := range planned {
		fmt.Fprintf(stdout, "  %2d. %s — %s\n", i+1, p.Name, p.Describe)
		if p.Note != "" {
			fmt.Fprintf(stdout, "      (%s)\n", p.Note)
		}
		for _, op := range p.Ops {
			// EX> runs on Exchange's remote PowerShell endpoint as a command object (values are data, not
			// script); PS> is powershell.exe on the server over WinRS.
			prompt := "PS>"
			if op.Channel() == exchange.ChannelExchange {
				prompt = "EX>"
			}
			fmt.Fprintf(stdout, "      %s %s\n", prompt, op.Text())
		}
	}
	fmt.Fprintln(stdout, "  exit: each step's undo in reverse, restoring the values recorded before it ran")
	if offline {
		return true // nothing live was checked: the verdict is the procedure's, which planned
	}
	ep, opts, err := t.Connect(getenv)
	if err != nil {
		fmt.Fprintf(stdout, "  live pre-gates: not run: %v\n", err)
		return false
	}
	opts.Attempts = 1
	cl, err := exchange.New(ep, opts)
	if err != nil {
		fmt.Fprintf(stdout, "  live pre-gates: not run: %v\n", err)
		return false
	}
	defer cl.Close()
	obs := &gatePrinter{w: stdout, s: settings}
	env := &steps.Env{Ex: cl, Target: t.Steps, Settings: settings, Clock: steps.RealClock{}, Logger: discardLogger(), Observer: obs}
	gctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if srvs, err := cl.ExchangeServers(gctx); err != nil {
		fmt.Fprintf(stdout, "  version: not read: %v\n", err)
	} else {
		for _, x := range srvs {
			if !strings.EqualFold(x.Name, t.Name) {
				continue
			}
			v, err := exchange.ParseVersion(x.AdminDisplayVersion)
			if err != nil {
				fmt.Fprintf(stdout, "  version: %v\n", err)
				break
			}
			fmt.Fprintf(stdout, "  version: %s (%s)\n", v.Product(), v)
			if w := v.SupportWarning(time.Now()); w != "" {
				fmt.Fprintf(stdout, "  WARNING: %s\n", w)
			}
		}
	}
	fmt.Fprintln(stdout, "  live pre-gates (read-only):")
	// Every gate, not only up to the first failure: the operator sees the whole verdict at once.
	if err := steps.CheckPreGates(gctx, env, steps.PreGateOptions{BackupMaxAge: t.BackupMaxAge, DAGMembers: t.DAG.Servers, All: true}); err != nil {
		fmt.Fprintln(stdout, "    → would not start:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stdout, "      - %s\n", line)
		}
		return false
	}
	fmt.Fprintln(stdout, "    → all passed")
	return true
}

// gatePrinter prints gate results as they come, with the values the queue and copy gates read against
// their thresholds.
type gatePrinter struct {
	steps.NopObserver
	w io.Writer
	s steps.Settings
}

func (g *gatePrinter) GateChecked(server, gate, result string) {
	fmt.Fprintf(g.w, "    %-14s %s\n", gate, result)
}

func (g *gatePrinter) Queues(_ string, q exchange.QueueSummary) {
	fmt.Fprintf(g.w, "    %-14s %d active vs queue_max %d (%d shadow, %d poison, %d retry, %d unreachable)\n", "  read:", q.Active, g.s.QueueMax, q.Shadow, q.Poison, q.Retry, q.Unreachable)
}

func (g *gatePrinter) Copies(_ string, maxCQ, maxRQ int64, unhealthy int) {
	fmt.Fprintf(g.w, "    %-14s worst copy queue %d vs copy_queue_max %d, replay queue %d vs replay_queue_max %d, %d unhealthy copies\n",
		"  read:", maxCQ, g.s.CopyQueueMax, maxRQ, g.s.ReplayQueueMax, unhealthy)
}

// count is n with its noun, plural unless n is 1: "1 DAG", "3 servers".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
