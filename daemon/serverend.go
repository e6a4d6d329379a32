package daemon

import (
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/report"
)

// serverEnd is what the status shows of one server's end in a run.
type serverEnd struct {
	outcome, reason string
	warnings        []string
}

// endFromRecord rebuilds a server's end from its run_finished record.
func endFromRecord(r journal.Record) serverEnd {
	e := report.End(r)
	return serverEnd{outcome: e.Outcome, reason: e.Reason, warnings: e.Warnings}
}
