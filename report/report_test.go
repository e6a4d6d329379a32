package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/golden"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/report"
	"github.com/exmaintd/exmaintd/steps"
)

// journalOf is a run as the daemon and the runner journal it: EX01 drains, fails at drain-queues and is
// reversed, one undo failing first; EX02 never starts; another run's records are in between.
func journalOf(t *testing.T) []journal.Record {
	t.Helper()
	at := func(s float64) time.Time {
		return time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
	}
	data := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	gate := func(s float64, step, when, gate, result, detail string) journal.Record {
		return journal.Record{Time: at(s), Type: journal.Gate, Run: "r1", Server: "EX01", Step: step, Outcome: result, Data: data(map[string]string{"gate": gate, "when": when, "detail": detail})}
	}
	q := "42 active (max 500), 0 poison, 6 shadow"
	return []journal.Record{
		{Time: at(0), Type: journal.Note, Run: "r1", Window: "patch-night", Data: data(map[string]any{"event": "window_started", "end": at(3600), "servers": []string{"EX01", "EX02"}})},
		{Time: at(0.1), Type: journal.RunStarted, Run: "r1", Window: "patch-night", Server: "EX01", Data: data(map[string]any{"procedure": "dag"})},
		gate(0.2, "", "pre-gates", "permissions", steps.GatePass, ""),
		gate(0.3, "", "pre-gates", "queues", steps.GatePass, q),
		gate(0.4, "hubtransport-draining", "before", "queues", steps.GatePass, q),
		{Time: at(0.5), Type: journal.Recorded, Run: "r1", Server: "EX01", Step: "hubtransport-draining", Data: data(map[string]string{"state": "Active"})},
		{Time: at(0.6), Type: journal.StepStarted, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		{Time: at(1.1), Type: journal.StepDone, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		gate(1.2, "hubtransport-draining", "after", "queues", steps.GatePass, q),
		gate(1.3, "drain-queues", "before", "queues", steps.GatePass, q),
		{Time: at(1.4), Type: journal.Note, Run: "r0", Window: "other", Data: data(map[string]any{"event": "window_started"})},
		{Time: at(1.5), Type: journal.Recorded, Run: "r1", Server: "EX01", Step: "drain-queues", Data: json.RawMessage("null")},
		{Time: at(1.6), Type: journal.StepStarted, Run: "r1", Server: "EX01", Step: "drain-queues"},
		{Time: at(21.6), Type: journal.StepFailed, Run: "r1", Server: "EX01", Step: "drain-queues", Error: "EX01: step drain-queues: do: stalled: 40 left, none gone for 20s"},
		{Time: at(21.7), Type: journal.UndoStarted, Run: "r1", Server: "EX01", Step: "drain-queues"},
		{Time: at(21.8), Type: journal.UndoDone, Run: "r1", Server: "EX01", Step: "drain-queues"},
		{Time: at(21.9), Type: journal.UndoStarted, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		{Time: at(23.0), Type: journal.UndoDone, Run: "r1", Server: "EX01", Step: "hubtransport-draining"},
		{Time: at(23.1), Type: journal.RunFinished, Run: "r1", Server: "EX01", Outcome: steps.OutcomeReversed, Error: "EX01: step drain-queues: do: stalled: 40 left, none gone for 20s",
			Data: data(map[string]any{"warnings": []string{"EX01 has no UMCallRouter component"}})},
		{Time: at(23.2), Type: journal.RunFinished, Run: "r1", Server: "EX02", Outcome: steps.OutcomeSkipped, Error: "group DAG01 stopped after EX01 failed"},
		{Time: at(23.3), Type: journal.Note, Run: "r1", Window: "patch-night", Outcome: "rolled_back", Data: data(map[string]any{"event": "window_finished", "result": "rolled_back"})},
	}
}

// TestBuild: the run's story — its window, its result in today's words (an old journal's rolled_back is
// reversed), per server its procedure, outcome, reason and warnings, the gates with what they read, each
// step with the values it recorded and its duration, the failure, the undos — against
// testdata/run.golden (UPDATE_GOLDEN=1 rewrites it), and as JSON.
func TestBuild(t *testing.T) {
	run, err := report.Build(journalOf(t), "r1")
	if err != nil {
		t.Fatal(err)
	}
	if run.Window != "patch-night" || run.Result != api.Reversed || run.Finished == nil || len(run.Servers) != 2 {
		t.Fatalf("run %+v", run)
	}
	ex01, ex02 := run.Servers[0], run.Servers[1]
	if ex01.Procedure != "dag" || ex01.Outcome != api.Reversed || !strings.Contains(ex01.Reason, "stalled") || len(ex01.Warnings) != 1 {
		t.Errorf("EX01: %+v", ex01.Ending)
	}
	if ex02.Outcome != api.NotStarted || ex02.Reason != "group DAG01 stopped after EX01 failed" || len(ex02.Events) != 0 {
		t.Errorf("EX02: %+v", ex02)
	}
	var steps, undos, gates int
	for _, e := range ex01.Events {
		switch e.Kind {
		case "step":
			steps++
		case "undo":
			undos++
		case "gate":
			gates++
		}
	}
	if steps != 2 || undos != 2 || gates != 5 || ex01.Events[3].Took != 500*time.Millisecond || ex01.Events[3].Detail != `recorded {"state":"Active"}` {
		t.Errorf("EX01's events: %d steps, %d undos, %d gates; %+v", steps, undos, gates, ex01.Events)
	}
	var text bytes.Buffer
	if err := run.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "run.golden", text.Bytes())
	b, err := json.Marshal(run)
	if err != nil || !bytes.Contains(b, []byte(`"outcome":"reversed"`)) || !bytes.Contains(b, []byte(`"kind":"undo"`)) || !bytes.Contains(b, []byte(`"took_ns":500000000`)) {
		t.Errorf("JSON: %v\n%s", err, b)
	}
}

// TestBuildUnknownRun names the runs the journal has.
func TestBuildUnknownRun(t *testing.T) {
	_, err := report.Build(journalOf(t), "r9")
	if err == nil || !strings.Contains(err.Error(), `no run "r9" in the journal (its runs: r1, r0)`) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := report.Build(nil, "r1"); err == nil || !strings.Contains(err.Error(), "it has no runs") {
		t.Errorf("empty journal: %v", err)
	}
}

// TestRollbackFailedInTheStory: an undo that failed for good shows as failed, then the hold.
func TestRollbackFailedInTheStory(t *testing.T) {
	at := time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)
	recs := []journal.Record{
		{Time: at, Type: journal.UndoStarted, Run: "r1", Server: "EX01", Step: "patch"},
		{Time: at.Add(time.Minute), Type: journal.RollbackFailed, Run: "r1", Server: "EX01", Step: "patch", Error: "services not back"},
		{Time: at.Add(time.Minute), Type: journal.RunFinished, Run: "r1", Server: "EX01", Outcome: steps.OutcomeRollbackFailed, Error: "services not back"},
	}
	run, err := report.Build(recs, "r1")
	if err != nil {
		t.Fatal(err)
	}
	ev := run.Servers[0].Events
	if len(ev) != 2 || ev[0].Kind != "undo" || ev[0].Result != "failed" || ev[0].Took != time.Minute || ev[1].Kind != "rollback_failed" || run.Servers[0].Outcome != api.Held {
		t.Errorf("events %+v, outcome %s", ev, run.Servers[0].Outcome)
	}
	var text bytes.Buffer
	_ = run.WriteText(&text)
	if !strings.Contains(text.String(), "undo patch: FAILED after 1m0s — services not back") || !strings.Contains(text.String(), "ROLLBACK FAILED at patch") {
		t.Errorf("text:\n%s", text.String())
	}
}
