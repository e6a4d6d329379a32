package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/report"
	"github.com/exmaintd/exmaintd/scheduler"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

// Options are the daemon's dependencies.
type Options struct {
	ConfigPath string
	Config     *config.Config // the loaded configuration (Reload reads ConfigPath again)
	Getenv     func(string) string
	Logger     *slog.Logger
	Observer   steps.Observer // metrics; may be nil
	Clock      steps.Clock
	Version    string
	// ExchangeOptions adjusts every client's options (tests and the demo shorten timeouts); may be nil.
	ExchangeOptions func(exchange.Options) exchange.Options
	// OnReload reports each reload's outcome (metrics); may be nil.
	OnReload func(ok bool)
	// Metrics receives window and run metrics; may be nil.
	Metrics *metrics.Metrics
	// Silencer silences each server's alerts while it is in maintenance; may be nil.
	Silencer *alerting.Silencer
	// SilenceMargin extends each silence past the window's end (a crashed daemon cannot leave one forever).
	SilenceMargin time.Duration
	// SilenceRequired skips a server whose silence cannot be created (alertmanager.on_error = "refuse").
	SilenceRequired bool
	// AlertGate is the Prometheus pre-gate; may be nil.
	AlertGate steps.PreGate
	// Webhooks receive the user notifications.
	Webhooks []alerting.Webhook
	// Store is where the journal lives; nil: the file journal.jsonl in daemon.state_dir.
	Store journal.Store
	// Standby starts the daemon as a standby of a cluster (docs/ha.md): it answers status and metrics and
	// refuses write actions, naming the leader, until SetLeader makes it the leader and Open runs.
	Standby bool
	// Instance is this instance's name (status, refusals).
	Instance string
}

// Daemon runs windows. Its exported methods are safe for concurrent use; it implements api.Controller.
type Daemon struct {
	o        Options
	logger   *slog.Logger
	progress *progress
	clients  *clients

	mu       sync.Mutex
	cfg      *config.Config
	journal  *journal.Journal
	runner   *steps.Runner
	blocked  map[string]bool
	stopping bool              // shutdown began: no new run starts (set by abortAll, under mu)
	busy     map[string]string // server → run id
	runs     []*run            // newest last; finished ones kept for status (last 20)
	history  map[string]time.Duration
	last     map[string]time.Time // window → last start the journal knows
	since    time.Time            // the journal's first record, else the daemon's start
	notified map[string]bool      // "ahead" notifications sent (webhook|window|start)
	ready    bool
	leading  bool   // this instance may act (the only one, or the cluster's leader)
	leader   string // the leader's name and API URL, as last seen (standby)
	leaderAt string
	reloadCh chan struct{}

	wg sync.WaitGroup // running windows

	beat atomic.Int64 // when the scheduling loop last went round (Unix ns); 0 before it starts

	// Silence expiries that failed are retried in the background until they succeed or the silence ends;
	// Close cancels them (the journal still holds the silence, so the next start expires it).
	retryCtx    context.Context
	retryCancel context.CancelFunc
	retries     sync.WaitGroup
}

type run struct {
	id, window        string
	started, deadline time.Time
	servers           []string
	cancel            context.CancelFunc
	finished          *time.Time
	result            string
	ends              map[string]report.Ending // by server, once its run ended
}

// New checks the options; Run does the work.
func New(o Options) (*Daemon, error) {
	if o.Config == nil {
		return nil, errors.New("daemon: no configuration")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = steps.RealClock{}
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	retryCtx, retryCancel := context.WithCancel(context.Background())
	cs := newClients()
	p := newProgress(o.Observer)
	p.entering = cs.release
	return &Daemon{o: o, logger: o.Logger, progress: p, clients: cs, cfg: o.Config, busy: map[string]string{},
		last: map[string]time.Time{}, reloadCh: make(chan struct{}, 1), retryCtx: retryCtx, retryCancel: retryCancel,
		leading: !o.Standby, leader: o.Instance}, nil
}

// Config is the configuration in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Open opens the journal and recovers interrupted runs (by the recovery policy). Run calls it; tests and
// the demo may call it first.
func (d *Daemon) Open(ctx context.Context) error {
	d.mu.Lock()
	if d.journal != nil {
		d.mu.Unlock()
		return nil
	}
	cfg := d.cfg
	store := d.o.Store
	if store == nil {
		fs, err := journal.OpenFileStore(cfg.JournalPath(), nil, d.logger)
		if err != nil {
			d.mu.Unlock()
			return err
		}
		store = fs
	}
	jo := journal.Options{Logger: d.logger}
	if d.o.Store != nil { // a cluster's journal says which instance acted
		jo.Instance = d.o.Instance
	}
	if m := d.o.Metrics; m != nil {
		jo.OnError, jo.OnPending = func(error) { m.JournalError() }, m.JournalPending
	}
	j, recs, rep, err := journal.OpenStore(store, jo)
	if err != nil {
		_ = store.Close()
		d.mu.Unlock()
		return err
	}
	d.journal = j
	d.runner = &steps.Runner{Journal: j, Observer: d.progress, Clock: d.o.Clock, Logger: d.logger, ReverseTimeout: cfg.Daemon.ReverseTimeout.Duration}
	d.blocked = journal.Blocked(recs)
	d.history = journal.StepDurations(recs)
	d.since = d.o.Clock.Now()
	if len(recs) > 0 {
		d.since = recs[0].Time
	}
	for _, r := range recs {
		if d.o.Metrics != nil && r.Type == journal.Note && api.LegacyResult(r.Outcome) == api.Succeeded && strings.Contains(string(r.Data), `"window_finished"`) {
			d.o.Metrics.LastSuccess(r.Window, r.Time)
		}
		if r.Type == journal.Note && strings.Contains(string(r.Data), `"notified_ahead"`) {
			var n struct {
				Key string `json:"key"`
			}
			if json.Unmarshal(r.Data, &n) == nil && n.Key != "" {
				if d.notified == nil {
					d.notified = map[string]bool{}
				}
				d.notified[n.Key] = true
			}
		}
		if r.Type == journal.Note && r.Window != "" && strings.Contains(string(r.Data), `"window_started"`) {
			var n struct {
				Start time.Time `json:"start"`
			}
			if json.Unmarshal(r.Data, &n) == nil && n.Start.After(d.last[r.Window]) {
				d.last[r.Window] = n.Start
			}
		}
	}
	d.runs = runHistory(recs, 20)
	unfinished := journal.Unfinished(recs)
	d.mu.Unlock()
	d.logger.Info("journal opened", "store", store.String(), "records", rep.Records, "corrupt", rep.Corrupt, "torn_bytes", rep.TornBytes, "unfinished", len(unfinished))
	d.recoverRuns(ctx, cfg, unfinished, windowEnds(recs))
	d.finishOpenRuns(recs, unfinished)
	// Only now: a silence left by the crashed process covers the server while its recovery reverse runs.
	d.expireLeftovers(ctx, recs)
	d.mu.Lock()
	d.ready = true
	d.mu.Unlock()
	return nil
}

// recoverRuns handles the runs a crash interrupted: each is journaled as interrupted, shown in the status,
// its servers recovered by the recovery policy, and then finished with the result "interrupted" — "held"
// when a server could not be recovered — (the window_finished note, the run metrics and the end
// notification), so that a crash is never a run without an outcome.
func (d *Daemon) recoverRuns(ctx context.Context, cfg *config.Config, unfinished []*journal.ServerRun, ends map[string]time.Time) {
	runs := map[string]*run{}
	results := map[string]steps.WindowResult{}
	var order []*run
	for _, sr := range unfinished {
		r := runs[sr.Run]
		if r == nil {
			r = &run{id: sr.Run, window: sr.Window, started: sr.Started, deadline: ends[sr.Run], cancel: func() {}, ends: map[string]report.Ending{}}
			runs[sr.Run], results[sr.Run] = r, steps.WindowResult{}
			order = append(order, r)
			d.showInterrupted(r)
		}
		r.servers = append(r.servers, sr.Server)
		var env *steps.Env
		closeFn := func() {}
		t, ok := cfg.Target(sr.Server)
		err := fmt.Errorf("no server %q in the configuration", sr.Server)
		if ok {
			env, closeFn, err = d.env(t)
		}
		if err != nil {
			// The server may still be half in maintenance: no window may take that state for its original
			// one. It stays blocked (in memory: the next start tries the recovery again) until cleared.
			d.logger.Error("cannot recover an interrupted run; the server is blocked until an operator clears it", "server", sr.Server, "run", sr.Run, "err", err)
			d.progress.RollbackFailed(sr.Server, true)
			d.progress.ServerState(sr.Server, steps.StateRollbackFailed)
			results[sr.Run][sr.Server] = steps.Result{Outcome: steps.OutcomeRollbackFailed, Err: fmt.Errorf("recovery not possible: %w", err)}
			continue
		}
		res := d.runner.Recover(ctx, sr, env, cfg.Daemon.Recovery)
		closeFn()
		d.logger.Warn("interrupted run handled", "server", sr.Server, "run", sr.Run, "outcome", res.Outcome, "err", res.Err)
		results[sr.Run][sr.Server] = res
	}
	for _, r := range order {
		result := api.Interrupted
		for _, x := range results[r.id] {
			if x.Outcome == steps.OutcomeRollbackFailed {
				result = api.Held // what needs an operator first
			}
		}
		d.finishRun(r, result, results[r.id])
	}
}

// runHistory rebuilds the last n finished runs from the journal (window_started and window_finished notes,
// each server's run_finished), so that the status shows what ran before a restart.
func runHistory(recs []journal.Record, n int) []*run {
	var out []*run
	for _, x := range windowRuns(recs) {
		if x.finished != nil {
			out = append(out, x)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// windowRuns folds every window run the journal knows, in start order, finished or not.
func windowRuns(recs []journal.Record) []*run {
	byID := map[string]*run{}
	var order []*run
	for _, r := range recs {
		if r.Run == "" {
			continue
		}
		var note struct {
			Event   string    `json:"event"`
			End     time.Time `json:"end"`
			Servers []string  `json:"servers"`
		}
		_ = json.Unmarshal(r.Data, &note)
		x := byID[r.Run]
		switch {
		case r.Type == journal.Note && note.Event == "window_started" && x == nil:
			x = &run{id: r.Run, window: r.Window, started: r.Time, deadline: note.End, servers: note.Servers, cancel: func() {}, ends: map[string]report.Ending{}}
			byID[r.Run] = x
			order = append(order, x)
		case x == nil:
		case r.Type == journal.Note && note.Event == "window_finished":
			at := r.Time
			x.finished, x.result = &at, api.LegacyResult(r.Outcome)
		case r.Type == journal.RunFinished && r.Server != "":
			x.ends[r.Server] = report.End(r)
		}
	}
	return order
}

// finishOpenRuns finishes, as interrupted, the window runs a crash (or a dead leader) left open between
// their servers: the journal has the window's start and no end, and no server of it was in the middle of a
// run (recoverRuns handles those). Without this the run would stay open for ever: no result, no end
// notification, its run metrics active.
func (d *Daemon) finishOpenRuns(recs []journal.Record, unfinished []*journal.ServerRun) {
	recovered := map[string]bool{}
	for _, sr := range unfinished {
		recovered[sr.Run] = true
	}
	for _, r := range windowRuns(recs) {
		if r.finished != nil || recovered[r.id] {
			continue
		}
		d.logger.Warn("a window run was interrupted between its servers; finishing it", "window", r.window, "run", r.id)
		d.showInterrupted(r)
		d.finishRun(r, api.Interrupted, steps.WindowResult{})
	}
}

// showInterrupted lists a run a crash interrupted in the status and journals that it was interrupted;
// finishRun ends it once its servers are handled.
func (d *Daemon) showInterrupted(r *run) {
	d.mu.Lock()
	d.runs = append(d.runs, r)
	j := d.journal
	d.mu.Unlock()
	data, _ := json.Marshal(map[string]any{"event": "window_interrupted"})
	if err := j.Defer(journal.Record{Type: journal.Note, Run: r.id, Window: r.window, Outcome: api.Interrupted, Data: data}); err != nil {
		d.logger.Error("journaling an interrupted run", "run", r.id, "err", err)
	}
}

// windowEnds maps run ids to their window's hard end, from the window_started notes.
func windowEnds(recs []journal.Record) map[string]time.Time {
	out := map[string]time.Time{}
	for _, r := range recs {
		var n struct {
			Event string    `json:"event"`
			End   time.Time `json:"end"`
		}
		if r.Type == journal.Note && r.Run != "" && json.Unmarshal(r.Data, &n) == nil && n.Event == "window_started" {
			out[r.Run] = n.End
		}
	}
	return out
}

// env connects to a server and builds its step environment (the target's settings, without a window's
// patches); closeFn ends the session.
func (d *Daemon) env(t *config.Target) (*steps.Env, func(), error) {
	ep, opts, err := t.Connect(d.o.Getenv)
	if err != nil {
		return nil, nil, err
	}
	opts.Logger = d.logger
	opts.InMaintenance = d.progress.inMaintenance
	if d.o.ExchangeOptions != nil {
		opts = d.o.ExchangeOptions(opts)
	}
	c, err := exchange.New(ep, opts)
	if err != nil {
		return nil, nil, err
	}
	d.clients.add(c)
	secrets := func(s secret.Source) (secret.Value, error) { return secret.Load(s, d.o.Getenv) }
	return &steps.Env{Ex: c, Target: t.Steps, Settings: t.Settings, Clock: d.o.Clock, Logger: d.logger, Observer: d.progress, Secrets: secrets},
		func() { d.clients.remove(c); _ = c.Close() }, nil
}

// Close waits for running windows and closes the journal.
func (d *Daemon) Close() error {
	d.wg.Wait()
	d.clients.wg.Wait()
	d.retryCancel()
	d.retries.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.journal == nil {
		return nil
	}
	err := d.journal.Close()
	d.journal = nil
	return err
}

func newRunID(window string, at time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s", window, at.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}

// startWindow starts occurrence occ of window w; it returns the run id. Servers busy in another run make it a
// conflict: a window never runs concurrently with another on the same server.
func (d *Daemon) startWindow(ctx context.Context, w config.Window, occ scheduler.Occurrence) (string, error) {
	d.mu.Lock()
	if !d.ready {
		d.mu.Unlock()
		return "", fmt.Errorf("daemon not ready (journal recovery not finished): %w", api.ErrConflict)
	}
	if d.stopping {
		d.mu.Unlock()
		return "", fmt.Errorf("window %s: exmaintd is shutting down: %w", w.Name, api.ErrConflict)
	}
	cfg := d.cfg
	rollout, ok := cfg.Rollout(w.Name)
	if !ok {
		d.mu.Unlock()
		return "", fmt.Errorf("window %s: no longer in the configuration: %w", w.Name, api.ErrNotFound)
	}
	for _, s := range w.Servers {
		if id := d.busy[strings.ToUpper(s)]; id != "" {
			d.mu.Unlock()
			return "", fmt.Errorf("window %s: server %s is busy in run %s: %w", w.Name, s, id, api.ErrConflict)
		}
	}
	now := d.o.Clock.Now()
	id := newRunID(w.Name, now)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &run{id: id, window: w.Name, started: now, deadline: occ.End, servers: w.Servers, cancel: cancel, ends: map[string]report.Ending{}}
	for _, s := range w.Servers {
		d.busy[strings.ToUpper(s)] = id
	}
	d.runs = append(d.runs, r)
	if len(d.runs) > 20 {
		d.runs = d.runs[len(d.runs)-20:]
	}
	blocked := maps.Clone(d.blocked)
	history := d.history
	j, runner := d.journal, d.runner
	d.last[w.Name] = occ.Start
	// Registered under the lock that abortAll takes, so that shutdown's Wait either sees this run or the
	// run sees stopping: WaitGroup.Add never races Wait.
	d.wg.Add(1)
	d.mu.Unlock()

	note, _ := json.Marshal(map[string]any{"event": "window_started", "start": occ.Start, "end": occ.End, "servers": w.Servers})
	// The first write of the run is the probe: while the journal cannot be written (or still holds a
	// reverse's deferred records, which Append writes first) no window starts.
	if _, err := j.Append(journal.Record{Type: journal.Note, Run: id, Window: w.Name, Data: note}); err != nil {
		cancel()
		d.finishRun(r, api.Skipped, nil) // nothing started: the window could not
		d.wg.Done()
		return "", fmt.Errorf("window %s: not started, the journal cannot be written: %w", w.Name, err)
	}
	envErrs := steps.WindowResult{} // servers that could not even be connected: skipped, and the run is not a success
	var groups []steps.Group
	var closers []func()
	for _, rg := range rollout {
		g := steps.Group{Name: rg.Name, FailureBudget: rg.FailureBudget}
		for _, t := range rg.Servers {
			env, closeFn, err := d.env(t.Target)
			if err != nil {
				envErrs[t.Name] = steps.Result{Outcome: steps.OutcomeSkipped, Err: err}
				d.logger.Error("server skipped", "server", t.Name, "run", id, "err", err)
				continue
			}
			env.Settings = t.Settings
			closers = append(closers, closeFn)
			proc := t.Procedure
			sr := steps.ServerRun{RunID: id, Window: w.Name, Procedure: proc, Env: env, Deadline: occ.End, AllowOutage: t.AllowOutage,
				PreGates: steps.PreGateOptions{Deadline: occ.End, Estimate: proc.Estimate(history, cfg.Steps.DefaultStepEstimate.Duration),
					BackupMaxAge: t.BackupMaxAge, DAGMembers: t.DAG.Servers}}
			if d.o.AlertGate != nil {
				sr.PreGates.Extra = []steps.PreGate{d.o.AlertGate}
			}
			if d.o.Silencer != nil {
				server, fqdn, until := t.Name, t.FQDN, occ.End.Add(d.o.SilenceMargin)
				sr.Begin = func(ctx context.Context) error { return d.silence(ctx, server, fqdn, id, until) }
				sr.End = func(ctx context.Context, r steps.Result) { d.unsilence(ctx, server, r) }
			}
			g.Servers = append(g.Servers, sr)
		}
		groups = append(groups, g)
	}
	if d.o.Metrics != nil {
		d.o.Metrics.RunStarted(w.Name, occ.End, w.Servers)
	}
	d.notify(alerting.Event{Event: "start", Window: w.Name, Run: id, Servers: w.Servers, Start: occ.Start, End: occ.End})
	go func() {
		defer d.wg.Done()
		defer cancel()
		d.logger.Info("window started", "window", w.Name, "run", id, "deadline", occ.End, "servers", w.Servers)
		res := runner.RunWindow(rctx, groups, cfg.Daemon.Parallel, blocked)
		for s, x := range envErrs {
			res[s] = x
		}
		for _, c := range closers {
			c()
		}
		d.finishRun(r, summarize(res, rctx.Err() != nil), res)
	}()
	return id, nil
}

// summarize turns server outcomes into the run's result (runResult); stopped tells that the run was aborted
// (its context ended).
func summarize(res steps.WindowResult, stopped bool) string {
	words := map[string]string{}
	for s, r := range res {
		if r.Outcome == steps.OutcomeHandedOver {
			// This instance lost its leadership (and so aborted): the run is the new leader's now.
			return steps.OutcomeHandedOver
		}
		words[s] = report.EndOf(r).Outcome
		stopped = stopped || r.Stopped != ""
	}
	return report.RunResult(words, stopped)
}

func (d *Daemon) finishRun(r *run, result string, res steps.WindowResult) {
	now := d.o.Clock.Now()
	if result == steps.OutcomeHandedOver {
		// Not finished: the new leader recovers it, journals its end and tells the users. This instance only
		// stops showing it as running; it records nothing, counts nothing and notifies nobody.
		d.mu.Lock()
		r.finished, r.result = &now, result
		d.mu.Unlock()
		d.logger.Warn("window run handed over to the new leader", "window", r.window, "run", r.id)
		return
	}
	d.mu.Lock()
	r.finished, r.result = &now, result
	for s, x := range res {
		r.ends[s] = report.EndOf(x)
		if x.Outcome == steps.OutcomeRollbackFailed {
			d.blocked[s] = true
		}
	}
	for _, s := range r.servers {
		if d.busy[strings.ToUpper(s)] == r.id {
			delete(d.busy, strings.ToUpper(s))
		}
	}
	j := d.journal
	d.mu.Unlock()
	if d.o.Metrics != nil {
		d.o.Metrics.RunFinished(r.window, result, now.Sub(r.started), r.servers)
	}
	event := "end"
	if result == api.Aborted || result == api.Reversed {
		event = "abort"
	}
	d.notify(alerting.Event{Event: event, Window: r.window, Run: r.id, Servers: r.servers, Start: r.started, End: r.deadline, Result: result})
	data, _ := json.Marshal(map[string]any{"event": "window_finished", "result": result})
	if j != nil {
		if err := j.Defer(journal.Record{Type: journal.Note, Run: r.id, Window: r.window, Outcome: result, Data: data}); err != nil {
			d.logger.Error("journaling the window's end", "run", r.id, "err", err)
		}
	}
	d.logger.Info("window finished", "window", r.window, "run", r.id, "result", result)
}

// Wait blocks until run id has finished and returns its result and per-server errors.
func (d *Daemon) Wait(ctx context.Context, id string) (string, map[string]string, error) {
	for {
		d.mu.Lock()
		for _, r := range d.runs {
			if r.id == id && r.finished != nil {
				errs := map[string]string{}
				for k, v := range r.ends {
					if v.Reason != "" {
						errs[k] = v.Reason
					}
				}
				d.mu.Unlock()
				return r.result, errs, nil
			}
		}
		d.mu.Unlock()
		if !d.o.Clock.Sleep(ctx, 100*time.Millisecond) {
			return "", nil, ctx.Err()
		}
	}
}

// ServerStates lists every configured server's state, sorted by name.
func (d *Daemon) serverNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, s := range d.cfg.Servers {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}
