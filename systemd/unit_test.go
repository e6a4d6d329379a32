package systemd

import (
	"time"

	"github.com/exmaintd/exmaintd/config"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze not found (Debian package systemd)")
		}
		t.Skip("systemd-analyze not found (Debian package systemd)")
	}
	return p
}

// TestVerify runs systemd-analyze verify on the unit. verify insists that ExecStart's binary exists, so the
// test rewrites /usr/bin/exmaintd to a stub in a temporary directory — the only change to the shipped file.
func TestVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	unit, err := os.ReadFile("exmaintd.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "exmaintd")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rewritten := strings.ReplaceAll(string(unit), "/usr/bin/exmaintd", stub)
	path := filepath.Join(dir, "exmaintd.service")
	if err := os.WriteFile(path, []byte(rewritten), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestSecurityExposure(t *testing.T) {
	sa := systemdAnalyze(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", "exmaintd.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for exmaintd.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in output:\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if level > 1.5 {
		t.Errorf("exposure level %.1f, want <= 1.5\n%s", level, out)
	}
}

// TestStopTimeoutCoversReverse keeps TimeoutStopSec above the daemon's default reverse budget
// (config daemon.reverse_timeout) plus the time to close down, so systemd never kills a reverse that is still
// bringing a server back.
func TestStopTimeoutCoversReverse(t *testing.T) {
	unit, err := os.ReadFile("exmaintd.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)min$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("TimeoutStopSec=<n>min not found")
	}
	budget := config.Default().Daemon.ReverseTimeout.Duration + 5*time.Minute
	if n, _ := strconv.Atoi(string(m[1])); time.Duration(n)*time.Minute <= budget {
		t.Errorf("TimeoutStopSec=%dmin must exceed the reverse budget plus 5 min (%v)", n, budget)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "StateDirectory=exmaintd", "LoadCredential=winrm-password:"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}
