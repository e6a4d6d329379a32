package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// TestRunNotifiesSystemd starts `exmaintd run` as systemd would (NOTIFY_SOCKET set), waits for READY=1,
// stops it as SIGTERM does (the context), and checks STOPPING=1 and a clean return.
func TestRunNotifiesSystemd(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	dir := t.TempDir()
	path, err := demo.WriteConfig(dir, sim, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	env := map[string]string{"NOTIFY_SOCKET": sock}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"run", "-config", path}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
	}()
	read := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v\n%s", want, err, stderr.String())
			}
			if strings.Contains(string(buf[:n]), want) {
				return
			}
		}
	}
	read("READY=1")
	cancel()
	read("STOPPING=1")
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
