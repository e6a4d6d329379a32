// Package etcdstore keeps exmaintd's journal in etcd, so that instances on several hosts share it and a
// standby can finish what a dead leader started (docs/ha.md). Every record is one key under a prefix,
// "<prefix>records/<seq, 20 digits>", holding the same checksummed line as the file journal (etcdctl get
// shows what tail shows). A record is written in one transaction that never overwrites a key and, once a
// fence is set, succeeds only while the leader's election key still exists with the revision it won at:
// a leader that lost its lease cannot write, and so cannot start anything the journal must record first.
package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/exmaintd/exmaintd/journal"
)

// Fence is the election key a leader's writes are conditioned on: the key and the create revision it
// had when this instance won. When the leader's lease ends, etcd deletes the key and every write fails.
type Fence struct {
	Key      string
	Revision int64
}

// FencedError is Put's error when the fence no longer holds: this instance is not the leader any more
// (its key is gone), or its session ended while etcd could not be reached (Cause says so).
type FencedError struct {
	Fence Fence
	Cause string
}

// Lost marks the error for journal.IsLost: this instance must stop writing and acting.
func (e *FencedError) Lost() bool { return true }

func (e *FencedError) Error() string {
	if e.Cause != "" {
		return fmt.Sprintf("leadership lost: %s (election key %s)", e.Cause, e.Fence.Key)
	}
	return fmt.Sprintf("leadership lost: election key %s (revision %d) no longer holds", e.Fence.Key, e.Fence.Revision)
}

// Options configure New.
type Options struct {
	// Prefix is the key prefix of this organisation's journal, ending in "/" ("/exmaintd/").
	Prefix string
	// Timeout bounds each request to etcd (default 5 s). A write that times out may still land; the
	// journal then finds it and moves past it (journal.SeqTakenError).
	Timeout time.Duration
	// PageSize is how many records Load reads per request (default 1,000).
	PageSize int64
	// RetryInterval is the pause between attempts of a fenced write that etcd did not answer (default 1 s).
	RetryInterval time.Duration
}

// Store is a journal.Store in etcd. Safe for concurrent use; the journal serialises its writes anyway.
type Store struct {
	c        *clientv3.Client
	prefix   string
	timeout  time.Duration
	pageSize int64
	retry    time.Duration
	mu       sync.Mutex
	fence    *Fence
	done     <-chan struct{}
}

// New returns a store on c, which stays the caller's (Close does not close it: the election shares it).
func New(c *clientv3.Client, o Options) (*Store, error) {
	if o.Prefix == "" || o.Prefix[len(o.Prefix)-1] != '/' {
		return nil, fmt.Errorf("etcd journal prefix %q: must be set and end in /", o.Prefix)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	return &Store{c: c, prefix: o.Prefix, timeout: o.Timeout, pageSize: o.PageSize, retry: o.RetryInterval}, nil
}

func (s *Store) String() string { return "journal etcd:" + s.prefix }

// SetFence conditions every later Put on f, the leadership of the session whose Done channel is done; nil
// removes the condition (a migration). A fenced Put that etcd does not answer (no quorum, no route) is
// tried again until it lands or the session ends: a leader never acts on a write it could not make, and
// resumes when etcd answers again — unless its lease ran out meanwhile, and then it is leader no more.
func (s *Store) SetFence(f *Fence, done <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fence, s.done = f, done
}

// Key is where the record with sequence number seq lives.
func (s *Store) Key(seq uint64) string { return fmt.Sprintf("%srecords/%020d", s.prefix, seq) }

// Load reads every record in sequence order, a page at a time. A value that fails its checksum, or whose
// sequence number is not its key's, is counted as corrupt and skipped.
func (s *Store) Load() ([]journal.Record, journal.Report, error) {
	var recs []journal.Record
	var rep journal.Report
	from := s.prefix + "records/"
	end := clientv3.GetPrefixRangeEnd(from)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		resp, err := s.c.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(s.pageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		cancel()
		if err != nil {
			return nil, rep, fmt.Errorf("%s: reading records from %q: %w", s, from, err)
		}
		for _, kv := range resp.Kvs {
			rec, err := journal.ParseLine(bytes.TrimSuffix(kv.Value, []byte{'\n'}))
			if err != nil || s.Key(rec.Seq) != string(kv.Key) {
				rep.Corrupt++
				continue
			}
			recs = append(recs, rec)
			rep.Records++
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return recs, rep, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Put writes line under rec's key in one transaction: only if the key does not exist and, with a fence,
// only while the fence holds (see SetFence for the retries).
func (s *Store) Put(rec journal.Record, line []byte) error {
	s.mu.Lock()
	fence, done := s.fence, s.done
	s.mu.Unlock()
	for {
		err := s.put(rec, line, fence)
		var taken *journal.SeqTakenError
		if err == nil || fence == nil || journal.IsLost(err) || errors.As(err, &taken) {
			return err
		}
		select {
		case <-done:
			return fmt.Errorf("%s: writing a %s record (seq %d): %w (last error: %w)", s, rec.Type, rec.Seq,
				&FencedError{Fence: *fence, Cause: "the session ended while etcd could not be reached"}, err)
		case <-time.After(s.retry):
		}
	}
}

func (s *Store) put(rec journal.Record, line []byte, fence *Fence) error {
	key := s.Key(rec.Seq)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}
	orElse := []clientv3.Op{clientv3.OpGet(key)}
	if fence != nil {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(fence.Key), "=", fence.Revision))
		orElse = append(orElse, clientv3.OpGet(fence.Key))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	resp, err := s.c.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(line))).Else(orElse...).Commit()
	if err != nil {
		return fmt.Errorf("%s: writing a %s record (seq %d): %w", s, rec.Type, rec.Seq, err)
	}
	if resp.Succeeded {
		return nil
	}
	if fence != nil {
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != fence.Revision {
			return fmt.Errorf("%s: writing a %s record (seq %d): %w", s, rec.Type, rec.Seq, &FencedError{Fence: *fence})
		}
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		if bytes.Equal(kvs[0].Value, line) {
			return nil // an earlier attempt of this very write landed (its answer was lost)
		}
		return fmt.Errorf("%s: writing a %s record: %w", s, rec.Type, &journal.SeqTakenError{Seq: rec.Seq})
	}
	return fmt.Errorf("%s: writing a %s record (seq %d): transaction refused for no reason etcd reported", s, rec.Type, rec.Seq)
}

// CheckFence confirms with etcd (a linearizable transaction that compares and only reads) that the
// fence still holds: a leader calls it before every state-changing operation on a server (exchange
// Options.BeforeWrite), so that it cannot act once deposed even in the middle of a step — a resumed
// process acts on nothing before it has heard from etcd. Like Put it waits while etcd does not answer,
// until ctx or the session ends. Without a fence it returns nil.
func (s *Store) CheckFence(ctx context.Context) error {
	s.mu.Lock()
	fence, done := s.fence, s.done
	s.mu.Unlock()
	if fence == nil {
		return nil
	}
	for {
		select {
		case <-done:
			return &FencedError{Fence: *fence, Cause: "the session ended"}
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		// The count-only read is what makes this linearizable: etcd serves a transaction whose every
		// operation is a serializable read — and one with no operations at all — from the local member's
		// state without asking a quorum (etcd server/etcdserver/v3_server.go, isTxnSerializable), so a
		// member that had not yet applied the revocation, or was cut off, would vouch for a dead lease.
		held := clientv3.Compare(clientv3.CreateRevision(fence.Key), "=", fence.Revision)
		read := clientv3.OpGet(fence.Key, clientv3.WithCountOnly())
		resp, err := s.c.Txn(rctx).If(held).Then(read).Else(read).Commit()
		cancel()
		switch {
		case err == nil && resp.Succeeded:
			return nil
		case err == nil:
			return &FencedError{Fence: *fence}
		case ctx.Err() != nil:
			return fmt.Errorf("%s: checking the leadership before an action: %w", s, err)
		}
		select {
		case <-done:
		case <-ctx.Done():
		case <-time.After(s.retry):
		}
	}
}

// Close releases nothing: the client is the caller's.
func (s *Store) Close() error { return nil }

// IsFenced reports whether err says this instance lost its leadership.
func IsFenced(err error) bool {
	var f *FencedError
	return errors.As(err, &f)
}
