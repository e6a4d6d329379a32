package journal

import (
	"errors"
	"fmt"
)

// Store is where the records live: a local file (the default, [FileStore]) or etcd (package
// journal/etcdstore, for instances that share one journal). [Journal] gives every store the same rules —
// sequence numbers, deferred records, the failing state — so a store only reads and writes.
type Store interface {
	// Load returns every record in sequence order and what it found. It repairs what a crash can leave
	// (a torn last record) so that appending can continue after the last good record.
	Load() ([]Record, Report, error)
	// Put makes one record durable, or leaves no trace of it: when Put returns nil the record survives a
	// crash. line is the record's encoding (Encode). Put never overwrites a record: it fails with
	// *SeqTakenError when one with rec.Seq exists already.
	Put(rec Record, line []byte) error
	// Close releases the store. Records written before are durable.
	Close() error
	// String names the store in errors ("journal /var/lib/exmaintd/journal.jsonl").
	String() string
}

// SeqTakenError is Put's error when a record with the same sequence number exists: an earlier write that
// reported an error (a timeout whose outcome was unknown) did land. Journal then moves past it.
type SeqTakenError struct{ Seq uint64 }

func (e *SeqTakenError) Error() string {
	return fmt.Sprintf("a record with sequence number %d exists already", e.Seq)
}

// IsLost reports whether err says this instance may not write the journal at all any more: another instance
// leads (the etcd store's fence failed). Journal never defers such a record, and whoever acts on a server
// must stop at once: the new leader owns the server from now on.
func IsLost(err error) bool {
	var l interface{ Lost() bool }
	return errors.As(err, &l) && l.Lost()
}
