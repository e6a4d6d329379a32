package wsman

import (
	"context"
	"sync"
	"time"
)

// shell is one WinRS shell (a winrshost.exe on Windows).
type shell struct {
	id       string
	owner    string
	codepage int
	env      map[string]string
	idle     time.Duration

	mu       sync.Mutex
	lastUsed time.Time
	commands map[string]*command
	// pool is set for a shell of the Microsoft.Exchange resource (a PSRP runspace pool).
	pool *runspacePool
	// cookie is the affinity cookie the pool's creation set (affinity.go); "" on /wsman.
	cookie string
}

// command is one process started in a shell.
type command struct {
	id     string
	stdin  *pipe
	stdout *pipe
	stderr *pipe
	cancel context.CancelFunc
	// done is closed when the launcher returned; exitCode is valid then.
	done     chan struct{}
	exitCode int
	// receiving guards MS-WSMV's rule of one outstanding Receive per command.
	receiving bool
}

func (s *shell) touch(now time.Time) {
	s.mu.Lock()
	s.lastUsed = now
	s.mu.Unlock()
}

func (s *shell) expired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle > 0 && now.Sub(s.lastUsed) > s.idle
}

func (s *shell) command(id string) *command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commands[id]
}

// terminate cancels every process in the shell (Delete, expiry, host down).
func (s *shell) terminate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.commands {
		c.cancel()
		c.stdin.Close()
	}
	if s.pool != nil {
		s.pool.stopAll()
	}
}
