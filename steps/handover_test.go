package steps_test

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
	"github.com/exmaintd/exmaintd/steps"
)

// fencedJournal campaigns for leadership of prefix on a new session and returns the leader's journal and
// session (revoke its lease to depose it).
func fencedJournal(t *testing.T, c *clientv3.Client, prefix string) (*journal.Journal, []journal.Record, *concurrency.Session) {
	t.Helper()
	sess, err := concurrency.NewSession(c, concurrency.WithTTL(30))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	e := concurrency.NewElection(sess, prefix+"leader")
	if err := e.Campaign(t.Context(), "instance"); err != nil {
		t.Fatal(err)
	}
	s, err := etcdstore.New(c, etcdstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s.SetFence(&etcdstore.Fence{Key: e.Key(), Revision: e.Rev()}, sess.Done())
	j, recs, _, err := journal.OpenStore(s, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, recs, sess
}

// TestLeadershipLostMidRun: the leader loses its lease right after a step's action (move-active-databases)
// and before its step_done record. It must stop at once — no step_done, no reverse, not one more change on
// the server (exchsim's state at the loss equals its state when Run returns) — and hand the server over.
// The next leader then finds the run unfinished in the journal and recovers it exactly as a restarted
// daemon does: the server ends in its original state.
func TestLeadershipLostMidRun(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t, 1).Client(t)
	h := newHarness(t)
	before := h.sim.Org().Snapshot()
	j, _, sess := fencedJournal(t, c, "/handover/")
	h.runner.Journal = j
	var atLoss org.Snapshot
	changesAtLoss := -1
	h.obs.onFinish = func(_, step string, undo bool) {
		if step == "move-active-databases" && !undo {
			if _, err := c.Revoke(t.Context(), sess.Lease()); err != nil {
				t.Error(err)
			}
			atLoss, changesAtLoss = h.sim.Org().Snapshot(), len(h.sim.Org().Changes())
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(h.env(t, "EX01", fastSettings()), steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeHandedOver || !journal.IsLost(res.Err) {
		t.Fatalf("outcome %s, err %v; want handed_over with lost leadership", res.Outcome, res.Err)
	}
	if after := h.sim.Org().Changes()[changesAtLoss:]; len(after) > 0 {
		t.Fatalf("the deposed leader acted after it lost its lease: %+v", after)
	}
	if diffs := atLoss.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Fatalf("the deposed leader changed the server after it lost its lease:\n  %s", strings.Join(diffs, "\n  "))
	}
	if len(before.Equivalent(atLoss)) == 0 {
		t.Fatal("the server was not in maintenance when the lease was lost: the test proves nothing")
	}

	// The next leader.
	h.obs.onFinish = nil
	j2, recs, _ := fencedJournal(t, c, "/handover/")
	last := recs[len(recs)-1]
	if last.Type != journal.StepStarted || last.Step != "move-active-databases" {
		t.Fatalf("the journal ends with %s %s; want step_started move-active-databases (nothing after the loss)", last.Type, last.Step)
	}
	un := journal.Unfinished(recs)
	if len(un) != 1 {
		t.Fatalf("%d unfinished runs; want 1", len(un))
	}
	h.runner.Journal = j2
	rec := h.runner.Recover(t.Context(), un[0], h.env(t, "EX01", fastSettings()), steps.RecoverReverse)
	if rec.Outcome != steps.OutcomeRecovered {
		t.Fatalf("recovery by the new leader: %s, %v", rec.Outcome, rec.Err)
	}
	if diffs := before.Equivalent(h.sim.Org().Snapshot()); len(diffs) > 0 {
		t.Errorf("not restored by the new leader:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// TestLeadershipLostMidStep: the lease ends right after a step's step_started record (hubtransport-draining),
// before its action. The leader's client checks its leadership with etcd before every state-changing
// operation (exchange Options.BeforeWrite = the store's CheckFence), so the Set-ServerComponentState is
// never sent: a deposed leader cannot act even inside a step whose record it wrote.
func TestLeadershipLostMidStep(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t, 1).Client(t)
	h := newHarness(t)
	j, _, sess := fencedJournal(t, c, "/midstep/")
	h.runner.Journal = j
	store, err := etcdstore.New(c, etcdstore.Options{Prefix: "/midstep/"})
	if err != nil {
		t.Fatal(err)
	}
	fence := fenceOf(t, c, "/midstep/")
	store.SetFence(&fence, sess.Done())
	env := h.env(t, "EX01", fastSettings())
	env.Ex = simtest.Client(t, simtest.Endpoint(t, h.sim, "EX01", exchange.AuthNTLM),
		exchange.Options{ReadTimeout: 20 * time.Second, WriteTimeout: time.Minute, BeforeWrite: store.CheckFence})
	changesAtLoss := -1
	h.obs.onStart = func(_, step string) {
		if step == "hubtransport-draining" {
			if _, err := c.Revoke(t.Context(), sess.Lease()); err != nil {
				t.Error(err)
			}
			changesAtLoss = len(h.sim.Org().Changes())
		}
	}
	res := h.runner.Run(t.Context(), h.serverRun(env, steps.BuiltinProcedures()["dag"]))
	if res.Outcome != steps.OutcomeHandedOver || !journal.IsLost(res.Err) {
		t.Fatalf("outcome %s, err %v; want handed_over with lost leadership", res.Outcome, res.Err)
	}
	if changesAtLoss < 0 {
		t.Fatal("hubtransport-draining never started: the test proves nothing")
	}
	if after := h.sim.Org().Changes()[changesAtLoss:]; len(after) > 0 {
		t.Fatalf("the deposed leader acted inside the step after it lost its lease: %+v", after)
	}
}

// fenceOf reads the election key this test's leader holds under prefix.
func fenceOf(t *testing.T, c *clientv3.Client, prefix string) etcdstore.Fence {
	t.Helper()
	resp, err := c.Get(t.Context(), prefix+"leader", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("election keys under %s: %v (%d)", prefix, err, len(resp.Kvs))
	}
	return etcdstore.Fence{Key: string(resp.Kvs[0].Key), Revision: resp.Kvs[0].CreateRevision}
}
