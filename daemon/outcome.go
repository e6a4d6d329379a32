package daemon

import (
	"encoding/json"
	"slices"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/steps"
)

// serverOutcome words one server's end (its steps outcome, the failure's text, why it stopped) in the
// status vocabulary (api/outcome.go) and gives the reason to show with it: "" where there is nothing to
// explain (succeeded; a server an abort or the window's end reached before its turn).
func serverOutcome(outcome, errText, stopped string) (word, reason string) {
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

// runResult is a run's result from its servers' words: held if any server is held; aborted if the run was
// stopped (an abort, a shutdown, the window's end); reversed if any server failed or was refused; unhealthy
// if any is back but unhealthy; else succeeded.
func runResult(words map[string]string, stopped bool) string {
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

// serverEnd is what the status shows of one server's end in a run.
type serverEnd struct {
	outcome, reason string
	warnings        []string
}

// runFinishedData is what the runner journals with a server's run_finished record besides its outcome and
// error (steps.Runner): read back for the status of runs before a restart.
type runFinishedData struct {
	Stopped  string   `json:"stopped"`
	Warnings []string `json:"warnings"`
}

// endFromRecord rebuilds a server's end from its run_finished record.
func endFromRecord(outcome, errText string, data json.RawMessage) serverEnd {
	var d runFinishedData
	_ = json.Unmarshal(data, &d)
	w, reason := serverOutcome(outcome, errText, d.Stopped)
	return serverEnd{outcome: w, reason: reason, warnings: slices.Clone(d.Warnings)}
}
