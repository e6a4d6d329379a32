package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"time"
)

// Record types, in the order a run writes them.
const (
	RunStarted     = "run_started"     // a window's run began on a server
	Recorded       = "recorded"        // a step's original values, before it changes anything
	StepStarted    = "step_started"    // Do is about to run
	StepDone       = "step_done"       // Do and Verify succeeded
	StepFailed     = "step_failed"     // Do or Verify failed: the reverse follows
	UndoStarted    = "undo_started"    // Undo is about to run
	UndoDone       = "undo_done"       // Undo and its verification succeeded
	RollbackFailed = "rollback_failed" // an Undo failed after its retries: hands off until an operator clears it
	Cleared        = "cleared"         // an operator cleared rollback_failed
	RunFinished    = "run_finished"    // the run ended (Outcome says how)
	Note           = "note"            // anything else worth keeping (silence ids, missed windows)
	// Gate is one gate's result (Outcome: pass, fail, error) with what it read — Data {"gate", "when",
	// "detail"}, Step the step it ran before or after — for the run's report. Nothing is derived from it.
	Gate = "gate"
)

// FinishedData is a run_finished record's data, written when either is set: why the run stopped when it was
// not its own failure (steps.StopAbort, steps.StopWindowEnd) and the warnings of the run.
type FinishedData struct {
	Stopped  string   `json:"stopped"`
	Warnings []string `json:"warnings"`
}

// GateData is a gate record's data: the gate, when it ran (pre-gates, before or after the record's Step,
// post-gates, watch) and what it read or why it failed.
type GateData struct {
	Gate   string `json:"gate"`
	When   string `json:"when"`
	Detail string `json:"detail"`
}

// Record is one journal line.
type Record struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	Run     string          `json:"run,omitempty"`
	Window  string          `json:"window,omitempty"`
	Server  string          `json:"server,omitempty"`
	Step    string          `json:"step,omitempty"`
	Outcome string          `json:"outcome,omitempty"`
	Error   string          `json:"error,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Instance is the exmaintd instance that wrote the record (set in a cluster: who acted, for audits).
	Instance string `json:"instance,omitempty"`
}

// Journal appends records to a Store (one local file by default). Safe for concurrent use.
type Journal struct {
	mu     sync.Mutex
	store  Store
	closed bool
	// pending are records Defer could not write yet, in order; every later write flushes them first.
	pending []Record
	// failing is the error of the latest write attempt (nil once one succeeds with nothing pending).
	failing error
	// lost is set once the store said this instance may not write any more (IsLost): every later write
	// fails with it, without asking the store.
	lost    error
	onError func(error)
	onPend  func(int)
	seq     uint64
	now     func() time.Time
	logger  *slog.Logger
	// afterSync, when set, runs after each record is durable (tests kill the process there).
	afterSync func(Record)
	instance  string
}

// Options configure Open and OpenStore.
type Options struct {
	Now       func() time.Time
	Logger    *slog.Logger
	AfterSync func(Record)
	// MidWrite, when set, runs with half of each record's line written and synced (tests kill the process
	// there: a torn record, as a crash during a write leaves one). Only the file store can tear a record.
	MidWrite func(Record)
	// OnError is told of every failed write (the journal-errors metric); OnPending of the number of
	// deferred records whenever it changes.
	OnError   func(error)
	OnPending func(int)
	// Instance, when set, is written into every record (Record.Instance).
	Instance string
}

// Report says what Open found.
type Report struct {
	Records   int
	Corrupt   int   // records in the middle that failed their checksum: skipped, reported
	TornBytes int64 // a partial last line cut off (a crash during a write)
}

// checksum is CRC-32C (crc32.MakeTable returns the package's cached Castagnoli table).
func checksum(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// Open opens (or creates) the journal file at path, reads every record, cuts a torn last line and
// positions for appending.
func Open(path string, o Options) (*Journal, []Record, Report, error) {
	fs, err := OpenFileStore(path, o.MidWrite, o.Logger)
	if err != nil {
		return nil, nil, Report{}, err
	}
	j, recs, rep, err := OpenStore(fs, o)
	if err != nil {
		_ = fs.Close()
		return nil, nil, rep, err
	}
	return j, recs, rep, nil
}

// OpenStore reads every record of s and returns a Journal that appends to it. The Journal owns s and
// closes it.
func OpenStore(s Store, o Options) (*Journal, []Record, Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	if o.OnPending == nil {
		o.OnPending = func(int) {}
	}
	recs, rep, err := s.Load()
	if err != nil {
		return nil, nil, rep, err
	}
	if rep.Corrupt > 0 {
		o.Logger.Error("journal: records failed their checksum and were skipped", "store", s.String(), "count", rep.Corrupt)
	}
	j := &Journal{store: s, now: o.Now, logger: o.Logger, afterSync: o.AfterSync, onError: o.OnError, onPend: o.OnPending, instance: o.Instance}
	for _, r := range recs {
		j.seq = max(j.seq, r.Seq)
	}
	return j, recs, rep, nil
}

// Encode renders one record as a journal line (with its checksum and newline).
func Encode(rec Record) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(body)+10)
	line = fmt.Appendf(line, "%08x ", checksum(body))
	line = append(line, body...)
	return append(line, '\n'), nil
}

// Append writes rec (with the next sequence number and the time) and fsyncs it. When Append returns nil the
// record survives a crash; the caller may then act on it. Records deferred earlier are written first.
func (j *Journal) Append(rec Record) (Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.flushLocked(); err != nil {
		return rec, err
	}
	rec, err := j.write(rec)
	j.noteLocked(err)
	return rec, err
}

// Defer is Append for records that must not stop what they describe: the undos of a reverse, which run
// even when the disk is full (they are idempotent and verified against the live server). If the record
// cannot be written now it is kept, in order, and written by the next successful Append or Flush; the
// error says so. Its time is the time of the event, not of the write.
func (j *Journal) Defer(rec Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if rec.Time.IsZero() {
		rec.Time = j.now().UTC()
	}
	err := j.flushLocked()
	if err == nil {
		_, err = j.write(rec)
		j.noteLocked(err)
	}
	if IsLost(err) {
		return err // not kept: this instance will never write it, and must not act as if it would
	}
	if err != nil {
		j.pending = append(j.pending, rec)
		j.onPend(len(j.pending))
		return fmt.Errorf("%w (the record is kept and written when the journal can be written again)", err)
	}
	return nil
}

// Flush writes the deferred records; nil when none is left.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.flushLocked()
}

// Failing returns why the journal cannot be written — the latest write failed or records are still
// deferred — or nil. No new window or step should start while it fails.
func (j *Journal) Failing() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failing == nil && len(j.pending) > 0 {
		return fmt.Errorf("%s: %d records waiting to be written", j.store, len(j.pending))
	}
	return j.failing
}

func (j *Journal) flushLocked() error {
	for len(j.pending) > 0 {
		_, err := j.write(j.pending[0])
		j.noteLocked(err)
		if err != nil {
			return err
		}
		j.pending = j.pending[1:]
		j.onPend(len(j.pending))
	}
	return nil
}

// noteLocked keeps the latest write's outcome and reports a failure.
func (j *Journal) noteLocked(err error) {
	j.failing = err
	if err != nil {
		j.onError(err)
	}
}

// write gives rec the next sequence number and puts it in the store. Callers hold j.mu.
func (j *Journal) write(rec Record) (Record, error) {
	if j.closed {
		return rec, fmt.Errorf("%s: closed", j.store)
	}
	if j.lost != nil {
		return rec, j.lost
	}
	rec.Seq = j.seq + 1
	if rec.Instance == "" {
		rec.Instance = j.instance
	}
	if rec.Time.IsZero() {
		rec.Time = j.now().UTC()
	}
	line, err := Encode(rec)
	if err != nil {
		return rec, fmt.Errorf("%s: encoding a %s record: %w", j.store, rec.Type, err)
	}
	err = j.store.Put(rec, line)
	if taken := (*SeqTakenError)(nil); errors.As(err, &taken) {
		// A write we were told had failed (its outcome unknown) did land. What it recorded is true or
		// harmless — the action after it never ran, as after a crash between the two — so move past it.
		j.logger.Warn("journal: an earlier write reported as failed is in the store; continuing after it", "store", j.store.String(), "seq", rec.Seq)
		j.seq = rec.Seq
		rec.Seq++
		if line, err = Encode(rec); err == nil {
			err = j.store.Put(rec, line)
		}
	}
	if IsLost(err) {
		j.lost = err
		j.pending = nil // never to be written by this instance; the new leader reads the live servers
		j.onPend(0)
	}
	if err != nil {
		return rec, err
	}
	j.seq = rec.Seq
	if j.afterSync != nil {
		j.afterSync(rec)
	}
	return rec, nil
}

// Close flushes what it can and closes the store.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	if err := j.flushLocked(); err != nil {
		j.logger.Error("journal: closing with records that could not be written", "store", j.store.String(), "lost", len(j.pending), "err", err)
	}
	j.closed = true
	return j.store.Close()
}
