package steps_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

// The crash matrix runs a dag window on EX01 in a child process (this test binary, re-executed) that
// SIGKILLs itself right after the Nth journal record is durable, for every N. The parent, which owns
// exchsim, then recovers from the journal as exmaintd does on start and checks that EX01 is back in its
// original state.

const childEnv = "EXMAINTD_CRASH_CHILD"

// TestCrashChild is the child's entry point; it does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("child process of TestCrashMatrix only")
	}
	killAt, _ := strconv.Atoi(os.Getenv("CRASH_KILL_AT"))
	port, _ := strconv.Atoi(os.Getenv("CRASH_PORT"))
	kill := func(r journal.Record) {
		if int(r.Seq) == killAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	o := journal.Options{AfterSync: kill}
	if os.Getenv("CRASH_TORN") == "1" { // killed half-way through writing the record: a torn line
		o = journal.Options{MidWrite: kill}
	}
	j, _, _, err := journal.Open(os.Getenv("CRASH_JOURNAL"), o)
	if err != nil {
		t.Fatal(err)
	}
	ep := exchange.Endpoint{Name: "EX01", Host: "127.0.0.1", Port: port, Auth: exchange.AuthNTLM, User: os.Getenv("CRASH_USER"), Password: secret.New(os.Getenv("CRASH_PASSWORD")),
		ExchangeURL: fmt.Sprintf("http://127.0.0.1:%d/PowerShell", port), AllowUnencrypted: true}
	c := simtest.Client(t, ep, exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute})
	r := &steps.Runner{Journal: j, Observer: steps.NopObserver{}, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler)}
	env := &steps.Env{Ex: c, Target: target("EX01"), Settings: fastSettings(), Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: steps.NopObserver{}, Secrets: simSecrets}
	h := harness{}
	res := r.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	fmt.Printf("CHILD-OUTCOME %s %v\n", res.Outcome, res.Err)
}

// runChild runs one crash case (torn: killed half-way through writing record killAt, else right after it
// is durable); it returns the journal path and whether the child was SIGKILLed. An error is a child that
// neither was killed nor completed its window.
func runChild(ctx context.Context, port int, user, password, dir string, killAt int, torn bool) (string, bool, error) {
	path := filepath.Join(dir, "journal.jsonl")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CRASH_KILL_AT="+strconv.Itoa(killAt), "CRASH_PORT="+strconv.Itoa(port),
		"CRASH_JOURNAL="+path, "CRASH_USER="+user, "CRASH_PASSWORD="+password, "CRASH_TORN="+map[bool]string{true: "1", false: "0"}[torn])
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return path, true, nil
		}
	}
	if err != nil {
		return path, false, fmt.Errorf("child (kill at %d): %w\n%s", killAt, err, out)
	}
	if !strings.Contains(string(out), "CHILD-OUTCOME completed") {
		return path, false, fmt.Errorf("child (kill at %d) did not complete:\n%s", killAt, out)
	}
	return path, false, nil
}

func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash matrix runs a window per journal record")
	}
	t.Parallel()
	// How many records does an uninterrupted window write?
	probe := simtest.Start(t, simtest.Options{})
	ep := simtest.Endpoint(t, probe, "EX01", exchange.AuthNTLM)
	path, killed, err := runChild(t.Context(), ep.Port, ep.User, probe.Password(), t.TempDir(), 1<<30, false)
	if err != nil || killed {
		t.Fatalf("the probe run: killed %v, %v", killed, err)
	}
	j, recs, _, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	total := len(recs)
	if total == 0 {
		t.Fatal("the probe window wrote no journal record: no crash point")
	}
	// Every record, killed right after it is durable; and the first record of each type once more, killed
	// half-way through writing it (a torn line the recovery must cut). Gate records (the report's) change
	// no state: a kill after one is a kill before the next state record, which the matrix has; only the
	// first is a case of its own.
	cases := make([]crashOutcome, 0, total+16)
	gateCase := false
	for n := 1; n <= total; n++ {
		if recs[n-1].Type == journal.Gate {
			if gateCase {
				continue
			}
			gateCase = true
		}
		cases = append(cases, crashOutcome{n: n, typ: recs[n-1].Type})
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if !seen[r.Type] {
			seen[r.Type] = true
			cases = append(cases, crashOutcome{n: int(r.Seq), typ: r.Type, torn: true})
		}
	}
	t.Logf("an uninterrupted dag window writes %d journal records of %d types: %d crash cases", total, len(seen), len(cases))

	var wg sync.WaitGroup
	sem := make(chan struct{}, 6) // each case mostly waits on exchsim's drain and reboot timings
	for i := range cases {
		dir := t.TempDir() // here: t.TempDir may call t.Fatal, which a worker goroutine must not
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			crashCase(t.Context(), dir, &cases[i])
		})
	}
	wg.Wait()
	failed := 0
	for _, o := range cases {
		var why []string
		switch {
		case o.err != nil:
			why = append(why, o.err.Error())
		case !o.killed:
			why = append(why, "the child was not killed")
		case o.lastSeq != o.n-btoi(o.torn):
			why = append(why, fmt.Sprintf("the journal ends at record %d, want %d", o.lastSeq, o.n-btoi(o.torn)))
		case o.torn && o.tornBytes == 0:
			why = append(why, "no torn record was left to cut")
		}
		if len(o.diffs) > 0 {
			why = append(why, "state not restored:\n  "+strings.Join(o.diffs, "\n  "))
		}
		if len(why) > 0 {
			failed++
			t.Errorf("kill %s record %d (%s; recovery %s): %s", map[bool]string{true: "while writing", false: "after"}[o.torn], o.n, o.typ, o.result, strings.Join(why, "; "))
		}
	}
	t.Logf("crash matrix: %d cases, %d killed as intended and restored, %d not", len(cases), len(cases)-failed, failed)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

type crashOutcome struct {
	n    int    // the record the child dies at
	typ  string // its type
	torn bool   // killed half-way through writing it

	killed    bool
	lastSeq   int   // the last complete record the recovery found
	tornBytes int64 // the partial line it cut
	result    string
	diffs     []string
	err       error
}

// crashCase runs one case on its own exchsim and recovers from the journal the child left. It runs on a
// worker goroutine: every failure is recorded in o (the summary counts it), nothing calls t.Fatal.
func crashCase(ctx context.Context, dir string, o *crashOutcome) {
	sim, stop, err := simtest.New(simtest.Options{})
	if err != nil {
		o.err = err
		return
	}
	defer stop()
	before := sim.Org().Snapshot()
	ep, err := simtest.EndpointOf(sim, "EX01", exchange.AuthNTLM)
	if err != nil {
		o.err = err
		return
	}
	path, killed, err := runChild(ctx, ep.Port, ep.User, sim.Password(), dir, o.n, o.torn)
	o.killed = killed
	if err != nil {
		o.err = err
		return
	}
	j, recs, rep, err := journal.Open(path, journal.Options{})
	if err != nil {
		o.err = err
		return
	}
	defer j.Close()
	o.tornBytes = rep.TornBytes
	if len(recs) > 0 {
		o.lastSeq = int(recs[len(recs)-1].Seq)
	}
	r := &steps.Runner{Journal: j, Observer: steps.NopObserver{}, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), ReverseTimeout: 2 * time.Minute}
	c, err := simtest.NewClient(ep, exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute})
	if err != nil {
		o.err = err
		return
	}
	defer func() { _ = c.Close() }()
	env := &steps.Env{Ex: c, Target: target("EX01"), Settings: fastSettings(), Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: steps.NopObserver{}, Secrets: simSecrets}
	o.result = "nothing to recover"
	for _, sr := range journal.Unfinished(recs) {
		res := r.Recover(ctx, sr, env, steps.RecoverReverse)
		o.result = res.Outcome
		if res.Outcome == steps.OutcomeRollbackFailed {
			o.err = fmt.Errorf("recovery failed: %w", res.Err)
		}
	}
	// Let a reboot the child started finish before comparing (the org settles on its own).
	deadline := time.Now().Add(30 * time.Second)
	for sim.Org().Rebooting("EX01") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	o.diffs = before.Equivalent(sim.Org().Snapshot())
}
