package wsman

import (
	"io"
	"sync"
)

// pipe is an unbounded in-memory byte stream with one writer and one reader. Send must never block on a
// process that is not reading stdin yet, and a process must never block on a client that is not receiving,
// so neither side of a command's streams may be a synchronous io.Pipe.
type pipe struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
	// changed is closed and replaced on every write and on close, to wake waiters.
	changed chan struct{}
}

func newPipe() *pipe { return &pipe{changed: make(chan struct{})} }

func (p *pipe) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Write appends b; writes after Close are discarded (the process may write after the client left).
func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.buf = append(p.buf, b...)
		p.notifyLocked()
	}
	return len(b), nil
}

// Close marks the end of the stream.
func (p *pipe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.notifyLocked()
	}
	return nil
}

// take removes and returns up to max buffered bytes without waiting, and whether the stream is closed and
// fully drained.
func (p *pipe) take(max int) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(max, len(p.buf))
	out := append([]byte(nil), p.buf[:n]...)
	p.buf = p.buf[n:]
	return out, p.closed && len(p.buf) == 0
}

// state returns the number of buffered bytes, whether the stream is closed and a channel closed at the next
// change.
func (p *pipe) state() (int, bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf), p.closed, p.changed
}

// reader returns an io.Reader that blocks until data or EOF, or until done is closed (then io.EOF).
func (p *pipe) reader(done <-chan struct{}) io.Reader {
	return readerFunc(func(b []byte) (int, error) {
		for {
			p.mu.Lock()
			if len(p.buf) > 0 {
				n := copy(b, p.buf)
				p.buf = p.buf[n:]
				p.mu.Unlock()
				return n, nil
			}
			if p.closed {
				p.mu.Unlock()
				return 0, io.EOF
			}
			ch := p.changed
			p.mu.Unlock()
			select {
			case <-ch:
			case <-done:
				return 0, io.EOF
			}
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
