// Package syncbuf provides a text buffer that is safe to write and read at the same time: what a test
// reads of a process's output or a logger's lines while they are still being written.
package syncbuf

import (
	"strings"
	"sync"
)

// Buffer is a strings.Builder guarded by a mutex. The zero value is an empty buffer.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Count is how many times substr occurs in what was written so far.
func (b *Buffer) Count(substr string) int { return strings.Count(b.String(), substr) }
