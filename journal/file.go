package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// FileStore keeps the records in one local file, one line each ("<crc32c hex> <json>\n"), fsynced per
// record. A crash during a write can only tear the last line; Load cuts it off.
type FileStore struct {
	f    *os.File
	path string
	// off is where the last durable record ends: a failed append is cut back to it.
	off int64
	// broken is set when a failed append could not be cut back: every later Put fails with it, so that nil
	// from Put always means the record survives. Reopening repairs the file.
	broken error
	// last is the highest sequence number in the file: Put refuses to write it, or a lower one, again
	// (but for lastLine, the very record written last: a retry of it is done already).
	last     uint64
	lastLine []byte
	midWrite func(Record)
	logger   *slog.Logger
}

// OpenFileStore opens (or creates) the journal file at path; Load reads it. midWrite, when set, runs with
// half of each record's line written and synced (tests kill the process there).
func OpenFileStore(path string, midWrite func(Record), logger *slog.Logger) (*FileStore, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	return &FileStore{f: f, path: path, midWrite: midWrite, logger: logger}, nil
}

func (s *FileStore) String() string { return "journal " + s.path }

// Load reads every record, cuts a torn last line and positions for appending.
func (s *FileStore) Load() ([]Record, Report, error) {
	recs, good, rep, err := read(s.f)
	if err != nil {
		return nil, rep, fmt.Errorf("%s: %w", s, err)
	}
	size, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, rep, fmt.Errorf("%s: %w", s, err)
	}
	if size > good {
		rep.TornBytes = size - good
		s.logger.Warn("journal: cutting a torn last record", "path", s.path, "bytes", rep.TornBytes)
		if err := s.f.Truncate(good); err != nil {
			return nil, rep, fmt.Errorf("%s: truncating a torn record: %w", s, err)
		}
		if err := s.f.Sync(); err != nil {
			return nil, rep, fmt.Errorf("%s: %w", s, err)
		}
	}
	if _, err := s.f.Seek(good, io.SeekStart); err != nil {
		return nil, rep, fmt.Errorf("%s: %w", s, err)
	}
	s.off = good
	s.broken = nil
	s.last = 0
	for _, r := range recs {
		s.last = max(s.last, r.Seq)
	}
	return recs, rep, nil
}

// Put appends line and fsyncs it, or cuts the file back to the last durable record.
func (s *FileStore) Put(rec Record, line []byte) error {
	if s.broken != nil {
		return fmt.Errorf("%s: not writable until reopened: %w", s, s.broken)
	}
	if rec.Seq == s.last && bytes.Equal(line, s.lastLine) {
		return nil
	}
	if rec.Seq <= s.last {
		return fmt.Errorf("%s: writing a %s record: %w", s, rec.Type, &SeqTakenError{Seq: rec.Seq})
	}
	full, size := line, int64(len(line))
	if s.midWrite != nil {
		half := line[:len(line)/2]
		if _, err := s.f.Write(half); err != nil {
			return s.cutBack(fmt.Errorf("%s: writing a %s record: %w", s, rec.Type, err))
		}
		if s.f.Sync() == nil {
			s.midWrite(rec)
		}
		line = line[len(half):]
	}
	if _, err := s.f.Write(line); err != nil {
		return s.cutBack(fmt.Errorf("%s: writing a %s record: %w", s, rec.Type, err))
	}
	if err := s.f.Sync(); err != nil {
		return s.cutBack(fmt.Errorf("%s: fsync after a %s record: %w", s, rec.Type, err))
	}
	s.off += size
	s.last, s.lastLine = rec.Seq, slices.Clone(full)
	return nil
}

// cutBack undoes a failed append: the file is truncated to the end of the last durable record and synced,
// so that a partial line (a full disk mid-write) cannot swallow the next record on reopen. If that fails
// too, the store refuses every later Put.
func (s *FileStore) cutBack(cause error) error {
	err := s.f.Truncate(s.off)
	if err == nil {
		_, err = s.f.Seek(s.off, io.SeekStart)
	}
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		s.broken = fmt.Errorf("%w (and cutting the partial record back failed: %w)", cause, err)
		s.logger.Error("journal: a failed append could not be cut back; refusing further appends", "path", s.path, "err", s.broken)
		return s.broken
	}
	return cause
}

// Close closes the file.
func (s *FileStore) Close() error { return s.f.Close() }

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
			rec, perr := ParseLine(line[:len(line)-1])
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

// ParseLine reads one encoded record (without its newline), checking its checksum.
func ParseLine(line []byte) (Record, error) {
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
