package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/golden"
)

// TestPrintStatus: the status a person reads the morning after — each run's result; per server its outcome
// and the reason, or the step in progress and for how long; the warnings — against testdata/status.golden
// (UPDATE_GOLDEN=1 rewrites it).
func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 12, 13, 6, 30, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return time.Date(2026, 12, 12, h, m, 0, 0, time.UTC) }
	finished, stepAt := at(23, 41), now.Add(-3*time.Minute-12*time.Second)
	st := api.Status{Version: "test", Now: now,
		Windows: []api.WindowStatus{{Name: "patch-night", NextStart: at(22, 0).AddDate(0, 1, 0), Servers: []string{"EX01", "EX02", "EX03"}}},
		Runs: []api.RunStatus{
			{ID: "patch-night-20261212T220000Z-0a1b2c", Window: "patch-night", Started: at(22, 0), Finished: &finished, Result: api.Held, Servers: []api.ServerRun{
				{Server: "EX01", State: "rollback_failed", Outcome: api.Held, Error: "after the update, EX01's Exchange services are not back (MSExchangeIS) within reboot_timeout 30m0s"},
				{Server: "EX02", State: "idle", Outcome: api.NotStarted, Error: "DAG01: stopped after EX01 failed"},
				{Server: "EX03", State: "idle", Outcome: api.Succeeded, Warnings: []string{"ForwardSyncDaemon is held Inactive by requester HealthApi"}},
			}},
			{ID: "manual-20261213T060000Z-d4e5f6", Window: "manual", Started: now.Add(-30 * time.Minute), Servers: []api.ServerRun{
				{Server: "EX04", State: "patching", Step: "patch", StepStarted: &stepAt},
				{Server: "EX05", State: "idle"},
			}},
		},
		Servers: []api.ServerStatus{{Name: "EX01", State: "rollback_failed", RollbackFailed: true}, {Name: "EX02", State: "idle"}},
	}
	var out bytes.Buffer
	if err := printStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "status.golden", out.Bytes())
	// -o json is the API's document, whole: a script reads the same fields.
	b, _ := json.Marshal(st.Runs[0].Servers[0])
	if !bytes.Contains(b, []byte(`"outcome":"held"`)) || !bytes.Contains(b, []byte(`"error":"after the update`)) {
		t.Errorf("a server's JSON: %s", b)
	}
}
