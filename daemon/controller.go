package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/scheduler"
	"github.com/exmaintd/exmaintd/steps"
)

// schedule builds a window's scheduler.Window from the configuration.
func schedule(cfg *config.Config, w config.Window) (scheduler.Window, error) {
	loc, err := cfg.Location(w)
	if err != nil {
		return scheduler.Window{}, err
	}
	sch, err := scheduler.Parse(w.Schedule, loc)
	if err != nil {
		return scheduler.Window{}, err
	}
	return scheduler.Window{Name: w.Name, Schedule: sch, Duration: w.Duration.Duration}, nil
}

// Status implements api.Controller.
func (d *Daemon) Status(context.Context) api.Status {
	now := d.o.Clock.Now()
	cfg := d.Config()
	st := api.Status{Version: d.o.Version, Now: now.UTC()}
	for _, w := range cfg.Windows {
		ws := api.WindowStatus{Name: w.Name, Servers: w.Servers}
		if sw, err := schedule(cfg, w); err == nil {
			_, ws.Open = sw.Open(now)
			n := sw.Next(now)
			ws.NextStart, ws.NextEnd = n.Start.UTC(), n.End.UTC()
		}
		st.Windows = append(st.Windows, ws)
	}
	d.mu.Lock()
	for _, r := range d.runs {
		if r.finished == nil { // a run started by hand is open too, whatever the schedule says
			for i := range st.Windows {
				if st.Windows[i].Name == r.window {
					st.Windows[i].Open = true
				}
			}
		}
		rs := api.RunStatus{ID: r.id, Window: r.window, Started: r.started.UTC(), Deadline: r.deadline.UTC(), Finished: r.finished, Result: r.result}
		for _, s := range r.servers {
			e := r.ends[s]
			rs.Servers = append(rs.Servers, api.ServerRun{Server: s, Outcome: e.Outcome, Error: e.Reason, Warnings: e.Warnings})
		}
		st.Runs = append(st.Runs, rs)
	}
	blocked := maps.Clone(d.blocked) // finishRun and ClearServer write it: read a copy taken under the lock
	d.mu.Unlock()
	for i := range st.Runs {
		for j := range st.Runs[i].Servers {
			sr := &st.Runs[i].Servers[j]
			p := d.progress.snapshot(sr.Server)
			sr.State = string(p.state)
			if st.Runs[i].Finished == nil && p.step != "" {
				sr.Step = p.step
				at := p.stepStarted.UTC()
				sr.StepStarted = &at
			}
		}
	}
	for _, s := range d.serverNames() {
		p := d.progress.snapshot(s)
		st.Servers = append(st.Servers, api.ServerStatus{Name: s, State: string(p.state), RollbackFailed: blocked[s]})
	}
	st.Cluster = d.cluster()
	return st
}

// StartWindow implements api.Controller: the window runs now, until now + its duration.
func (d *Daemon) StartWindow(ctx context.Context, name string) (string, error) {
	if err := d.notLeader(); err != nil {
		return "", err
	}
	cfg := d.Config()
	w, ok := cfg.Window(name)
	if !ok {
		return "", fmt.Errorf("window %q: %w", name, api.ErrNotFound)
	}
	now := d.o.Clock.Now()
	return d.startWindow(ctx, w, scheduler.Occurrence{Window: name, Start: now, End: now.Add(w.Duration.Duration)})
}

// AbortRun implements api.Controller: the run's servers stop and reverse.
func (d *Daemon) AbortRun(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.notLeaderLocked(); err != nil {
		return err
	}
	for _, r := range d.runs {
		if r.id != id {
			continue
		}
		if r.finished != nil {
			return fmt.Errorf("run %s already finished (%s): %w", id, r.result, api.ErrConflict)
		}
		d.logger.Warn("abort requested", "run", id)
		r.cancel()
		return nil
	}
	return fmt.Errorf("run %q: %w", id, api.ErrNotFound)
}

// ClearServer implements api.Controller: it lifts rollback_failed after an operator repaired the server.
func (d *Daemon) ClearServer(_ context.Context, server string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.notLeaderLocked(); err != nil {
		return err
	}
	name := ""
	for _, s := range d.cfg.Servers {
		if strings.EqualFold(s.Name, server) {
			name = s.Name
		}
	}
	if name == "" {
		return fmt.Errorf("server %q: %w", server, api.ErrNotFound)
	}
	if !d.blocked[name] {
		return fmt.Errorf("server %s is not marked rollback_failed: %w", name, api.ErrConflict)
	}
	if _, err := d.journal.Append(journal.Record{Type: journal.Cleared, Server: name}); err != nil {
		return err
	}
	delete(d.blocked, name)
	d.progress.RollbackFailed(name, false)
	d.progress.ServerState(name, steps.StateIdle)
	d.logger.Warn("rollback_failed cleared by an operator", "server", name)
	return nil
}

// Alive reports whether the scheduling loop has gone round within within: the watchdog pets systemd only
// then, so a wedged loop gets the daemon restarted (and its journal reverses what it left).
func (d *Daemon) Alive(within time.Duration) bool {
	last := d.beat.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < within
}

// Ready implements api.Controller.
func (d *Daemon) Ready(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.notLeaderLocked(); err != nil {
		return err
	}
	if !d.ready {
		return fmt.Errorf("journal recovery not finished: %w", api.ErrConflict)
	}
	return nil
}

// Reload reads the configuration file again and swaps it in atomically; an invalid file keeps the old
// configuration (and says so). Running windows keep the configuration they started with.
func (d *Daemon) Reload() error {
	cfg, err := config.Load(d.o.ConfigPath)
	if err != nil {
		d.logger.Error("reload failed; keeping the previous configuration", "err", err)
		if d.o.OnReload != nil {
			d.o.OnReload(false)
		}
		return err
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	select {
	case d.reloadCh <- struct{}{}:
	default:
	}
	d.logger.Info("configuration reloaded", "path", d.o.ConfigPath)
	if d.o.OnReload != nil {
		d.o.OnReload(true)
	}
	return nil
}

// Schedule runs the scheduling loop until ctx ends: each window starts at its occurrences; an occurrence
// missed while exmaintd was down starts late if at least min_remaining of it is left, else it is journaled
// as missed. When ctx ends, running windows are aborted and reversed, and Schedule returns once they have.
func (d *Daemon) Schedule(ctx context.Context) error {
	if err := d.Open(ctx); err != nil {
		return err
	}
	began := d.o.Clock.Now()
	d.catchUp(ctx, began)
	// watched: since when the loop has been watching each window with its current schedule. An occurrence
	// that started since then but more than a minute ago means the loop woke late (a clock step, a
	// suspended host): it is started late or recorded as missed, by the same rule as at start-up, never
	// silently dropped. A window that is new or rescheduled by a reload is watched from the reload on.
	type watch struct {
		key   string
		since time.Time
	}
	watched := map[string]watch{}
	for _, w := range d.Config().Windows {
		watched[w.Name] = watch{scheduleKey(d.Config(), w), began}
	}
	for {
		cfg := d.Config()
		now := d.o.Clock.Now()
		d.beat.Store(time.Now().UnixNano()) // wall time: the watchdog's clock, not the scheduling clock
		d.flushJournal()
		d.windowMetrics(cfg, now)
		wake := now.Add(time.Hour)
		type due struct {
			w   config.Window
			occ scheduler.Occurrence
		}
		var start []due
		for _, w := range cfg.Windows {
			if w.Enabled != nil && !*w.Enabled {
				continue
			}
			sw, err := schedule(cfg, w)
			if err != nil {
				continue
			}
			if k := scheduleKey(cfg, w); watched[w.Name].key != k {
				watched[w.Name] = watch{k, now}
			}
			d.mu.Lock()
			from := d.last[w.Name]
			d.mu.Unlock()
			if since := watched[w.Name].since; from.Before(since) {
				from = since
			}
			if o, ok := sw.Latest(from, now); ok { // started in (from, now]
				switch {
				case now.Sub(o.Start) < time.Minute:
					start = append(start, due{w, o})
				case now.Before(o.End) && o.End.Sub(now) >= w.MinRemaining.Duration:
					d.logger.Warn("the scheduler woke late (clock step or suspended host); starting the window late", "window", w.Name, "start", o.Start)
					start = append(start, due{w, o})
				default:
					d.logger.Error("window missed: the scheduler woke too late for it (clock step or suspended host)", "window", w.Name, "start", o.Start, "end", o.End)
					d.recordMissed(w, o)
				}
			}
			n := sw.Next(now)
			if !n.Start.IsZero() && n.Start.Before(wake) {
				wake = n.Start
			}
			if !n.Start.IsZero() {
				d.notifyAhead(w.Name, w.Servers, n.Start, n.End, now)
			}
		}
		for _, s := range start {
			if _, err := d.startWindow(ctx, s.w, s.occ); err != nil {
				// Servers still busy in another run (or the journal failing): this occurrence is skipped, never
				// run concurrently on the same server; the journal says so.
				d.logger.Error("window not started; occurrence skipped", "window", s.w.Name, "start", s.occ.Start, "err", err)
				d.mu.Lock()
				d.last[s.w.Name] = s.occ.Start
				j := d.journal
				d.mu.Unlock()
				data, _ := json.Marshal(map[string]any{"event": "window_started", "start": s.occ.Start, "skipped": err.Error()})
				_ = j.Defer(journal.Record{Type: journal.Note, Window: s.w.Name, Outcome: "skipped", Data: data})
				if d.o.Metrics != nil {
					d.o.Metrics.Missed(s.w.Name, "skipped")
				}
			}
		}
		wait := max(time.Until(wake), time.Second)
		select {
		case <-ctx.Done():
			d.abortAll()
			d.wg.Wait()
			return nil
		case <-d.reloadCh:
		case <-time.After(min(wait, journalRetry(d.journal), 30*time.Second)):
		}
	}
}

// flushJournal writes the records a reverse had to defer (a full disk) once the journal can be written
// again; the loop tries at least every journalRetry while it fails.
func (d *Daemon) flushJournal() {
	d.mu.Lock()
	j := d.journal
	d.mu.Unlock()
	if j.Failing() == nil {
		return
	}
	if err := j.Flush(); err != nil {
		d.logger.Error("journal still cannot be written; no window starts until it can", "err", err)
		return
	}
	if j.Failing() == nil {
		d.logger.Info("journal writable again; deferred records written")
	}
}

// journalRetry is how soon the scheduling loop tries a failing journal again.
func journalRetry(j *journal.Journal) time.Duration {
	if j.Failing() != nil {
		return 10 * time.Second
	}
	return time.Hour
}

// catchUp handles occurrences missed while the daemon was down.
func (d *Daemon) catchUp(ctx context.Context, now time.Time) {
	cfg := d.Config()
	for _, w := range cfg.Windows {
		sw, err := schedule(cfg, w)
		if err != nil || (w.Enabled != nil && !*w.Enabled) {
			continue
		}
		d.mu.Lock()
		last := d.last[w.Name]
		d.mu.Unlock()
		occ, decision, found := sw.CheckMissed(last, now, w.MinRemaining.Duration)
		if !found {
			continue
		}
		if decision == scheduler.StartLate {
			d.logger.Warn("starting a window late (missed while exmaintd was down)", "window", w.Name, "start", occ.Start)
			if _, err := d.startWindow(ctx, w, occ); err != nil {
				d.logger.Error("late window not started", "window", w.Name, "err", err)
			}
			continue
		}
		d.logger.Error("window missed while exmaintd was down", "window", w.Name, "start", occ.Start, "end", occ.End)
		d.recordMissed(w, occ)
	}
}

// recordMissed journals and counts an occurrence that did not run.
func (d *Daemon) recordMissed(w config.Window, occ scheduler.Occurrence) {
	d.mu.Lock()
	d.last[w.Name] = occ.Start
	j := d.journal
	d.mu.Unlock()
	if d.o.Metrics != nil {
		d.o.Metrics.Missed(w.Name, "missed")
	}
	_, _ = j.Append(journal.Record{Type: journal.Note, Window: w.Name, Outcome: "missed",
		Data: []byte(fmt.Sprintf(`{"event":"window_started","start":%q,"missed":true}`, occ.Start.UTC().Format(time.RFC3339)))})
}

// scheduleKey identifies a window's schedule: a reload that changes it starts watching the window anew.
func scheduleKey(cfg *config.Config, w config.Window) string {
	loc, _ := cfg.Location(w)
	return fmt.Sprintf("%s|%v|%s", w.Schedule, loc, w.Duration.Duration)
}

func (d *Daemon) abortAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopping = true
	for _, r := range d.runs {
		if r.finished == nil {
			d.logger.Warn("shutting down: aborting run; its servers reverse", "run", r.id)
			r.cancel()
		}
	}
}

// windowMetrics exports each window's schedule state.
func (d *Daemon) windowMetrics(cfg *config.Config, now time.Time) {
	if d.o.Metrics == nil {
		return
	}
	d.mu.Lock()
	since := d.since
	d.mu.Unlock()
	for _, w := range cfg.Windows {
		sw, err := schedule(cfg, w)
		if err != nil {
			continue
		}
		_, open := sw.Open(now)
		n := sw.Next(now)
		interval := sw.Next(n.Start).Start.Sub(n.Start)
		d.o.Metrics.Window(w.Name, open, n.Start, n.End, interval, since)
	}
}
