package journal

import (
	"encoding/json"
	"slices"
	"time"
)

// StepState is what the journal says about one step of a server's run.
type StepState struct {
	Name        string
	Original    json.RawMessage // the values the step recorded before changing anything (nil: none recorded)
	Started     bool
	StartedAt   time.Time // the latest step_started record's time
	Done        bool
	Failed      bool
	UndoStarted bool
	UndoDone    bool
}

// ServerRun is one server's part of one run, folded from its records.
type ServerRun struct {
	Run, Window, Server string
	Procedure           string
	Started             time.Time
	Steps               []*StepState // in the order they were first recorded
	Finished            bool
	Outcome             string
	RollbackFailed      bool
}

// Step returns the named step's state, creating it.
func (s *ServerRun) step(name string) *StepState {
	for _, st := range s.Steps {
		if st.Name == name {
			return st
		}
	}
	st := &StepState{Name: name}
	s.Steps = append(s.Steps, st)
	return st
}

// ToUndo lists, newest first, the steps that started (or recorded originals) and whose Undo has not
// completed: what a reverse must still do.
func (s *ServerRun) ToUndo() []*StepState {
	var out []*StepState
	for i := len(s.Steps) - 1; i >= 0; i-- {
		st := s.Steps[i]
		if (st.Started || st.Original != nil) && !st.UndoDone {
			out = append(out, st)
		}
	}
	return out
}

// Fold groups records into server runs, in the order the runs started.
func Fold(recs []Record) []*ServerRun {
	type key struct{ run, server string }
	idx := map[key]*ServerRun{}
	var out []*ServerRun
	for _, r := range recs {
		if r.Run == "" || r.Server == "" {
			continue
		}
		k := key{r.Run, r.Server}
		sr := idx[k]
		if sr == nil {
			sr = &ServerRun{Run: r.Run, Window: r.Window, Server: r.Server, Started: r.Time}
			idx[k] = sr
			out = append(out, sr)
		}
		switch r.Type {
		case RunStarted:
			var d struct {
				Procedure string `json:"procedure"`
			}
			_ = json.Unmarshal(r.Data, &d)
			sr.Procedure = d.Procedure
		case Recorded:
			sr.step(r.Step).Original = r.Data
		case StepStarted:
			st := sr.step(r.Step)
			st.Started, st.StartedAt = true, r.Time
		case StepDone:
			sr.step(r.Step).Done = true
		case StepFailed:
			sr.step(r.Step).Failed = true
		case UndoStarted:
			sr.step(r.Step).UndoStarted = true
		case UndoDone:
			sr.step(r.Step).UndoDone = true
		case RollbackFailed:
			sr.RollbackFailed = true
		case RunFinished:
			sr.Finished, sr.Outcome = true, r.Outcome
		}
	}
	return out
}

// Unfinished returns the server runs without a run_finished record: a crash or kill interrupted them.
func Unfinished(recs []Record) []*ServerRun {
	var out []*ServerRun
	for _, sr := range Fold(recs) {
		if !sr.Finished {
			out = append(out, sr)
		}
	}
	return out
}

// Blocked returns the servers marked rollback_failed and not cleared since: exmaintd must not touch them.
func Blocked(recs []Record) map[string]bool {
	out := map[string]bool{}
	for _, r := range recs {
		switch r.Type {
		case RollbackFailed:
			out[r.Server] = true
		case Cleared:
			delete(out, r.Server)
		}
	}
	return out
}

// StepDurations returns, per step name, the median time from step_started to step_done over the completed
// steps in recs: how long the same step took in previous runs (the time_left pre-gate's estimate).
func StepDurations(recs []Record) map[string]time.Duration {
	type key struct{ run, server, step string }
	start := map[key]time.Time{}
	samples := map[string][]time.Duration{}
	for _, r := range recs {
		k := key{r.Run, r.Server, r.Step}
		switch r.Type {
		case StepStarted:
			start[k] = r.Time
		case StepDone:
			if t, ok := start[k]; ok && !r.Time.Before(t) {
				samples[r.Step] = append(samples[r.Step], r.Time.Sub(t))
			}
		}
	}
	out := make(map[string]time.Duration, len(samples))
	for step, ds := range samples {
		slices.Sort(ds)
		out[step] = ds[len(ds)/2]
	}
	return out
}
