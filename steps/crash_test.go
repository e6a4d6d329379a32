package steps_test

import (
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
	j, _, _, err := journal.Open(os.Getenv("CRASH_JOURNAL"), journal.Options{AfterSync: func(r journal.Record) {
		if int(r.Seq) == killAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ep := exchange.Endpoint{Name: "EX01", Host: "127.0.0.1", Port: port, Auth: exchange.AuthNTLM, User: os.Getenv("CRASH_USER"), Password: secret.New(os.Getenv("CRASH_PASSWORD")),
		ExchangeURL: fmt.Sprintf("http://127.0.0.1:%d/PowerShell", port), AllowUnencrypted: true}
	c := simtest.Client(t, ep, exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute})
	r := &steps.Runner{Journal: j, Observer: steps.NopObserver{}, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler)}
	env := &steps.Env{Ex: c, Target: target("EX01"), Settings: fastSettings(), Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: steps.NopObserver{}}
	h := harness{}
	res := r.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	fmt.Printf("CHILD-OUTCOME %s %v\n", res.Outcome, res.Err)
}

// runChild runs one crash case; it returns the journal path and whether the child was killed.
func runChild(t *testing.T, port int, user, password, dir string, killAt int) (string, bool) {
	t.Helper()
	path := filepath.Join(dir, "journal.jsonl")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CRASH_KILL_AT="+strconv.Itoa(killAt), "CRASH_PORT="+strconv.Itoa(port),
		"CRASH_JOURNAL="+path, "CRASH_USER="+user, "CRASH_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return path, true
		}
	}
	if err != nil {
		t.Fatalf("child (kill at %d): %v\n%s", killAt, err, out)
	}
	if !strings.Contains(string(out), "CHILD-OUTCOME completed") {
		t.Fatalf("child (kill at %d) did not complete:\n%s", killAt, out)
	}
	return path, false
}

func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash matrix runs a window per journal record")
	}
	t.Parallel()
	// How many records does an uninterrupted window write?
	probe := simtest.Start(t, simtest.Options{})
	ep := simtest.Endpoint(t, probe, "EX01", exchange.AuthNTLM)
	path, killed := runChild(t, ep.Port, ep.User, probe.Password(), t.TempDir(), 1<<30)
	if killed {
		t.Fatal("the probe run was killed")
	}
	j, recs, _, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	total := len(recs)
	t.Logf("an uninterrupted dag window writes %d journal records: %d crash points", total, total)

	results := make([]crashOutcome, total)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6) // each case mostly waits on exchsim's drain and reboot timings
	for n := 1; n <= total; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[n-1] = crashCase(t, n)
		}()
	}
	wg.Wait()
	failed := 0
	for _, o := range results {
		if len(o.diffs) > 0 {
			failed++
			t.Errorf("kill after record %d (killed %v, recovery %s): state not restored:\n  %s", o.n, o.killed, o.result, strings.Join(o.diffs, "\n  "))
		}
	}
	t.Logf("crash matrix: %d cases, %d restored, %d not", total, total-failed, failed)
}

type crashOutcome struct {
	n      int
	killed bool
	result string
	diffs  []string
}

func crashCase(t *testing.T, n int) (o crashOutcome) {
	t.Helper()
	o.n = n
	sim := simtest.Start(t, simtest.Options{})
	before := sim.Org().Snapshot()
	ep := simtest.Endpoint(t, sim, "EX01", exchange.AuthNTLM)
	path, killed := runChild(t, ep.Port, ep.User, sim.Password(), t.TempDir(), n)
	o.killed = killed
	j, recs, _, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Error(err)
		return o
	}
	defer j.Close()
	r := &steps.Runner{Journal: j, Observer: steps.NopObserver{}, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), ReverseTimeout: 2 * time.Minute}
	c := simtest.Client(t, ep, exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute})
	env := &steps.Env{Ex: c, Target: target("EX01"), Settings: fastSettings(), Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: steps.NopObserver{}}
	o.result = "nothing to recover"
	for _, sr := range journal.Unfinished(recs) {
		res := r.Recover(t.Context(), sr, env, steps.RecoverReverse)
		o.result = res.Outcome
		if res.Outcome == steps.OutcomeRollbackFailed {
			t.Errorf("kill after record %d: recovery failed: %v", n, res.Err)
		}
	}
	// Let a reboot the child started finish before comparing (the org settles on its own).
	deadline := time.Now().Add(30 * time.Second)
	for sim.Org().Rebooting("EX01") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	o.diffs = before.Equivalent(sim.Org().Snapshot())
	return o
}
