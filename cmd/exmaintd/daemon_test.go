package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/syncbuf"
)

// TestRunNotifiesSystemd starts `exmaintd run` as systemd would (NOTIFY_SOCKET set), waits for READY=1,
// stops it as SIGTERM does (the context), and checks STOPPING=1 and a clean return.
func TestRunNotifiesSystemd(t *testing.T) {
	t.Parallel()
	dir, path := demoConfig(t)
	conn, env := notifySocket(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	stderr := &syncbuf.Buffer{}
	go func() {
		done <- run(ctx, []string{"run", "-config", path}, func(k string) string { return env[k] }, &bytes.Buffer{}, stderr)
	}()
	awaitNotify(t, conn, "EXTEND_TIMEOUT_USEC=90000000", stderr) // the journal recovery may take a reverse
	awaitNotify(t, conn, "READY=1", stderr)
	cancel()
	awaitNotify(t, conn, "STOPPING=1", stderr)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"exmaintd running"`) {
		t.Errorf("no JSON log line for the start:\n%s", stderr.String())
	}
}

// TestReloadOnSIGHUP: SIGHUP reloads the file; the new window is scheduled and its series are on /metrics
// at once (0, not absent), while an invalid file keeps the configuration and says so in the metric.
func TestReloadOnSIGHUP(t *testing.T) {
	dir, path := demoConfig(t)
	conn, stderr := startDaemon(t, dir, path)
	addr := listenAddr(t, stderr)
	metricsText := func() string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const series = `exmaintd_window_runs_total{result="succeeded",window="weekend"} 0`
	if strings.Contains(metricsText(), series) {
		t.Fatal("the new window's series exist before the reload")
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := "\n[[window]]\nname = \"weekend\"\nschedule = \"0 3 * * 6\"\nduration = \"2h\"\nservers = [\"EX03\"]\npatches = [\"exchange-su\"]\n"
	for _, tc := range []struct {
		file, status, metric string
	}{
		{string(orig) + "\n[[window]]\nname = \"weekend\"\nbogus = 1\n", "reload failed", "exmaintd_config_last_reload_successful 0"},
		{string(orig) + extra, "configuration reloaded", "exmaintd_config_last_reload_successful 1"},
	} {
		if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		awaitNotify(t, conn, "RELOADING=1", stderr)
		awaitNotify(t, conn, tc.status, stderr)
		if m := metricsText(); !strings.Contains(m, tc.metric) {
			t.Errorf("after %q: /metrics lacks %q", tc.status, tc.metric)
		}
	}
	if !strings.Contains(metricsText(), series) {
		t.Errorf("after the reload /metrics lacks %s", series)
	}
}

// notifySocket listens where `exmaintd run` sends its sd_notify messages; env sets NOTIFY_SOCKET for it.
func notifySocket(t *testing.T, dir string) (conn *net.UnixConn, env map[string]string) {
	t.Helper()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, map[string]string{"NOTIFY_SOCKET": sock}
}

// awaitNotify reads sd_notify messages until one contains want (30 s each); on failure it shows the log.
func awaitNotify(t *testing.T, conn *net.UnixConn, want string, log fmt.Stringer) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v\n%s", want, err, log.String())
		}
		if strings.Contains(string(buf[:n]), want) {
			return
		}
	}
}

// TestRunRefusesUnreadableSecrets: a password file that is gone stops `run` at once with exit 2, naming every
// server that needs it, instead of failing that server's window at night.
func TestRunRefusesUnreadableSecrets(t *testing.T) {
	t.Parallel()
	dir, path := demoConfig(t)
	if err := os.Remove(filepath.Join(dir, "winrm-password")); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"run", "-config", path}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if exitCode(err) != 2 {
		t.Fatalf("run without its password file: exit %d (%v), want 2", exitCode(err), err)
	}
	for _, s := range []string{"server EX01: winrm.password", "server EX02: winrm.password", "server EX03: winrm.password"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not name %q: %v", s, err)
		}
	}
}

// demoConfig starts exchsim and writes the demo's configuration for it into a temporary directory.
func demoConfig(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path, err := demo.WriteConfig(dir, simtest.Start(t, simtest.Options{}), demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// startDaemon runs `exmaintd run -config path` as systemd would until the test ends and returns once it has
// sent READY=1; its sd_notify messages arrive on conn and its log in the buffer.
func startDaemon(t *testing.T, dir, path string) (*net.UnixConn, *syncbuf.Buffer) {
	t.Helper()
	conn, env := notifySocket(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	stderr := &syncbuf.Buffer{}
	go func() {
		done <- run(ctx, []string{"run", "-config", path}, func(k string) string { return env[k] }, &bytes.Buffer{}, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	awaitNotify(t, conn, "READY=1", stderr)
	return conn, stderr
}

// listenAddr waits for the daemon's start-up log line and returns the address it bound (daemon.listen is
// 127.0.0.1:0 in tests: the daemon picks the port itself).
func listenAddr(t *testing.T, log *syncbuf.Buffer) string {
	t.Helper()
	re := regexp.MustCompile(`"msg":"exmaintd running".*"listen":"([^"]+)"`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(log.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listen address in the log:\n%s", log.String())
		}
	}
}
