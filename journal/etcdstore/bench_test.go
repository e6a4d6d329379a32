package etcdstore_test

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
)

// BenchmarkAppend is one fenced journal append in etcd (a transaction etcd fsyncs on a majority before it
// answers), on a 1- and a 3-member cluster on loopback; compare journal.BenchmarkAppend (a local fsync).
func BenchmarkAppend(b *testing.B) {
	for _, members := range []int{1, 3} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			c := etcdtest.Start(b, members).Client(b)
			j, _ := leaderJournal(b, c, "/bench/")
			rec := journal.Record{Type: journal.StepStarted, Run: "r1", Window: "patch", Server: "EX01", Step: "drain-queues"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckFence is the leadership check before each state-changing operation on a server (a
// linearizable transaction that compares and reads, writing nothing), on a 3-member cluster.
func BenchmarkCheckFence(b *testing.B) {
	c := etcdtest.Start(b, 3).Client(b)
	sess, fence := elected(b, c, "/bench/", "a", concurrency.WithTTL(30))
	s, err := etcdstore.New(c, etcdstore.Options{Prefix: "/bench/"})
	if err != nil {
		b.Fatal(err)
	}
	s.SetFence(&fence, sess.Done())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.CheckFence(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
