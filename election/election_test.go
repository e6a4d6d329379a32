package election_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/exmaintd/exmaintd/election"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
)

type leaders struct {
	mu   sync.Mutex
	seen []string
}

func (l *leaders) add(id election.Identity) {
	l.mu.Lock()
	l.seen = append(l.seen, id.Name)
	l.mu.Unlock()
}
func (l *leaders) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return ""
	}
	return l.seen[len(l.seen)-1]
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestElection: one of two instances leads; the other learns who. A clean stop resigns, so the standby
// wins at once (well before the 30-second lease would run out); a leader whose lease ends is told
// ErrLost, with lead's context cancelled.
func TestElection(t *testing.T) {
	c := etcdtest.Start(t, 1).Client(t)
	seenByB := &leaders{}
	newElector := func(name string, onLeader func(election.Identity)) *election.Elector {
		e, err := election.New(election.Options{Client: c, Prefix: "/el/", TTL: 30, Self: election.Identity{Name: name, Advertise: "http://" + name}, OnLeader: onLeader})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := newElector("a", nil), newElector("b", seenByB.add)

	type leading struct {
		name string
		l    election.Leadership
		ctx  context.Context
	}
	won := make(chan leading, 2)
	hold := func(name string) func(context.Context, election.Leadership) error {
		return func(ctx context.Context, l election.Leadership) error {
			won <- leading{name, l, ctx}
			<-ctx.Done()
			return nil
		}
	}
	actx, stopA := context.WithCancel(t.Context())
	aDone := make(chan error, 1)
	go func() { aDone <- a.Run(actx, hold("a")) }()
	first := <-won
	if first.name != "a" || first.l.Fence.Key == "" || first.l.Fence.Revision == 0 {
		t.Fatalf("first leader %+v", first)
	}
	bDone := make(chan error, 1)
	go func() { bDone <- b.Run(t.Context(), hold("b")) }()
	waitFor(t, "b learning that a leads", func() bool { return seenByB.last() == "a" })

	// a stops cleanly: it resigns and b wins without waiting out a's 30-second lease.
	stopped := time.Now()
	stopA()
	if err := <-aDone; err != nil {
		t.Fatalf("a's Run after a clean stop: %v", err)
	}
	second := <-won
	if second.name != "b" || time.Since(stopped) > 20*time.Second {
		t.Fatalf("after a resigned: %s leads %v later", second.name, time.Since(stopped))
	}

	// b's lease ends (revoked here, as etcd does when keep-alives stop): lead's context ends, Run says lost.
	resp, err := c.Get(t.Context(), second.l.Fence.Key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("b's election key: %v", err)
	}
	if _, err := c.Revoke(t.Context(), clientLease(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; !errors.Is(err, election.ErrLost) {
		t.Fatalf("b's Run after its lease ended: %v; want ErrLost", err)
	}
	if second.ctx.Err() == nil {
		t.Error("lead's context still open after the lease ended")
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	if _, err := election.New(election.Options{Prefix: "/el/", TTL: 5, Self: election.Identity{Name: "a"}}); err == nil {
		t.Error("New without a client succeeded")
	}
}

func clientLease(id int64) clientv3.LeaseID { return clientv3.LeaseID(id) }
