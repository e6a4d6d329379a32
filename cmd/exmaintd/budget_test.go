package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/exmaintd/exmaintd/orggen"
)

// The series budget of docs/observability.md: an idle daemon exports at most this many series per
// configured server, per window, and beyond those.
const (
	budgetPerServer = 32
	budgetPerWindow = 30
	budgetFixed     = 500
)

// idleSeries starts the daemon on a generated organisation and counts the series of one scrape.
func idleSeries(t *testing.T, shape orggen.Shape) int {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "winrm-password")
	if err := os.WriteFile(pw, []byte("unused\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.toml")
	text := shape.Config(orggen.ConfigOptions{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", User: `EXLAB\svc`, PasswordFile: pw})
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, log := startDaemon(t, dir, path)
	resp, err := http.Get("http://" + listenAddr(t, log) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	n := 0
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

// TestSeriesBudget: an idle daemon stays within the budget, and each added server costs at most
// budgetPerServer series (measured with the windows held constant, so nothing else explains the growth).
func TestSeriesBudget(t *testing.T) {
	small := orggen.Shape{DAGs: 20, DAGSize: 4, Standalone: 8, WindowGroups: 4}  // 88 servers, 7 windows
	large := orggen.Shape{DAGs: 40, DAGSize: 4, Standalone: 16, WindowGroups: 8} // 176 servers, 7 windows
	if a, b := len(small.Windows()), len(large.Windows()); a != b {
		t.Fatalf("the shapes have %d and %d windows; the test needs the same", a, b)
	}
	ns, nl := idleSeries(t, small), idleSeries(t, large)
	perServer := float64(nl-ns) / float64(large.Servers()-small.Servers())
	t.Logf("%d servers: %d series; %d servers: %d series; %.2f per added server", small.Servers(), ns, large.Servers(), nl, perServer)
	if perServer > budgetPerServer {
		t.Errorf("each server costs %.2f series, budget %d", perServer, budgetPerServer)
	}
	for _, c := range []struct {
		shape orggen.Shape
		n     int
	}{{small, ns}, {large, nl}} {
		limit := budgetPerServer*c.shape.Servers() + budgetPerWindow*len(c.shape.Windows()) + budgetFixed
		if c.n > limit {
			t.Errorf("%d servers, %d windows: %d series, budget %d", c.shape.Servers(), len(c.shape.Windows()), c.n, limit)
		}
	}
}
