package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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
)

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
}

// Journal appends records to one file. Safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	// off is where the last durable record ends: a failed append is cut back to it.
	off int64
	// broken is set when a failed append could not be cut back: every later Append fails with it, so
	// that nil from Append always means the record survives. Reopening repairs the file.
	broken error
	// pending are records Defer could not write yet, in order; every later write flushes them first.
	pending []Record
	// failing is the error of the latest write attempt (nil once one succeeds with nothing pending).
	failing error
	onError func(error)
	onPend  func(int)
	seq     uint64
	now     func() time.Time
	logger  *slog.Logger
	// afterSync, when set, runs after each record is durable (tests kill the process there).
	afterSync func(Record)
	midWrite  func(Record)
}

// Options configure Open.
type Options struct {
	Now       func() time.Time
	Logger    *slog.Logger
	AfterSync func(Record)
	// MidWrite, when set, runs with half of each record's line written and synced (tests kill the process
	// there: a torn record, as a crash during a write leaves one).
	MidWrite func(Record)
	// OnError is told of every failed write (the journal-errors metric); OnPending of the number of
	// deferred records whenever it changes.
	OnError   func(error)
	OnPending func(int)
}

// Report says what Open found.
type Report struct {
	Records   int
	Corrupt   int   // lines in the middle that failed their checksum: skipped, reported
	TornBytes int64 // a partial last line cut off (a crash during a write)
}

// checksum is CRC-32C (crc32.MakeTable returns the package's cached Castagnoli table).
func checksum(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// Open opens (or creates) the journal at path, reads every record, cuts a torn last line and positions for
// appending.
func Open(path string, o Options) (*Journal, []Record, Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, Report{}, fmt.Errorf("journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, Report{}, fmt.Errorf("journal %s: %w", path, err)
	}
	recs, good, rep, err := read(f)
	if err != nil {
		_ = f.Close()
		return nil, nil, rep, fmt.Errorf("journal %s: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		_ = f.Close()
		return nil, nil, rep, fmt.Errorf("journal %s: %w", path, err)
	}
	if size > good {
		rep.TornBytes = size - good
		o.Logger.Warn("journal: cutting a torn last record", "path", path, "bytes", rep.TornBytes)
		if err := f.Truncate(good); err != nil {
			_ = f.Close()
			return nil, nil, rep, fmt.Errorf("journal %s: truncating a torn record: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, nil, rep, fmt.Errorf("journal %s: %w", path, err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, nil, rep, fmt.Errorf("journal %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		_ = f.Close()
		return nil, nil, rep, fmt.Errorf("journal %s: %w", path, err)
	}
	if rep.Corrupt > 0 {
		o.Logger.Error("journal: records failed their checksum and were skipped", "path", path, "count", rep.Corrupt)
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	if o.OnPending == nil {
		o.OnPending = func(int) {}
	}
	j := &Journal{f: f, path: path, off: good, now: o.Now, logger: o.Logger, afterSync: o.AfterSync, midWrite: o.MidWrite, onError: o.OnError, onPend: o.OnPending}
	for _, r := range recs {
		j.seq = max(j.seq, r.Seq)
	}
	return j, recs, rep, nil
}

// ReadFile reads the records of the journal at path without changing it: a torn last line is left in
// place (and not returned), so another process may be appending meanwhile.
func ReadFile(path string) ([]Record, Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Report{}, fmt.Errorf("journal %s: %w", path, err)
	}
	defer f.Close()
	recs, good, rep, err := read(f)
	if err != nil {
		return nil, rep, fmt.Errorf("journal %s: %w", path, err)
	}
	if size, err := f.Seek(0, io.SeekEnd); err == nil && size > good {
		rep.TornBytes = size - good
	}
	return recs, rep, nil
}

// read parses every line; good is the offset after the last complete line.
func read(r io.ReadSeeker) (recs []Record, good int64, rep Report, err error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, rep, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			off += int64(len(line))
			rec, perr := parseLine(line[:len(line)-1])
			if perr != nil {
				rep.Corrupt++
			} else {
				recs = append(recs, rec)
				rep.Records++
			}
			good = off
		}
		if errors.Is(err, io.EOF) {
			// A final line without '\n' is a torn write: everything before it is kept.
			return recs, good, rep, nil
		}
		if err != nil {
			return nil, 0, rep, err
		}
	}
}

func parseLine(line []byte) (Record, error) {
	sum, body, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(sum) != 8 {
		return Record{}, errors.New("no checksum")
	}
	want, err := strconv.ParseUint(string(sum), 16, 32)
	if err != nil || checksum(body) != uint32(want) {
		return Record{}, errors.New("checksum mismatch")
	}
	var rec Record
	if err := json.Unmarshal(body, &rec); err != nil {
		return Record{}, err
	}
	if rec.Type == "" {
		return Record{}, errors.New("no type")
	}
	return rec, nil
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
		return fmt.Errorf("journal %s: %d records waiting to be written", j.path, len(j.pending))
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

// write appends one record and fsyncs it, or cuts the file back. Callers hold j.mu.
func (j *Journal) write(rec Record) (Record, error) {
	if j.f == nil {
		return rec, fmt.Errorf("journal %s: closed", j.path)
	}
	if j.broken != nil {
		return rec, fmt.Errorf("journal %s: not writable until reopened: %w", j.path, j.broken)
	}
	j.seq++
	rec.Seq = j.seq
	if rec.Time.IsZero() {
		rec.Time = j.now().UTC()
	}
	line, err := Encode(rec)
	if err != nil {
		j.seq--
		return rec, fmt.Errorf("journal %s: encoding a %s record: %w", j.path, rec.Type, err)
	}
	size := int64(len(line))
	if j.midWrite != nil {
		half := line[:len(line)/2]
		if _, err := j.f.Write(half); err != nil {
			return rec, j.cutBack(fmt.Errorf("journal %s: writing a %s record: %w", j.path, rec.Type, err))
		}
		if j.f.Sync() == nil {
			j.midWrite(rec)
		}
		line = line[len(half):]
	}
	if _, err := j.f.Write(line); err != nil {
		return rec, j.cutBack(fmt.Errorf("journal %s: writing a %s record: %w", j.path, rec.Type, err))
	}
	if err := j.f.Sync(); err != nil {
		return rec, j.cutBack(fmt.Errorf("journal %s: fsync after a %s record: %w", j.path, rec.Type, err))
	}
	j.off += size
	if j.afterSync != nil {
		j.afterSync(rec)
	}
	return rec, nil
}

// cutBack undoes a failed append: the file is truncated to the end of the last durable record and synced,
// so that a partial line (a full disk mid-write) cannot swallow the next record on reopen, and the sequence
// number is given back. If that fails too, the journal refuses every later append. Callers hold j.mu.
func (j *Journal) cutBack(cause error) error {
	j.seq--
	err := j.f.Truncate(j.off)
	if err == nil {
		_, err = j.f.Seek(j.off, io.SeekStart)
	}
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		j.broken = fmt.Errorf("%w (and cutting the partial record back failed: %w)", cause, err)
		j.logger.Error("journal: a failed append could not be cut back; refusing further appends", "path", j.path, "err", j.broken)
		return j.broken
	}
	return cause
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	if err := j.flushLocked(); err != nil {
		j.logger.Error("journal: closing with records that could not be written", "path", j.path, "lost", len(j.pending), "err", err)
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// syncDir makes a newly created file's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
