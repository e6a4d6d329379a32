package sdnotify

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen opens a datagram socket like systemd's notify socket and returns its path and a reader.
func listen(t *testing.T) (string, func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading notification: %v", err)
		}
		return string(buf[:n])
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestMessages(t *testing.T) {
	path, read := listen(t)
	n := New(env(map[string]string{"NOTIFY_SOCKET": path}), 42)
	if !n.Enabled() {
		t.Fatal("not enabled with NOTIFY_SOCKET set")
	}
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", func() error { return n.Ready("idle; next window Sat 22:00") }, "READY=1\nSTATUS=idle; next window Sat 22:00"},
		{"status", func() error { return n.Status("EX01: wait_queues") }, "STATUS=EX01: wait_queues"},
		{"reloading", n.Reloading, "RELOADING=1"},
		{"stopping", func() error { return n.Stopping("finishing EX01 exit") }, "STOPPING=1\nSTATUS=finishing EX01 exit"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
		{"extend", func() error { return n.ExtendTimeout(90 * time.Second) }, "EXTEND_TIMEOUT_USEC=90000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatal(err)
			}
			if got := read(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDisabledIsNoop(t *testing.T) {
	n := New(env(nil), 1)
	if n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	if err := n.Ready("x"); err != nil {
		t.Fatal(err)
	}
	n.RunWatchdog(t.Context(), func() bool { return true }) // returns at once
}

func TestWatchdogEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"on", map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second},
		{"our pid", map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 15 * time.Second},
		{"other pid", map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, 0},
		{"garbage", map[string]string{"WATCHDOG_USEC": "soon"}, 0},
		{"off", map[string]string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(env(tt.env), 7).WatchdogInterval(); got != tt.want {
				t.Errorf("WatchdogInterval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunWatchdogPetsWhileHealthy(t *testing.T) {
	path, read := listen(t)
	n := New(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000"}), 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); n.RunWatchdog(ctx, func() bool { return true }) }()
	if got := read(); got != "WATCHDOG=1" {
		t.Errorf("got %q", got)
	}
	cancel()
	<-done
}

func TestBadSocket(t *testing.T) {
	n := New(env(map[string]string{"NOTIFY_SOCKET": "relative"}), 1)
	if err := n.Ready("x"); err == nil || !strings.Contains(err.Error(), "neither a path") {
		t.Fatalf("err = %v", err)
	}
}

// TestExtendWhile: extensions start at once and repeat until stop, which waits for the last one.
func TestExtendWhile(t *testing.T) {
	path, read := listen(t)
	n := New(env(map[string]string{"NOTIFY_SOCKET": path}), 42)
	stop := n.ExtendWhile(t.Context(), 30*time.Millisecond)
	for range 3 {
		if got := read(); got != "EXTEND_TIMEOUT_USEC=30000" {
			t.Fatalf("got %q", got)
		}
	}
	stop()
	if err := n.Status("after"); err != nil {
		t.Fatal(err)
	}
	for {
		got := read()
		if got == "STATUS=after" {
			break
		}
		if got != "EXTEND_TIMEOUT_USEC=30000" {
			t.Fatalf("got %q", got)
		}
	}
	done := make(chan struct{})
	go func() { New(env(nil), 1).ExtendWhile(t.Context(), time.Second)(); close(done) }()
	<-done // disabled: returns a stop that returns at once
}
