package report

import (
	"encoding/json"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/steps"
)

// ServerOutcome words one server's end (its steps outcome, the failure's text, why it stopped) in the
// status vocabulary (api/outcome.go) and gives the reason to show with it: "" where there is nothing to
// explain (succeeded; a server an abort or the window's end reached before its turn).
func ServerOutcome(outcome, errText, stopped string) (word, reason string) {
	switch outcome {
	case steps.OutcomeCompleted:
		if errText == "" {
			return api.Succeeded, ""
		}
		return api.Unhealthy, errText
	case steps.OutcomeRollbackFailed:
		return api.Held, errText
	case steps.OutcomeReversed:
		if stopped != "" {
			return api.Aborted, "stopped by the " + stopped + "; every step undone"
		}
		return api.Reversed, errText
	case steps.OutcomeSkipped:
		if stopped != "" {
			return api.NotStarted, ""
		}
		return api.NotStarted, errText
	case steps.OutcomeRecovered:
		return api.Interrupted, errText
	}
	return outcome, errText
}

// RunResult is a run's result from its servers' words: held if any server is held; aborted if the run was
// stopped (an abort, a shutdown, the window's end); reversed if any server failed or was refused; unhealthy
// if any is back but unhealthy; else succeeded.
func RunResult(words map[string]string, stopped bool) string {
	has := func(w string) bool {
		for _, x := range words {
			if x == w {
				return true
			}
		}
		return false
	}
	switch {
	case has(api.Held):
		return api.Held
	case stopped || has(api.Aborted):
		return api.Aborted
	case has(api.Reversed) || has(api.NotStarted):
		return api.Reversed
	case has(api.Unhealthy):
		return api.Unhealthy
	}
	return api.Succeeded
}

// Ending is how one server's run ended, in the vocabulary, as its run_finished record says.
type Ending struct {
	Outcome  string   `json:"outcome"`
	Reason   string   `json:"reason,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// End reads a run_finished record: its outcome and error, and the runner's data (why the run stopped when
// it was not its own failure, and the warnings).
func End(r journal.Record) Ending {
	var d journal.FinishedData
	_ = json.Unmarshal(r.Data, &d) // absent or foreign data: no stop cause, no warnings
	w, reason := ServerOutcome(r.Outcome, r.Error, d.Stopped)
	return Ending{Outcome: w, Reason: reason, Warnings: d.Warnings}
}

// EndOf words a server run's result as it ends, as End does its record.
func EndOf(r steps.Result) Ending {
	errText := ""
	if r.Err != nil {
		errText = r.Err.Error()
	}
	w, reason := ServerOutcome(r.Outcome, errText, r.Stopped)
	return Ending{Outcome: w, Reason: reason, Warnings: r.Warnings}
}
