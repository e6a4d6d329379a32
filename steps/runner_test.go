package steps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

// fastSettings are short timings for exchsim at zero cost (drain rate 25 messages/s, reboot 2 s).
func fastSettings() steps.Settings {
	return steps.Settings{
		PollInterval: 100 * time.Millisecond, DrainTimeout: 8 * time.Second, DrainStall: 2 * time.Second,
		MoveTimeout: 20 * time.Second, MoveSettle: time.Second, MoveRetryInterval: 300 * time.Millisecond, RebootTimeout: 30 * time.Second,
		UndoAttempts: 3, UndoBackoff: 100 * time.Millisecond, ADReplicationWait: 300 * time.Millisecond,
		Rebalance: true,
		Patch:     []steps.PatchCommand{{Name: "cu", Command: `& 'D:\Setup.exe' /Mode:Upgrade`, Detached: true, Timeout: time.Minute, RunAs: simAccount, RunAsPassword: simPassword}},
	}.WithDefaults()
}

// simAccount is the built-in scenarios' named account (in Organization Management): Exchange setup does
// not run as SYSTEM.
const simAccount = `EXLAB\Administrator`

// simPassword is where the harness's Env.Secrets finds simAccount's password.
var simPassword = secret.Source{Env: "SIM_PASSWORD"}

func simSecrets(s secret.Source) (secret.Value, error) {
	if s == simPassword {
		return secret.New(org.DefaultPassword), nil
	}
	return secret.Value{}, fmt.Errorf("no secret %+v in the test", s)
}

// targets of the demo scenario.
func target(server string) steps.Target {
	switch server {
	case "EX01":
		return steps.Target{Server: "EX01", FQDN: "ex01.exlab.local", DAG: "DAG01", Peers: []steps.Peer{{Server: "EX02", FQDN: "ex02.exlab.local"}}}
	case "EX02":
		return steps.Target{Server: "EX02", FQDN: "ex02.exlab.local", DAG: "DAG01", Peers: []steps.Peer{{Server: "EX01", FQDN: "ex01.exlab.local"}}}
	}
	return steps.Target{Server: server, FQDN: strings.ToLower(server) + ".exlab.local", Peers: []steps.Peer{{Server: "EX01", FQDN: "ex01.exlab.local"}}}
}

type harness struct {
	sim         *exchsim.Sim
	journal     *journal.Journal
	journalPath string
	runner      *steps.Runner
	obs         *recorder
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	return newScenarioHarness(tb, "")
}

// newScenarioHarness is newHarness on a built-in scenario ("" for the demo).
func newScenarioHarness(tb testing.TB, scenario string) *harness {
	tb.Helper()
	return newHarnessIn(tb, scenario, tb.TempDir())
}

// newHarnessIn keeps the journal in dir.
func newHarnessIn(tb testing.TB, scenario, dir string) *harness {
	tb.Helper()
	return newHarnessWith(tb, simtest.Options{Scenario: scenario}, dir)
}

// newHarnessWith starts exchsim with o (e.g. an edited scenario) and keeps the journal in dir.
func newHarnessWith(tb testing.TB, o simtest.Options, dir string) *harness {
	tb.Helper()
	sim := simtest.Start(tb, o)
	path := filepath.Join(dir, "journal.jsonl")
	j, _, _, err := journal.Open(path, journal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = j.Close() })
	obs := &recorder{}
	return &harness{sim: sim, journal: j, journalPath: path, obs: obs,
		runner: &steps.Runner{Journal: j, Observer: obs, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), ReverseTimeout: 2 * time.Minute}}
}

func (h *harness) env(tb testing.TB, server string, s steps.Settings) *steps.Env {
	tb.Helper()
	ep := simtest.Endpoint(tb, h.sim, server, exchange.AuthNTLM)
	// As the configuration resolves them (config.ExchangeVia): a DAG member's Exchange cmdlets run on its
	// peer, its own endpoint the last resort; a standalone server's on its own endpoint.
	switch server {
	case "EX01":
		ep = simtest.Via(tb, h.sim, ep, "EX02", "EX01")
	case "EX02":
		ep = simtest.Via(tb, h.sim, ep, "EX01", "EX02")
	}
	c := simtest.Client(tb, ep, exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute})
	return &steps.Env{Ex: c, Target: target(server), Settings: s, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: h.obs, Secrets: simSecrets}
}

// setFault replaces exchsim's faults with one of kind on server's cmdlet, or with none when kind is "".
func (h *harness) setFault(tb testing.TB, kind, server, cmdlet string) {
	tb.Helper()
	if err := h.sim.ClearFaults(); err != nil {
		tb.Fatal(err)
	}
	if kind != "" {
		if err := h.sim.InjectFault(exchsim.Fault{Kind: kind, Server: server, Target: cmdlet}); err != nil {
			tb.Fatal(err)
		}
	}
}

func (h *harness) serverRun(env *steps.Env, proc steps.Procedure) steps.ServerRun {
	members := []string(nil)
	if env.Target.DAG != "" {
		members = []string{"EX01", "EX02"}
	}
	return steps.ServerRun{RunID: "run-1", Window: "test", Procedure: proc, Env: env, Deadline: time.Now().Add(5 * time.Minute),
		PreGates: steps.PreGateOptions{Deadline: time.Now().Add(5 * time.Minute), Estimate: time.Minute, DAGMembers: members}}
}

// TestProcedures runs dag on a DAG member and standalone on EX03 to completion: the server ends patched,
// rebooted and back in exactly its original state.
func TestProcedures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ server, proc string }{{"EX01", "dag"}, {"EX03", "standalone"}} {
		t.Run(tc.proc, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			before := h.sim.Org().Snapshot()
			env := h.env(t, tc.server, fastSettings())
			h.sim.ResetRequests()
			boot, err := env.Ex.LastBootUpTime(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()[tc.proc]))
			if res.Outcome != steps.OutcomeCompleted || res.Err != nil {
				t.Fatalf("outcome %s, err %v, warnings %v", res.Outcome, res.Err, res.Warnings)
			}
			if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
				t.Errorf("state not restored:\n  %s", strings.Join(diffs, "\n  "))
			}
			after, err := env.Ex.LastBootUpTime(t.Context())
			if err != nil || !after.After(boot) {
				t.Errorf("LastBootUpTime %v → %v: the server was not rebooted", boot, after)
			}
			if got := h.obs.states(tc.server); !strings.Contains(got, "prechecks entering in_maintenance patching rebooting exiting idle") {
				t.Errorf("states = %s", got)
			}
			// A DAG member's own /PowerShell is never asked anything: its IIS stops while it is patched. A
			// standalone server has no peer; its installer ran (exchsim fails it while a session to Exchange
			// is open on the server), so the session was closed for it.
			reqs := h.sim.ExchangeRequests()
			if tc.proc == "dag" && (reqs["EX01"] != 0 || reqs["EX02"] == 0) {
				t.Errorf("requests to /PowerShell %v; want none on EX01, EX01's cmdlets on EX02", reqs)
			}
		})
	}
}

// TestFailureAtEveryStep injects, through exchsim's fault API, a failure into each step of both built-in
// procedures when it starts (or earlier, where the step's effect begins earlier) and clears it when the step
// ends; every case must end reversed with exchsim's state equivalent to the initial one.
func TestFailureAtEveryStep(t *testing.T) {
	t.Parallel()
	type failCase struct {
		step     string
		fault    exchsim.Fault
		injectAt string // the step at whose start the fault is injected (default: step)
	}
	common := []failCase{
		{"hubtransport-draining", exchsim.Fault{Kind: "cmdlet_error", Target: "Set-ServerComponentState"}, ""},
		{"restart-transport", exchsim.Fault{Kind: "cmdlet_error", Target: "Restart-Service"}, ""},
		{"redirect-message", exchsim.Fault{Kind: "cmdlet_error", Target: "Redirect-Message"}, ""},
		{"drain-queues", exchsim.Fault{Kind: "stuck_queue"}, "hubtransport-draining"}, // before the drain begins
		{"serverwideoffline-inactive", exchsim.Fault{Kind: "cmdlet_error", Target: "Set-ServerComponentState"}, ""},
		{"patch", exchsim.Fault{Kind: "patch_fails"}, ""},
		{"reboot", exchsim.Fault{Kind: "cmdlet_error", Target: "shutdown.exe"}, ""},
	}
	dagOnly := []failCase{
		{"suspend-cluster-node", exchsim.Fault{Kind: "cmdlet_error", Target: "Suspend-ClusterNode"}, ""},
		{"block-activation", exchsim.Fault{Kind: "cmdlet_error", Target: "Set-MailboxServer"}, ""},
		{"highavailability-inactive", exchsim.Fault{Kind: "cmdlet_error", Target: "Set-ServerComponentState"}, ""},
		{"move-active-databases", exchsim.Fault{Kind: "move_fails"}, "block-activation"}, // MoveNow moves too
		{"move-primary-active-manager", exchsim.Fault{Kind: "cmdlet_error", Target: "Move-ClusterGroup"}, ""},
		{"verify-maintenance", exchsim.Fault{Kind: "cmdlet_error", Target: "Get-ServerComponentState"}, ""},
	}
	runs := []struct {
		server, proc string
		cases        []failCase
	}{{"EX01", "dag", append(common, dagOnly...)}, {"EX03", "standalone", common}}
	for _, run := range runs {
		for _, tc := range run.cases {
			t.Run(run.proc+"/"+tc.step, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t)
				before := h.sim.Org().Snapshot()
				env := h.env(t, run.server, fastSettings())
				f := tc.fault
				f.Server = run.server
				at := tc.injectAt
				if at == "" {
					at = tc.step
				}
				h.obs.onStart = func(server, step string) {
					if step == at {
						if err := h.sim.InjectFault(f); err != nil {
							t.Error(err)
						}
					}
				}
				h.obs.onFinish = func(server, step string, undo bool) {
					if step == tc.step && !undo {
						if err := h.sim.ClearFaults(); err != nil {
							t.Error(err)
						}
					}
				}
				res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()[run.proc]))
				var se *steps.StepError
				if res.Outcome != steps.OutcomeReversed || !errors.As(res.Err, &se) || se.Step != tc.step {
					t.Fatalf("outcome %s, err %v; want reversed after a failure in %s", res.Outcome, res.Err, tc.step)
				}
				if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
					t.Errorf("state not restored after a failure in %s:\n  %s", tc.step, strings.Join(diffs, "\n  "))
				}
				if tc.step == "drain-queues" && (!h.obs.stalled(run.server, "drain-queues") || !errors.Is(res.Err, steps.ErrStalled)) {
					t.Errorf("a stuck queue was not reported as a stalled drain: %v", res.Err)
				}
			})
		}
	}
}

// recorder is an Observer that keeps what it saw and can act on step events.
type recorder struct {
	mu       sync.Mutex
	events   []string
	queues   []exchange.QueueSummary
	stalls   map[string]bool
	onStart  func(server, step string)
	onFinish func(server, step string, undo bool)
}

func (r *recorder) add(e string) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) states(server string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if s, ok := strings.CutPrefix(e, "state "+server+" "); ok {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// undos lists the steps whose Undo finished on server, in order (a retried one once).
func (r *recorder) undos(server string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if s, ok := strings.CutPrefix(e, "undo "+server+" "); ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (r *recorder) stalled(server, step string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stalls[server+"/"+step]
}

func (r *recorder) ServerState(server string, s steps.ServerState) {
	r.add("state " + server + " " + string(s))
}
func (r *recorder) StepStarted(server, step string, _ time.Time) {
	r.add("start " + server + " " + step)
	if r.onStart != nil {
		r.onStart(server, step)
	}
}
func (r *recorder) StepFinished(server, step string, undo bool, _ time.Duration, err error) {
	r.add("finish " + server + " " + step)
	if undo {
		r.add("undo " + server + " " + step)
	}
	if r.onFinish != nil {
		r.onFinish(server, step, undo)
	}
}
func (r *recorder) GateChecked(server, gate, result string) {
	r.add("gate " + server + " " + gate + " " + result)
}
func (r *recorder) Queues(_ string, s exchange.QueueSummary) {
	r.mu.Lock()
	r.queues = append(r.queues, s)
	r.mu.Unlock()
}
func (r *recorder) Copies(string, int64, int64, int)          {}
func (r *recorder) RollbackFailed(server string, failed bool) { r.add("rollback_failed " + server) }
func (r *recorder) DrainStalled(server, step string, stalled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if stalled {
		if r.stalls == nil {
			r.stalls = map[string]bool{}
		}
		r.stalls[server+"/"+step] = true
	}
}

// TestRedirectTargetStoppedAccepting: the peer chosen when redirect-message was recorded has stopped accepting
// mail by the time it runs (another window took it into maintenance): the step redirects to the next peer
// that accepts instead of failing — and still fails when no peer accepts.
func TestRedirectTargetStoppedAccepting(t *testing.T) {
	h := newHarness(t)
	env := h.env(t, "EX03", fastSettings())
	env.Target.Peers = []steps.Peer{{Server: "EX01", FQDN: "ex01.exlab.local"}, {Server: "EX02", FQDN: "ex02.exlab.local"}}
	step := steps.Catalogue()["redirect-message"]
	orig, err := step.Record(t.Context(), env)
	if err != nil || !strings.Contains(string(orig), "ex01.exlab.local") {
		t.Fatalf("Record = %s, %v; want EX01 chosen", orig, err)
	}
	ex01 := h.env(t, "EX01", fastSettings())
	if err := ex01.Ex.SetComponentState(t.Context(), "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatal(err)
	}
	if err := step.Do(t.Context(), env, orig); err != nil {
		t.Fatalf("Do with EX01 no longer accepting: %v (EX02 accepts)", err)
	}
	// A standalone server whose every peer has stopped accepting goes on as one without a peer (mail waits).
	if err := ex01.Ex.SetComponentState(t.Context(), "EX02", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatal(err)
	}
	if err := step.Do(t.Context(), env, orig); err != nil {
		t.Fatalf("Do with no peer accepting any more, on a standalone server: %v", err)
	}
	// A DAG member cannot: its mail has nowhere to go.
	dagEnv := h.env(t, "EX01", fastSettings())
	dagEnv.Target.Peers = []steps.Peer{{Server: "EX02", FQDN: "ex02.exlab.local"}}
	if err := step.Do(t.Context(), dagEnv, json.RawMessage(`{"target":"ex02.exlab.local"}`)); err == nil || !strings.Contains(err.Error(), "no peer can take") {
		t.Fatalf("Do on a DAG member whose only peer stopped accepting: %v", err)
	}
}

// TestRedundancyGateAcrossVersions: the redundancy pre-gate passes on an SE DAG, whose copies report
// ContentIndexState NotApplicable (the index lives in the database since 2019), and on a 2016 DAG, whose
// copies report Healthy; a gate that wanted Healthy skipped every 2019/SE DAG member.
func TestRedundancyGateAcrossVersions(t *testing.T) {
	for _, tc := range []struct{ scenario, wantCI string }{{"dag2", "NotApplicable"}, {"dag2-2016", "Healthy"}} {
		t.Run(tc.scenario, func(t *testing.T) {
			sim := simtest.Start(t, simtest.Options{Scenario: tc.scenario})
			c := simtest.Client(t, simtest.Endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{})
			copies, err := c.DatabaseCopies(t.Context(), "DB01")
			if err != nil || len(copies) == 0 || copies[0].ContentIndexState != tc.wantCI {
				t.Fatalf("copies %+v, %v: want ContentIndexState %s", copies, err, tc.wantCI)
			}
			env := &steps.Env{Ex: c, Target: target("EX01"), Settings: fastSettings(), Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: steps.NopObserver{}, Secrets: simSecrets}
			if err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{Deadline: time.Now().Add(time.Hour), Estimate: time.Minute,
				DAGMembers: []string{"EX01", "EX02"}}); err != nil {
				t.Errorf("pre-gates: %v", err)
			}
		})
	}
}

// TestTransportBootIsUnknown: right after a transport restart Get-Queue fails, then shows no queue, until the
// bootloader is done. The procedure waits it out instead of reversing on a gate error, and never reports
// that unknown as "0 messages" to the metrics (the queue gauge's false zero).
func TestTransportBootIsUnknown(t *testing.T) {
	h := newHarness(t)
	env := h.env(t, "EX03", fastSettings())
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
	if res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	h.obs.mu.Lock()
	defer h.obs.mu.Unlock()
	if len(h.obs.queues) == 0 {
		t.Fatal("no queue reading reached the observer")
	}
	for i, s := range h.obs.queues {
		if !s.Queues {
			t.Errorf("reading %d reported to the metrics came from an incomplete Get-Queue: %+v", i, s)
		}
	}
}

// TestBackAfterRebootMeansHealthy: after a reboot a passive copy initialises and resynchronises before it is
// Healthy, its copy queue falling below the threshold while it still resynchronises. "Back" is Healthy or
// Mounted under the thresholds on several consecutive polls — not merely "not failed": when the reboot step
// ends, every copy on the server is Healthy or Mounted.
func TestBackAfterRebootMeansHealthy(t *testing.T) {
	h := newHarness(t)
	env := h.env(t, "EX01", fastSettings())
	reader := h.env(t, "EX01", fastSettings())
	var seen []string
	var seenMu sync.Mutex
	h.obs.onFinish = func(server, step string, undo bool) {
		if server != "EX01" || step != "reboot" || undo {
			return
		}
		cs, err := reader.Ex.CopyStatus(context.Background(), "EX01")
		seenMu.Lock()
		defer seenMu.Unlock()
		if err != nil {
			seen = append(seen, "error: "+err.Error())
		}
		for _, c := range cs {
			seen = append(seen, c.Name+"="+c.Status)
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the reboot step's end was not observed")
	}
	for _, s := range seen {
		if !strings.HasSuffix(s, "=Healthy") && !strings.HasSuffix(s, "=Mounted") {
			t.Errorf("when the reboot step ended: %s (want every copy Healthy or Mounted)", s)
		}
	}
}

// TestRedundancyNeedsTwoCopiesInLargerDAGs: as Microsoft's CheckDatabaseRedundancy.ps1, a database in a DAG of
// more than two members needs two other healthy copies before a server may go (one is enough in a two-member
// DAG); redundancy_min_copies overrides it; recovery databases are not counted.
func TestRedundancyNeedsTwoCopiesInLargerDAGs(t *testing.T) {
	sim := simtest.Start(t, simtest.Options{Scenario: "dag3"})
	if err := sim.InjectFault(exchsim.Fault{Kind: "copy_failure", Server: "EX12", Target: "DB21"}); err != nil {
		t.Fatal(err)
	}
	c := simtest.Client(t, simtest.Endpoint(t, sim, "EX11", exchange.AuthNTLM), exchange.Options{})
	members := []string{"EX11", "EX12", "EX13"}
	tgt := steps.Target{Server: "EX11", FQDN: "ex11.exlab.local", DAG: "DAG02", Peers: []steps.Peer{{Server: "EX12", FQDN: "ex12.exlab.local"}, {Server: "EX13", FQDN: "ex13.exlab.local"}}}
	for _, tc := range []struct {
		name    string
		min     int
		members []string
		want    string
	}{
		{"three members: two needed", 0, members, "DB21 has 1 other healthy, non-lagged copies (want 2)"},
		{"configured down to one", 1, members, ""},
		{"two-member rule", 0, []string{"EX11", "EX13"}, ""},
		// DAGMembers may leave the server itself out: still three members, still two needed.
		{"members without the server", 0, []string{"EX12", "EX13"}, "DB21 has 1 other healthy, non-lagged copies (want 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fastSettings()
			s.RedundancyMinCopies = tc.min
			env := &steps.Env{Ex: c, Target: tgt, Settings: s, Clock: steps.RealClock{}, Logger: slog.New(slog.DiscardHandler), Observer: steps.NopObserver{}, Secrets: simSecrets}
			err := steps.CheckPreGates(t.Context(), env, steps.PreGateOptions{Deadline: time.Now().Add(time.Hour), Estimate: time.Minute, DAGMembers: tc.members})
			switch {
			case tc.want == "" && err != nil && strings.Contains(err.Error(), "redundancy"):
				t.Errorf("redundancy gate failed: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("pre-gates = %v, want the redundancy gate to say %q", err, tc.want)
			}
		})
	}
}

// TestRemoteOnlyHoldIsKept: a Maintenance hold that exists only in Active Directory (RemoteStates, newer
// than the registry's entry — Set-ServerComponentState -RemoteOnly by another administrator) is the
// component's current state, as Exchange and CSS-Exchange's HealthChecker read it. The run records it as the
// original and leaves it in place; reading LocalStates alone would record Active and lift the hold.
func TestRemoteOnlyHoldIsKept(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.InjectFault(exchsim.Fault{Kind: "remote_component_state", Server: "EX03", Target: "HubTransport/Maintenance/Inactive"}); err != nil {
		t.Fatal(err)
	}
	before := h.sim.Org().Snapshot()
	env := h.env(t, "EX03", fastSettings())
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
	if res.Outcome != steps.OutcomeCompleted {
		t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
	}
	after := h.sim.Org().Snapshot()
	for _, s := range after.Servers {
		if s.Name == "EX03" && s.Effective["HubTransport"] != "Inactive" {
			t.Errorf("HubTransport is %s after the run; the hold in AD made it Inactive before", s.Effective["HubTransport"])
		}
	}
	if diffs := before.Equivalent(after); len(diffs) > 0 {
		t.Errorf("state not restored:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// TestRebootPolicy: the run restarts the server when a patch command's policy says always, or says
// if-required and Windows waits for a restart (or the installer exited 3010); never with never. An installer
// that exits 1641 restarts the server itself: exmaintd only waits for it.
func TestRebootPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		policy      string
		faults      []exchsim.Fault
		wantReboot  bool
		wantWhy     string
		byInstaller bool
	}{
		{"if-required, restart pending", steps.RebootIfRequired, nil, true, "a restart is pending: Component Based Servicing RebootPending", false},
		{"if-required, nothing pending", steps.RebootIfRequired, []exchsim.Fault{{Kind: "patch_no_reboot"}}, false, "no restart pending after the patches", false},
		{"default policy is if-required", "", []exchsim.Fault{{Kind: "patch_no_reboot"}}, false, "no restart pending", false},
		{"never, restart pending", steps.RebootNever, nil, false, "every patch command's reboot policy is never", false},
		{"always, nothing pending", steps.RebootAlways, []exchsim.Fault{{Kind: "patch_no_reboot"}}, true, "policy is always", false},
		{"exit 3010", steps.RebootIfRequired, []exchsim.Fault{{Kind: "patch_no_reboot"}, {Kind: "patch_exit_code", Target: "3010"}}, true, "exited 3010", false},
		{"exit 1641", steps.RebootNever, []exchsim.Fault{{Kind: "patch_exit_code", Target: "1641"}}, true, "exited 1641", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			for _, f := range tc.faults {
				f.Server = "EX03"
				if err := h.sim.InjectFault(f); err != nil {
					t.Fatal(err)
				}
			}
			s := fastSettings()
			s.Patch[0].Reboot = tc.policy
			env := h.env(t, "EX03", s)
			boot, err := env.Ex.LastBootUpTime(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["standalone"]))
			if res.Outcome != steps.OutcomeCompleted {
				t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
			}
			after, err := env.Ex.LastBootUpTime(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if rebooted := after.After(boot); rebooted != tc.wantReboot {
				t.Errorf("rebooted = %v, want %v", rebooted, tc.wantReboot)
			}
			var orig struct {
				Reboot      bool   `json:"reboot"`
				Why         string `json:"why"`
				ByInstaller bool   `json:"by_installer"`
			}
			for _, r := range mustRecords(t, h) {
				if r.Type == journal.Recorded && r.Step == "reboot" {
					if err := json.Unmarshal(r.Data, &orig); err != nil {
						t.Fatal(err)
					}
				}
			}
			if orig.Reboot != tc.wantReboot || !strings.Contains(orig.Why, tc.wantWhy) || orig.ByInstaller != tc.byInstaller {
				t.Errorf("journaled decision %+v, want reboot %v by installer %v why containing %q", orig, tc.wantReboot, tc.byInstaller, tc.wantWhy)
			}
		})
	}
}

// TestPendingRebootGate: a server already waiting for a restart from before the window is not started
// unless allow_pending_reboot says so.
func TestPendingRebootGate(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		h := newHarness(t)
		if err := h.sim.InjectFault(exchsim.Fault{Kind: "pending_reboot", Server: "EX03"}); err != nil {
			t.Fatal(err)
		}
		s := fastSettings()
		s.AllowPendingReboot = allow
		res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX03", s), steps.BuiltinProcedures()["standalone"]))
		switch {
		case !allow && (res.Outcome != steps.OutcomeSkipped || res.Err == nil || !strings.Contains(res.Err.Error(), "a restart is already pending from before the window (Component Based Servicing RebootPending)")):
			t.Errorf("pending restart, not allowed: outcome %s, err %v", res.Outcome, res.Err)
		case allow && res.Outcome != steps.OutcomeCompleted:
			t.Errorf("pending restart, allowed: outcome %s, err %v", res.Outcome, res.Err)
		}
	}
}

// TestDrainPolicy: a drain that ends at drain_timeout with messages left (a delivery queue stuck in Retry)
// fails the step by default and the server is reversed; with drain_policy continue it goes into
// maintenance anyway with a warning naming the messages left and the Retry count, as Microsoft's transport
// workflow does. Either way the stall was reported while the drain waited.
func TestDrainPolicy(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{steps.DrainFail, steps.DrainContinue} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if err := h.sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX03"}); err != nil {
				t.Fatal(err)
			}
			s := fastSettings()
			s.DrainPolicy, s.DrainTimeout, s.DrainStall = policy, 2*time.Second, 500*time.Millisecond
			s.Patch = nil
			h.obs.onStart = func(_, step string) {
				if step == "reboot" {
					_ = h.sim.ClearFaults() // the reboot's own checks are not what this test is about
				}
			}
			res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX03", s), steps.BuiltinProcedures()["standalone"]))
			if !h.obs.stalled("EX03", "drain-queues") {
				t.Error("the stall was not reported while the drain waited")
			}
			switch policy {
			case steps.DrainFail:
				if res.Outcome != steps.OutcomeReversed || !errors.Is(res.Err, steps.ErrStalled) {
					t.Fatalf("outcome %s, err %v; want reversed after a stalled drain", res.Outcome, res.Err)
				}
			case steps.DrainContinue:
				w := strings.Join(res.Warnings, "\n")
				if res.Outcome != steps.OutcomeCompleted || !strings.Contains(w, "goes into maintenance with") || !strings.Contains(w, "in Retry") {
					t.Fatalf("outcome %s, err %v, warnings %q; want completed with the messages-left warning", res.Outcome, res.Err, w)
				}
			}
		})
	}
}

// TestUMCallRouterByVersion: Exchange 2016 has UMCallRouter, which the procedure drains and restores;
// Exchange 2019 and SE have no such component, and the step is skipped with a warning instead of failing the
// run (Microsoft's scripts skip a component the server does not have).
func TestUMCallRouterByVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scenario   string
		wantAbsent bool
	}{{"dag2", true}, {"dag2-2016", false}} {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			h := newScenarioHarness(t, tc.scenario)
			before := h.sim.Org().Snapshot()
			var sawDraining bool
			h.obs.onFinish = func(_, step string, undo bool) {
				if step == "umcallrouter-draining" && !undo {
					for _, s := range h.sim.Org().Snapshot().Servers {
						if s.Name == "EX01" && s.Effective["UMCallRouter"] == "Draining" {
							sawDraining = true
						}
					}
				}
			}
			res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
			if res.Outcome != steps.OutcomeCompleted {
				t.Fatalf("outcome %s, err %v", res.Outcome, res.Err)
			}
			w := strings.Join(res.Warnings, "\n")
			if tc.wantAbsent != strings.Contains(w, "has no UMCallRouter component") || tc.wantAbsent == sawDraining {
				t.Errorf("warnings %q, UMCallRouter drained during the run: %v", w, sawDraining)
			}
			if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
				t.Errorf("state not restored: %v", diffs)
			}
		})
	}
}

// TestFailedUpdateHoldsTheServer: an update fails on EX01, a DAG member, and leaves its Exchange services
// stopped and disabled. The reverse goes through EX02 as the whole run did, and does not return EX01 to
// service broken: it is held in maintenance (rollback_failed) naming the services, its databases stay
// active on EX02 and its components stay out of service. (With the services up, TestFailureAtEveryStep's
// patch case shows the same failure reversed and EX01 back in service.)
func TestFailedUpdateHoldsTheServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		services []string // the configured services the undo reads over WinRS
		want     string
	}{
		{"a configured service down", nil, "MSExchangeIS"},
		// Only W3SVC is configured, and it runs: Test-ServiceHealth, through the peer, finds the rest.
		{"Test-ServiceHealth finds them", []string{"W3SVC"}, "Test-ServiceHealth: Mailbox Server Role: MSExchangeADTopology"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testFailedUpdateHolds(t, tc.services, tc.want)
		})
	}
}

// TestFailedUpdateReturnsThroughAPeer: a cumulative update that fails on EX01 and leaves its services up
// (setup stopped them while it ran and started them again) is reversed through EX02 — not one request to
// EX01's own /PowerShell, from the patch step's start to the end — and EX01 is back in service, exactly as
// before.
func TestFailedUpdateReturnsThroughAPeer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	env := h.env(t, "EX01", fastSettings())
	if err := h.sim.InjectFault(exchsim.Fault{Kind: "patch_fails", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	h.sim.ResetRequests()
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeReversed || res.Err == nil || !strings.Contains(res.Err.Error(), "0x80070643") {
		t.Fatalf("outcome %s, err %v; want reversed after the failed update", res.Outcome, res.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("EX01 not back in service as before:\n  %s", strings.Join(diffs, "\n  "))
	}
	if reqs := h.sim.ExchangeRequests(); reqs["EX01"] != 0 || reqs["EX02"] == 0 {
		t.Errorf("requests to /PowerShell %v; want every one on EX02", reqs)
	}
}

func testFailedUpdateHolds(t *testing.T, services []string, want string) {
	t.Helper()
	h := newHarness(t)
	settings := fastSettings()
	settings.RebootTimeout = 2 * time.Second // how long the undo waits for the services before it holds
	if services != nil {
		settings.Services = services
	}
	env := h.env(t, "EX01", settings)
	for _, kind := range []string{"patch_fails", "patch_disables_services"} {
		if err := h.sim.InjectFault(exchsim.Fault{Kind: kind, Server: "EX01"}); err != nil {
			t.Fatal(err)
		}
	}
	h.sim.ResetRequests()
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeRollbackFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "Exchange services are not back") ||
		!strings.Contains(res.Err.Error(), want) {
		t.Fatalf("outcome %s, err %v; want rollback_failed naming %q", res.Outcome, res.Err, want)
	}
	snap := h.sim.Org().Snapshot()
	for _, d := range snap.Databases {
		if strings.HasPrefix(d.Copies["EX01"], "Mounted") {
			t.Errorf("database %s is active on EX01 again: %v", d.Name, d.Copies)
		}
	}
	for _, s := range snap.Servers {
		if s.Name == "EX01" && s.Effective["ServerWideOffline"] != "Inactive" {
			t.Errorf("EX01's ServerWideOffline is %s; want it still Inactive (held in maintenance)", s.Effective["ServerWideOffline"])
		}
	}
	if reqs := h.sim.ExchangeRequests(); reqs["EX01"] != 0 {
		t.Errorf("EX01's own /PowerShell received %d requests; want none", reqs["EX01"])
	}
}
