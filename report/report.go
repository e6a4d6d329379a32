package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/journal"
)

// Run is the story of one window run, read from the journal alone: what an operator pastes into a change
// ticket.
type Run struct {
	ID       string     `json:"id"`
	Window   string     `json:"window"`
	Started  time.Time  `json:"started"`
	Deadline time.Time  `json:"deadline,omitzero"` // the window's hard end
	Finished *time.Time `json:"finished,omitempty"`
	// Result is the run's result in the vocabulary of api/outcome.go; "" while it runs (or when the journal
	// holds no end: a crash the recovery has not handled yet).
	Result  string   `json:"result"`
	Servers []Server `json:"servers"`
}

// Server is one server's part of the run.
type Server struct {
	Name      string     `json:"server"`
	Procedure string     `json:"procedure,omitempty"`
	Started   time.Time  `json:"started"`
	Finished  *time.Time `json:"finished,omitempty"`
	Ending               // the outcome, the reason and the warnings; zero while it runs
	Events    []Event    `json:"events"`
}

// Event is one thing that happened to a server, in order: a gate checked, a step done or failed, an undo.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is "gate", "step", "undo" or "rollback_failed".
	Kind string `json:"kind"`
	Step string `json:"step,omitempty"`
	// When places a gate: pre-gates, before or after (Step), post-gates, watch.
	When string `json:"when,omitempty"`
	Gate string `json:"gate,omitempty"`
	// Result: pass, fail or error for a gate; done, failed or started (no end recorded) otherwise.
	Result string `json:"result"`
	// Took is how long a step or undo took; 0 for a gate or one without an end.
	Took time.Duration `json:"took_ns,omitempty"`
	// Detail is what a gate read or why it failed, a step's or undo's error, or the values a step recorded
	// before it changed anything.
	Detail string `json:"detail,omitempty"`
}

// Build reads the records of run id out of recs (a whole journal, in order). An unknown id is an error
// naming the runs the journal has, newest last (at most ten).
func Build(recs []journal.Record, id string) (Run, error) {
	run := Run{ID: id}
	found := false
	servers := map[string]*Server{}
	var order []string
	server := func(r journal.Record) *Server {
		s := servers[r.Server]
		if s == nil {
			s = &Server{Name: r.Server, Started: r.Time}
			servers[r.Server] = s
			order = append(order, r.Server)
		}
		return s
	}
	open := map[string]int{} // openKey → index of the event waiting for its end
	for _, r := range recs {
		if r.Run != id {
			continue
		}
		found = true
		if run.Window == "" {
			run.Window = r.Window
		}
		if r.Type == journal.Note {
			note(&run, r)
			continue
		}
		if r.Server == "" {
			continue
		}
		s := server(r)
		switch r.Type {
		case journal.RunStarted:
			var d struct {
				Procedure string `json:"procedure"`
			}
			_ = json.Unmarshal(r.Data, &d)
			s.Procedure, s.Started = d.Procedure, r.Time
		case journal.Gate:
			var d journal.GateData
			_ = json.Unmarshal(r.Data, &d)
			s.Events = append(s.Events, Event{Time: r.Time, Kind: "gate", Step: r.Step, When: d.When, Gate: d.Gate, Result: r.Outcome, Detail: d.Detail})
		case journal.Recorded:
			if len(r.Data) > 0 && string(r.Data) != "null" {
				open[openKey(r, "recorded")] = len(s.Events) // the step_started that follows takes it
				s.Events = append(s.Events, Event{Time: r.Time, Kind: "step", Step: r.Step, Result: "started", Detail: "recorded " + string(r.Data)})
			}
		case journal.StepStarted:
			if i, ok := open[openKey(r, "recorded")]; ok {
				delete(open, openKey(r, "recorded"))
				s.Events[i].Time = r.Time
				open[openKey(r, "step")] = i
				continue
			}
			open[openKey(r, "step")] = len(s.Events)
			s.Events = append(s.Events, Event{Time: r.Time, Kind: "step", Step: r.Step, Result: "started"})
		case journal.StepDone, journal.StepFailed:
			result := map[string]string{journal.StepDone: "done", journal.StepFailed: "failed"}[r.Type]
			end(s, open, "step", r, result)
		case journal.UndoStarted:
			open[openKey(r, "undo")] = len(s.Events)
			s.Events = append(s.Events, Event{Time: r.Time, Kind: "undo", Step: r.Step, Result: "started"})
		case journal.UndoDone:
			end(s, open, "undo", r, "done")
		case journal.RollbackFailed:
			end(s, open, "undo", r, "failed")
			s.Events = append(s.Events, Event{Time: r.Time, Kind: "rollback_failed", Step: r.Step, Result: "failed", Detail: r.Error})
		case journal.RunFinished:
			at := r.Time
			s.Finished, s.Ending = &at, End(r)
		}
	}
	if !found {
		return Run{}, fmt.Errorf("no run %q in the journal (%s)", id, recent(recs))
	}
	for _, n := range order {
		run.Servers = append(run.Servers, *servers[n])
	}
	return run, nil
}

// openKey names the event of kind (step, undo, recorded) of r's server and step while it waits for its end.
func openKey(r journal.Record, kind string) string { return r.Server + "/" + kind + "/" + r.Step }

// end closes the open event of kind for r's server and step with r's time and result; an end without a
// start is an event of its own.
func end(s *Server, open map[string]int, kind string, r journal.Record, result string) {
	key := openKey(r, kind)
	i, ok := open[key]
	if !ok {
		s.Events = append(s.Events, Event{Time: r.Time, Kind: kind, Step: r.Step, Result: result, Detail: r.Error})
		return
	}
	delete(open, key)
	e := &s.Events[i]
	e.Result, e.Took = result, r.Time.Sub(e.Time)
	if r.Error != "" {
		e.Detail = r.Error
	}
}

// note takes the window's start and end from the run's notes.
func note(run *Run, r journal.Record) {
	var n struct {
		Event string    `json:"event"`
		End   time.Time `json:"end"`
	}
	_ = json.Unmarshal(r.Data, &n)
	switch n.Event {
	case "window_started":
		run.Started, run.Deadline = r.Time, n.End
	case "window_finished":
		at := r.Time
		run.Finished, run.Result = &at, api.LegacyResult(r.Outcome)
	}
}

// recent names the last runs of the journal, for an id that is not there.
func recent(recs []journal.Record) string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Run != "" && !seen[r.Run] {
			seen[r.Run] = true
			ids = append(ids, r.Run)
		}
	}
	if len(ids) == 0 {
		return "it has no runs"
	}
	if len(ids) > 10 {
		ids = ids[len(ids)-10:]
	}
	return "its runs: " + strings.Join(ids, ", ")
}
