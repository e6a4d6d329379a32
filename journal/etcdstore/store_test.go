package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
	"github.com/exmaintd/exmaintd/journal/journaltest"
)

func newStore(t *testing.T, c *clientv3.Client, prefix string, pageSize int64) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.New(c, etcdstore.Options{Prefix: prefix, PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEtcdStoreSuite runs the suite every store passes (journal/journaltest) against a real etcd; each
// case has its own prefix, and Load reads 3 records a page so that paging is part of every case.
func TestEtcdStoreSuite(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	c := cluster.Client(t)
	n := 0
	journaltest.Run(t, func(t *testing.T) journaltest.Backend {
		t.Helper()
		n++
		prefix := fmt.Sprintf("/suite-%d/", n)
		return journaltest.Backend{
			Open: func(t *testing.T) journal.Store {
				t.Helper()
				return newStore(t, c, prefix, 3)
			},
			Corrupt: func(t *testing.T, seq uint64) {
				t.Helper()
				key := newStore(t, c, prefix, 0).Key(seq)
				resp, err := c.Get(t.Context(), key)
				if err != nil || len(resp.Kvs) != 1 {
					t.Fatalf("reading %s: %v", key, err)
				}
				v := resp.Kvs[0].Value
				v[len(v)-3] ^= 0x01
				if _, err := c.Put(t.Context(), key, string(v)); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// TestFencing: a leader's writes hold only while its election key does. Once its lease is gone (revoked
// here, as etcd does when the TTL runs out without keep-alives), a write fails, leaves nothing behind, and
// says that leadership was lost; the next leader writes on.
func TestFencing(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	c := cluster.Client(t)
	ctx := t.Context()
	campaign := func(name string) (*concurrency.Session, etcdstore.Fence) {
		t.Helper()
		sess, err := concurrency.NewSession(c, concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sess.Close() })
		e := concurrency.NewElection(sess, "/fence/leader/")
		if err := e.Campaign(ctx, name); err != nil {
			t.Fatal(err)
		}
		return sess, etcdstore.Fence{Key: e.Key(), Revision: e.Rev()}
	}
	sessA, fenceA := campaign("a")
	a := newStore(t, c, "/fence/", 0)
	a.SetFence(&fenceA)
	ja, _, _, err := journal.OpenStore(a, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ja.Append(journal.Record{Type: journal.Note, Server: "EX01"}); err != nil {
		t.Fatalf("leader's write: %v", err)
	}
	// A standby waits in its own campaign; it wins when A's lease ends.
	won := make(chan etcdstore.Fence, 1)
	go func() {
		_, f := campaign("b")
		won <- f
	}()
	if _, err := c.Revoke(ctx, sessA.Lease()); err != nil {
		t.Fatal(err)
	}
	_, err = ja.Append(journal.Record{Type: journal.StepStarted, Server: "EX01", Step: "drain"})
	if !etcdstore.IsFenced(err) {
		t.Fatalf("write after the lease ended: %v; want leadership lost", err)
	}
	var fenceB etcdstore.Fence
	select {
	case fenceB = <-won:
	case <-time.After(30 * time.Second):
		t.Fatal("the standby did not win within 30 s of the leader's lease ending")
	}
	b := newStore(t, c, "/fence/", 0)
	b.SetFence(&fenceB)
	jb, recs, _, err := journal.OpenStore(b, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Type != journal.Note {
		t.Fatalf("the new leader reads %+v; want only the old leader's one fenced-in record", recs)
	}
	if r, err := jb.Append(journal.Record{Type: journal.Note, Server: "EX02"}); err != nil || r.Seq != 2 {
		t.Fatalf("new leader's write: seq %d, %v", r.Seq, err)
	}
	// The old leader, still running, cannot write even at a free sequence number.
	if _, err := ja.Append(journal.Record{Type: journal.Note, Server: "EX01"}); !etcdstore.IsFenced(err) {
		t.Fatalf("old leader's write after the takeover: %v; want leadership lost", err)
	}
}

// TestPutTimesOut: a write etcd cannot answer (quorum lost) fails within the store's timeout instead of
// hanging the run; it names the record.
func TestPutTimesOut(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	c := cluster.Client(t)
	s, err := etcdstore.New(c, etcdstore.Options{Prefix: "/quorum/", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	j, _, _, err := journal.OpenStore(s, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := cluster.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	_, err = j.Append(journal.Record{Type: journal.StepStarted, Server: "EX01", Step: "drain"})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write without quorum: %v; want a deadline error", err)
	}
	if j.Failing() == nil {
		t.Fatal("Failing is nil after a write without quorum")
	}
}

func TestNewRefusesABadPrefix(t *testing.T) {
	for _, p := range []string{"", "/exmaintd"} {
		if _, err := etcdstore.New(nil, etcdstore.Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}
