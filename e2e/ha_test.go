package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
)

// haTimings: a 2 s lease and a 10 s write_timeout make the takeover wait 12 s (docs/ha.md).
const (
	haLease         = "2s"
	haLeaseDuration = 2 * time.Second
	haWriteTimeout  = "10s"
	// haSettle bounds a takeover end to end: the lease, the wait, the recovery of one server.
	haSettle = 3 * time.Minute
)

// haStatus is the part of GET /api/v1/status these tests read.
type haStatus struct {
	Runs []struct {
		ID       string     `json:"id"`
		Finished *time.Time `json:"finished"`
		Result   string     `json:"result"`
	} `json:"runs"`
	Cluster struct {
		Instance, Role, Leader string
	} `json:"cluster"`
}

type instance struct {
	name, url, log string
	cmd            *exec.Cmd
}

// startInstance runs the exmaintd binary as one instance of the cluster at endpoints under prefix.
func startInstance(t *testing.T, bin string, sim *exchsim.Sim, name, prefix string, endpoints []string) *instance {
	t.Helper()
	return startInstanceLease(t, bin, sim, name, prefix, endpoints, haLease)
}

func startInstanceLease(t *testing.T, bin string, sim *exchsim.Sim, name, prefix string, endpoints []string, lease string) *instance {
	t.Helper()
	dir := t.TempDir()
	var urls []string
	for _, e := range endpoints {
		urls = append(urls, "http://"+e)
	}
	eps, _ := json.Marshal(urls)
	path, err := demo.WriteConfig(dir, sim, demo.Options{Extra: fmt.Sprintf(`
[cluster]
backend = "etcd"
name = %q
endpoints = %s
prefix = %q
lease_ttl = %q
request_timeout = "1s"
`, name, eps, prefix, lease)})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(cfg), `read_timeout = "30s"`, `read_timeout = "30s"`+"\nwrite_timeout = \""+haWriteTimeout+"\"", 1)
	token := filepath.Join(dir, "api-token")
	if err := os.WriteFile(token, []byte("ha-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = strings.Replace(s, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = \"127.0.0.1:0\"\nlog_format = \"text\"\napi_token = { file = %q }", token), 1)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, log := start(t, bin, "run", "-config", path)
	addr := boundAddr(t, log, `msg="exmaintd running".* listen=(127\.0\.0\.1:\d+)`)
	return &instance{name: name, url: "http://" + addr, log: log, cmd: cmd}
}

func (in *instance) status(ctx context.Context) (haStatus, error) {
	var st haStatus
	err := getJSON(ctx, in.url+"/api/v1/status", &st)
	return st, err
}

// waitRole waits until in reports role (and, for a standby, knows leader).
func (in *instance) waitRole(t *testing.T, role, leader string, limit time.Duration) {
	t.Helper()
	waitFor(t, in.name+" "+role, limit, func() (bool, error) {
		st, err := in.status(t.Context())
		return err == nil && st.Cluster.Role == role && st.Cluster.Leader == leader, err
	})
}

func post(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer ha-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// records reads the journal under prefix.
func records(t *testing.T, c *clientv3.Client, prefix string) []journal.Record {
	t.Helper()
	resp, err := c.Get(t.Context(), prefix+"records/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		t.Fatal(err)
	}
	var recs []journal.Record
	for _, kv := range resp.Kvs {
		r, err := journal.ParseLine([]byte(strings.TrimSuffix(string(kv.Value), "\n")))
		if err != nil {
			t.Fatalf("record %s: %v", kv.Key, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// killPoint is where the leader dies: the first journal record that matches.
type killPoint struct {
	name              string
	typ, server, step string
}

func (p killPoint) match(r journal.Record) bool {
	return r.Type == p.typ && r.Server == p.server && (p.step == "" || r.Step == p.step)
}

// waitRecord watches the journal under prefix until a record matches p and returns it.
func waitRecord(t *testing.T, c *clientv3.Client, prefix string, p killPoint, limit time.Duration) journal.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	for _, r := range records(t, c, prefix) {
		if p.match(r) {
			return r
		}
	}
	for resp := range c.Watch(ctx, prefix+"records/", clientv3.WithPrefix()) {
		for _, ev := range resp.Events {
			r, err := journal.ParseLine([]byte(strings.TrimSuffix(string(ev.Kv.Value), "\n")))
			if err == nil && p.match(r) {
				return r
			}
		}
	}
	t.Fatalf("no %s record for %s %s within %v", p.typ, p.server, p.step, limit)
	return journal.Record{}
}

// buildExmaintd builds the binary once per test.
func buildExmaintd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "exmaintd")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../cmd/exmaintd").CombinedOutput(); err != nil {
		t.Fatalf("building exmaintd: %v\n%s", err, out)
	}
	return bin
}

// onlyOneActed fails unless the records after the first of the new leader's come from it alone: never two
// instances acting on one server.
func onlyOneActed(t *testing.T, recs []journal.Record, old, next string) {
	t.Helper()
	took := false
	for _, r := range recs {
		switch r.Instance {
		case next:
			took = true
		case old:
			if took {
				t.Fatalf("record %d (%s %s %s) by %s after %s took over", r.Seq, r.Type, r.Server, r.Step, old, next)
			}
		default:
			t.Fatalf("record %d written by %q; want %s or %s", r.Seq, r.Instance, old, next)
		}
	}
	if !took {
		t.Fatalf("%s wrote nothing: it did not take over", next)
	}
}

// TestHATakeover kills the leader with SIGKILL at points across a DAG window — drain, move, patch, reboot,
// exit, between servers — and checks each time that the standby takes over within the documented bound,
// never while the old leader could still act, and that every server ends back in its original state
// (completed or reversed, by the recovery policy).
func TestHATakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	etcd := etcdtest.Start(t, 3)
	ec := etcd.Client(t)
	bin := buildExmaintd(t)
	points := []killPoint{
		{"drain: transport draining started", journal.StepStarted, "EX01", "hubtransport-draining"},
		{"drain: queues drained", journal.StepDone, "EX01", "drain-queues"},
		{"move: databases moving", journal.StepStarted, "EX01", "move-active-databases"},
		{"move: PAM moved", journal.StepDone, "EX01", "move-primary-active-manager"},
		{"patch: started", journal.StepStarted, "EX01", "patch"},
		{"patch: done", journal.StepDone, "EX01", "patch"},
		{"reboot: started", journal.StepStarted, "EX01", "reboot"},
		{"reboot: back", journal.StepDone, "EX01", "reboot"},
		{"exit: first undo", journal.UndoStarted, "EX01", "verify-maintenance"},
		{"exit: transport back", journal.UndoDone, "EX01", "hubtransport-draining"},
		{"between servers: EX01 finished", journal.RunFinished, "EX01", ""},
		{"standalone: EX03 drained", journal.StepDone, "EX03", "drain-queues"},
	}
	for i, p := range points {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			takeover(t, bin, etcd, ec, fmt.Sprintf("/ha-%d/", i), p)
		})
	}
}

func takeover(t *testing.T, bin string, etcd *etcdtest.Cluster, ec *clientv3.Client, prefix string, p killPoint) {
	t.Helper()
	ctx := t.Context()
	sim := simtest.Start(t, simtest.Options{})
	before := sim.Org().Snapshot()
	a := startInstance(t, bin, sim, "exm-a", prefix, etcd.Endpoints())
	a.waitRole(t, "leader", "exm-a", 30*time.Second)
	b := startInstance(t, bin, sim, "exm-b", prefix, etcd.Endpoints())
	b.waitRole(t, "standby", "exm-a", 30*time.Second)

	// A standby refuses write actions and names the leader.
	code, body, err := post(ctx, b.url+"/api/v1/windows/demo/start")
	if err != nil || code != http.StatusMisdirectedRequest || !strings.Contains(body, "exm-a") {
		t.Fatalf("start on the standby: %d %s %v; want 421 naming exm-a", code, body, err)
	}
	startDemo(t, a)
	at := waitRecord(t, ec, prefix, p, 2*time.Minute)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// docs/ha.md: the standby leads at most lease_ttl after the leader died (plus polling; 10 s of slack
	// for a loaded machine), and finishes the run after TakeoverWait and the recovery.
	b.waitRole(t, "leader", "exm-b", haLeaseDuration+10*time.Second)
	led := time.Since(killed)
	waitFor(t, "exm-b finishing the interrupted run", haSettle, func() (bool, error) {
		st, err := b.status(ctx)
		if err != nil || len(st.Runs) == 0 {
			return false, err
		}
		for _, r := range st.Runs {
			if r.Finished == nil {
				return false, fmt.Errorf("run %s not finished", r.ID)
			}
		}
		return true, nil
	})
	t.Logf("killed at record %d (%s %s %s); exm-b led %v and finished the run %v after the kill", at.Seq, at.Type, at.Server, at.Step,
		led.Round(100*time.Millisecond), time.Since(killed).Round(time.Second))
	if diffs := before.Equivalent(sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("servers not back in their original state:\n  %s", strings.Join(diffs, "\n  "))
	}
	onlyOneActed(t, records(t, ec, prefix), "exm-a", "exm-b")
	if un := journal.Unfinished(records(t, ec, prefix)); len(un) > 0 {
		t.Errorf("%d server runs unfinished in the journal after the takeover", len(un))
	}
}

// startDemo starts the demo window through in's API.
func startDemo(t *testing.T, in *instance) {
	t.Helper()
	if code, body, err := post(t.Context(), in.url+"/api/v1/windows/demo/start"); err != nil || code != http.StatusAccepted {
		t.Fatalf("start on %s: %d %s %v", in.name, code, body, err)
	}
}

// haOrg is one test's etcd, exmaintd binary and simulated org, and the org's state before the window.
type haOrg struct {
	etcd   *etcdtest.Cluster
	ec     *clientv3.Client
	bin    string
	sim    *exchsim.Sim
	before org.Snapshot
}

func newHAOrg(t *testing.T) *haOrg {
	t.Helper()
	etcd := etcdtest.Start(t, 3)
	sim := simtest.Start(t, simtest.Options{})
	return &haOrg{etcd: etcd, ec: etcd.Client(t), bin: buildExmaintd(t), sim: sim, before: sim.Org().Snapshot()}
}

// instance starts name with lease and waits until it has role under leader.
func (h *haOrg) instance(t *testing.T, name, prefix, lease, role, leader string) *instance {
	t.Helper()
	in := startInstanceLease(t, h.bin, h.sim, name, prefix, h.etcd.Endpoints(), lease)
	in.waitRole(t, role, leader, 30*time.Second)
	return in
}

// restored fails unless every server is back in its state from before the window.
func (h *haOrg) restored(t *testing.T) {
	t.Helper()
	if diffs := h.before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("servers not back in their original state:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// exited reports whether the process has ended (gone, or a zombie its parent has not waited for yet).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

// finishedRuns waits until every run in.status lists has finished and returns their results.
func finishedRuns(t *testing.T, in *instance, limit time.Duration) []string {
	t.Helper()
	var results []string
	waitFor(t, in.name+" finishing every run", limit, func() (bool, error) {
		st, err := in.status(t.Context())
		if err != nil || len(st.Runs) == 0 {
			return false, err
		}
		results = results[:0]
		for _, r := range st.Runs {
			if r.Finished == nil {
				return false, fmt.Errorf("run %s not finished", r.ID)
			}
			results = append(results, r.Result)
		}
		return true, nil
	})
	return results
}

// TestHAPausedLeader: the leader is paused (SIGSTOP) mid-window past its lease; the standby wins. When the
// old leader resumes it must stop without one more change on a server — its next journal write is fenced —
// and exit so that systemd starts it again as a standby. Its changes are compared while the new leader
// still waits out the takeover bound and so cannot have acted yet.
func TestHAPausedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	h := newHAOrg(t)
	ec, sim, prefix := h.ec, h.sim, "/paused/"
	a := h.instance(t, "exm-a", prefix, haLease, "leader", "exm-a")
	b := h.instance(t, "exm-b", prefix, haLease, "standby", "exm-a")
	startDemo(t, a)
	waitRecord(t, ec, prefix, killPoint{"", journal.StepDone, "EX01", "drain-queues"}, 2*time.Minute)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := sim.Org().Snapshot()
	b.waitRole(t, "leader", "exm-b", time.Minute)
	won := time.Now()
	resumed := len(sim.Org().Changes())
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed old leader exiting", 30*time.Second, func() (bool, error) { return exited(a.cmd.Process.Pid), nil })
	gone := sim.Org().Snapshot()
	if acted := sim.Org().Changes()[resumed:]; len(acted) > 0 {
		t.Fatalf("an instance acted on servers between the old leader's resumption and its exit (the new leader was still waiting): %+v", acted)
	}
	if since := time.Since(won); since >= 12*time.Second {
		t.Fatalf("the old leader took %v to exit: the new leader may have acted meanwhile, so the comparison proves nothing", since)
	}
	if diffs := paused.Equivalent(gone); len(diffs) > 0 {
		t.Fatalf("the old leader changed servers after it was paused past its lease:\n  %s", strings.Join(diffs, "\n  "))
	}
	logText, _ := os.ReadFile(a.log)
	for _, want := range []string{"leadership lost", "window run handed over to the new leader"} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("the old leader's log does not say %q:\n%s", want, tail(string(logText), 20))
		}
	}
	finishedRuns(t, b, haSettle)
	h.restored(t)
	onlyOneActed(t, records(t, ec, prefix), "exm-a", "exm-b")
}

// TestHAQuorumLost: etcd loses quorum mid-window (two of three members paused) for less than the lease.
// The leader's next journal write waits — no step starts, no server changes — and when quorum returns
// the write lands and the window goes on to success.
func TestHAQuorumLost(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	h := newHAOrg(t)
	ec, sim, etcd, prefix := h.ec, h.sim, h.etcd, "/quorum/"
	a := h.instance(t, "exm-a", prefix, "30s", "leader", "exm-a")
	startDemo(t, a)
	waitRecord(t, ec, prefix, killPoint{"", journal.StepDone, "EX01", "drain-queues"}, 2*time.Minute)
	// Pause two members: the one left cannot commit anything.
	for i := range 2 {
		if err := etcd.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for i := range 2 {
			_ = etcd.Cont(i)
		}
	})
	// The step that was starting may finish its one action (its record was written); after that nothing.
	time.Sleep(3 * time.Second)
	settled := sim.Org().Snapshot()
	time.Sleep(5 * time.Second)
	if diffs := settled.Equivalent(sim.Org().Snapshot()); len(diffs) > 0 {
		t.Fatalf("servers changed while etcd had no quorum:\n  %s", strings.Join(diffs, "\n  "))
	}
	for i := range 2 {
		if err := etcd.Cont(i); err != nil {
			t.Fatal(err)
		}
	}
	results := finishedRuns(t, a, haSettle)
	if len(results) != 1 || results[0] != api.Succeeded {
		t.Errorf("run results %v after quorum returned; want [succeeded]", results)
	}
	h.restored(t)
}
