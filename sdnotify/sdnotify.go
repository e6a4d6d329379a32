// Package sdnotify implements the client side of systemd's sd_notify protocol (READY=1, STATUS=, RELOADING=1,
// STOPPING=1, WATCHDOG=1) for a Type=notify unit with WatchdogSec=.
//
// It is ~100 lines over a unix datagram socket, so exmaintd does not take github.com/coreos/go-systemd (and
// its dbus and journal code) for it. Outside systemd (NOTIFY_SOCKET unset) every call is a no-op.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends state changes to the service manager.
type Notifier struct {
	socket   string        // "" when not under systemd
	watchdog time.Duration // WatchdogSec as told by WATCHDOG_USEC; 0 if disabled
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through getenv. pid is the current process id
// (os.Getpid()): a watchdog meant for another process (WATCHDOG_PID set and different) is ignored.
func New(getenv func(string) string, pid int) *Notifier {
	n := &Notifier{socket: getenv("NOTIFY_SOCKET")}
	if usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
		if wp := getenv("WATCHDOG_PID"); wp == "" || wp == strconv.Itoa(pid) {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// WatchdogInterval is how often Watchdog must be called (half of WatchdogSec, as sd_watchdog_enabled(3)
// advises); 0 when the watchdog is off.
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog / 2 }

// Ready tells systemd that start-up finished (the unit becomes active) with a status line.
func (n *Notifier) Ready(status string) error { return n.send("READY=1", "STATUS="+status) }

// Status sets the free-text status shown by `systemctl status`.
func (n *Notifier) Status(status string) error { return n.send("STATUS=" + status) }

// Reloading tells systemd a configuration reload started; call Ready when it is done.
func (n *Notifier) Reloading() error {
	// MONOTONIC_USEC is only required by Type=notify-reload (systemd 253+); exmaintd's unit is Type=notify.
	return n.send("RELOADING=1")
}

// Stopping tells systemd that shutdown started.
func (n *Notifier) Stopping(status string) error { return n.send("STOPPING=1", "STATUS="+status) }

// ExtendTimeout asks systemd for d more to finish the current phase (start-up or stop) — EXTEND_TIMEOUT_USEC.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	return n.send(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds()))
}

// ExtendWhile keeps extending systemd's timeout by d, every d/3, until stop is called or ctx ends: a start-up
// that recovers interrupted runs (a reverse of up to reverse_timeout) must not be killed by
// TimeoutStartSec, while a start-up that hangs with no progress loop still is. stop waits for the goroutine.
func (n *Notifier) ExtendWhile(ctx context.Context, d time.Duration) (stop func()) {
	if !n.Enabled() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d / 3)
		defer t.Stop()
		for {
			_ = n.ExtendTimeout(d) // a lost datagram is retried on the next tick
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Watchdog pets the watchdog.
func (n *Notifier) Watchdog() error { return n.send("WATCHDOG=1") }

// RunWatchdog pets the watchdog every WatchdogInterval while healthy() returns true, until ctx ends. A daemon
// whose main loop is wedged stops petting, and systemd restarts it. It returns at once if the watchdog is off.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() bool) {
	iv := n.WatchdogInterval()
	if iv <= 0 || !n.Enabled() {
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy() {
				_ = n.Watchdog() // a lost datagram is retried on the next tick
			}
		}
	}
}

func (n *Notifier) send(lines ...string) error {
	if n.socket == "" {
		return nil
	}
	name := n.socket
	switch {
	case strings.HasPrefix(name, "@"): // abstract namespace
		name = "\x00" + name[1:]
	case strings.HasPrefix(name, "/"):
	default:
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither a path nor an abstract socket", n.socket)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	msg := strings.Join(lines, "\n")
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}
