package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/journal"
)

// TestRunBadArguments: every bad argument is refused before anything is built or started.
func TestRunBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-mode", "busy"}, {"-servers", "500,7"}, {"-servers", "x"}, {"-scrapes", "0"},
		{"-mode", "window", "-dags", "0"}, {"-mode", "window", "-parallel", "0"}, {"extra"}} {
		var out, errb bytes.Buffer
		if err := run(t.Context(), append(args, "-exmaintd", "/nonexistent"), func(string) string { return "" }, &out, &errb); err == nil {
			t.Errorf("run(%v) accepted", args)
		}
	}
}

func TestMakespan(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		spans []time.Duration
		slots int
		want  time.Duration
	}{
		{[]time.Duration{4 * s, 4 * s, 1 * s, 1 * s}, 4, 4 * s},        // a slot each: the slowest
		{[]time.Duration{4 * s, 4 * s, 1 * s, 1 * s}, 2, 5 * s},        // each slot one DAG then one standalone
		{[]time.Duration{1 * s, 1 * s, 1 * s}, 1, 3 * s},               // one at a time
		{[]time.Duration{3 * s, 1 * s, 1 * s, 1 * s, 1 * s}, 2, 4 * s}, // in order, first free slot
	} {
		if got := makespan(tc.spans, tc.slots); got != tc.want {
			t.Errorf("makespan(%v, %d) = %v, want %v", tc.spans, tc.slots, got, tc.want)
		}
	}
}

func TestGroupSpans(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	recs := []journal.Record{
		{Type: journal.RunStarted, Run: "r", Server: "EX0001", Time: at(0)},
		{Type: journal.StepDone, Run: "r", Server: "EX0001", Time: at(1)},
		{Type: journal.RunFinished, Run: "r", Server: "EX0001", Time: at(10)},
		{Type: journal.RunStarted, Run: "r", Server: "EX0002", Time: at(11)},
		{Type: journal.UndoDone, Run: "r", Server: "EX0002", Time: at(12)},
		{Type: journal.RunFinished, Run: "r", Server: "EX0002", Time: at(20)},
		{Type: journal.RunStarted, Run: "r", Server: "EX0003", Time: at(2)},
		{Type: journal.RunFinished, Run: "r", Server: "EX0003", Time: at(5)},
		{Type: journal.StepDone, Run: "other", Server: "EX0003", Time: at(3)},
	}
	spans, steps := groupSpans(recs, "r", [][]string{{"EX0001", "EX0002"}, {"EX0003"}})
	if spans[0] != 20*time.Second || spans[1] != 3*time.Second || steps != 2 {
		t.Errorf("spans %v, steps %d; want [20s 3s], 2", spans, steps)
	}
}

func TestCountSeries(t *testing.T) {
	body := []byte("# HELP a x\n# TYPE a gauge\na 1\na{b=\"c\"} 2\n\n# HELP d y\nd_total 3\n")
	if n := countSeries(body); n != 3 {
		t.Errorf("countSeries = %d, want 3", n)
	}
}
