package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
)

// silence creates server's silence for its run, once its pre-gates have passed. A failure is counted and
// logged; the server then runs unsilenced (its alerts may fire), or with alertmanager.on_error = "refuse"
// it is skipped.
func (d *Daemon) silence(ctx context.Context, server, fqdn, run string, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := d.o.Silencer.Silence(ctx, server, fqdn, "exmaintd maintenance run "+run, until)
	d.silenceMetric()
	if err == nil {
		return nil
	}
	if d.o.Metrics != nil {
		d.o.Metrics.SilenceError("create")
	}
	if d.o.SilenceRequired {
		return fmt.Errorf("%s not started: its alerts could not be silenced (alertmanager.on_error = \"refuse\"): %w", server, err)
	}
	d.logger.Warn("could not silence the server's alerts; it runs anyway and they may fire (alertmanager.on_error = \"continue\")", "server", server, "err", err)
	return nil
}

// unsilence expires the silence when the server's run ends, whatever the outcome: back in service its
// alerts matter again, and left rollback_failed (half in maintenance) its own alerts are part of what the
// operator must see — a silence must never hide a problem exmaintd could not fix. A failed expiry is
// retried in the background with backoff until it succeeds or the silence has ended by itself.
func (d *Daemon) unsilence(ctx context.Context, server string, r steps.Result) {
	if r.Outcome == steps.OutcomeRollbackFailed {
		d.logger.Warn("server left rollback_failed: expiring its silence so that its alerts show what is wrong", "server", server)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err := d.o.Silencer.Expire(tctx, server, "")
	cancel()
	d.silenceMetric()
	if err == nil {
		return
	}
	if d.o.Metrics != nil {
		d.o.Metrics.SilenceError("expire")
	}
	d.logger.Warn("could not expire the server's silence; retrying in the background", "server", server, "err", err)
	d.retries.Add(1)
	go func() {
		defer d.retries.Done()
		if err := d.o.Silencer.ExpireRetrying(d.retryCtx, server, 5*time.Second, d.o.Clock.Now, d.o.Clock.Sleep); err != nil {
			d.logger.Warn("stopped retrying a silence expiry; the next start expires it", "server", server, "err", err)
		}
		d.silenceMetric()
	}()
}

func (d *Daemon) silenceMetric() {
	if d.o.Metrics != nil && d.o.Silencer != nil {
		d.o.Metrics.Silences(d.o.Silencer.Active())
	}
}

// RecordSilence journals a silence id (alerting.SilencerOptions.Record): on start, silences the journal
// holds unexpired are expired.
func (d *Daemon) RecordSilence(server, id string, ends time.Time, expired bool) {
	d.mu.Lock()
	j := d.journal
	d.mu.Unlock()
	if j == nil {
		return
	}
	data, _ := json.Marshal(map[string]any{"event": "silence", "id": id, "ends": ends, "expired": expired})
	if _, err := j.Append(journal.Record{Type: journal.Note, Server: server, Data: data}); err != nil {
		d.logger.Error("journaling a silence", "server", server, "id", id, "err", err)
	}
}

// expireLeftovers expires silences a previous process created and did not expire (it crashed).
func (d *Daemon) expireLeftovers(ctx context.Context, recs []journal.Record) {
	if d.o.Silencer == nil {
		return
	}
	open := map[string]string{}
	for _, r := range recs {
		var n struct {
			Event   string `json:"event"`
			ID      string `json:"id"`
			Expired bool   `json:"expired"`
		}
		if r.Type != journal.Note || json.Unmarshal(r.Data, &n) != nil || n.Event != "silence" {
			continue
		}
		if n.Expired {
			delete(open, n.ID)
		} else {
			open[n.ID] = r.Server
		}
	}
	for id, server := range open {
		if err := d.o.Silencer.Expire(ctx, server, id); err != nil {
			d.logger.Warn("could not expire a silence left by a previous run", "server", server, "id", id, "err", err)
		}
	}
}

// notify sends a user notification to every webhook that wants it; failures are logged.
func (d *Daemon) notify(e alerting.Event) {
	for _, w := range d.o.Webhooks {
		if !w.Wants(e.Event) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := w.Send(ctx, e); err != nil {
			d.logger.Warn("notification not delivered", "webhook", w.Name, "event", e.Event, "err", err)
		}
		cancel()
	}
}

// notifyAhead sends the "ahead" notification once per occurrence, lead before it starts.
func (d *Daemon) notifyAhead(window string, servers []string, start, end, now time.Time) {
	for _, w := range d.o.Webhooks {
		if w.Lead <= 0 || !w.Wants("ahead") || now.Before(start.Add(-w.Lead)) || !now.Before(start) {
			continue
		}
		key := w.Name + "|" + window + "|" + start.UTC().Format(time.RFC3339)
		d.mu.Lock()
		if d.notified == nil {
			d.notified = map[string]bool{}
		}
		done := d.notified[key]
		d.notified[key] = true
		j := d.journal
		d.mu.Unlock()
		if done {
			continue
		}
		// Journaled first, so that a restarted daemon or a new leader (Open) does not send it again.
		data, _ := json.Marshal(map[string]any{"event": "notified_ahead", "key": key})
		if _, err := j.Append(journal.Record{Type: journal.Note, Window: window, Data: data}); err != nil {
			if journal.IsLost(err) {
				continue // not the leader any more: the new one sends it
			}
			d.logger.Warn("journaling an ahead notification failed; sending it anyway (a restart may send it twice)", "webhook", w.Name, "err", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := w.Send(ctx, alerting.Event{Event: "ahead", Window: window, Servers: servers, Start: start, End: end}); err != nil {
			d.logger.Warn("notification not delivered", "webhook", w.Name, "event", "ahead", "err", err)
		}
		cancel()
	}
}
