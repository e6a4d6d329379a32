package api

// How a run and each of its servers ended: one vocabulary, the same words in `exmaintd status`,
// /api/v1/status, the logs, exmaintd_window_runs_total's result label and the notifications
// (docs/observability.md, "Outcomes").
const (
	// A server's outcome, and a run's result.

	Succeeded = "succeeded" // patched, back in service, post-gates (and the watch) passed
	Unhealthy = "unhealthy" // back in service, but its post-gates or the health watch failed
	Reversed  = "reversed"  // a failure: every step it took was undone and verified; as before
	Aborted   = "aborted"   // an abort, a shutdown or the window's end stopped it: every step undone
	Held      = "held"      // held in maintenance (rollback_failed): an undo failed or an update left it broken
	// Interrupted: exmaintd stopped during the run (a crash, a lost leader); the next start recovered its
	// servers.
	Interrupted = "interrupted"

	// NotStarted is a server's only: nothing was changed on it — a pre-gate refused it, it could not be
	// reached (both with a reason), or the run ended before its turn (without one).
	NotStarted = "not started"

	// A window's only: no run took place.

	Missed  = "missed"  // exmaintd was not running when the window opened, and too little of it was left
	Skipped = "skipped" // the window could not start (its servers were busy in another run)
)

// LegacyResult maps a run result journaled before the vocabulary above (2026-12) onto it: success and
// rolled_back; "failed", which meant held, unhealthy or not started alike, stays as it was.
func LegacyResult(r string) string {
	switch r {
	case "success":
		return Succeeded
	case "rolled_back":
		return Reversed
	}
	return r
}
