package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/exmaintd/exmaintd/orggen"
)

// promAccept is what Prometheus 2.x/3.x sends when it scrapes (OpenMetrics preferred, gzip accepted).
const promAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

type idleResult struct {
	windows           int
	rssIdle, rssAfter int64 // bytes
	series            int
	size, gzipSize    int
	p50, p99          time.Duration
	check, next       time.Duration
}

// idleShape is the organisation of the idle measurement: DAGs of 4, windows of 2 DAGs and a half
// (10 servers; 50 windows for 500 servers, as in the measurement).
func idleShape(servers int) orggen.Shape {
	return orggen.Shape{DAGs: servers / 4, DAGSize: 4, WindowGroups: 3}
}

// measureIdle starts exmaintd on a generated configuration of n servers, lets it settle, scrapes /metrics
// the way Prometheus does and reads the process's resident memory from /proc.
func measureIdle(ctx context.Context, bin, dir string, n, scrapes int) (idleResult, error) {
	var r idleResult
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return r, err
	}
	pw := filepath.Join(dir, "winrm-password")
	if err := os.WriteFile(pw, []byte("not-used\n"), 0o600); err != nil {
		return r, err
	}
	shape := idleShape(n)
	r.windows = len(shape.Windows())
	cfg := filepath.Join(dir, "config.toml")
	text := shape.Config(orggen.ConfigOptions{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0", User: `EXLAB\svc-exmaintd`, PasswordFile: pw})
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return r, err
	}
	var err error
	if r.check, err = timeCommand(ctx, bin, "check", "-config", cfg); err != nil {
		return r, err
	}
	if r.next, err = timeCommand(ctx, bin, "next", "-config", cfg); err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, bin, "run", "-config", cfg)
	logs, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	addr, err := listenAddress(logs)
	if err != nil {
		return r, err
	}
	go func() { _, _ = io.Copy(io.Discard, logs) }() // the daemon must never block on a full pipe
	base := "http://" + addr
	// Settle: the first scrape builds the series' descriptors, the scheduler computes every window once.
	if _, err := scrape(ctx, base, promAccept, true); err != nil {
		return r, err
	}
	if r.rssIdle, err = rss(cmd.Process.Pid); err != nil {
		return r, err
	}
	body, err := scrape(ctx, base, "text/plain;version=0.0.4", false)
	if err != nil {
		return r, err
	}
	r.size = len(body)
	r.series = countSeries(body)
	var took []time.Duration
	for range scrapes {
		start := time.Now()
		gz, err := scrape(ctx, base, promAccept, true)
		if err != nil {
			return r, err
		}
		took = append(took, time.Since(start))
		r.gzipSize = len(gz)
	}
	slices.Sort(took)
	r.p50 = took[len(took)/2]
	r.p99 = took[min(len(took)-1, len(took)*99/100)]
	r.rssAfter, err = rss(cmd.Process.Pid)
	return r, err
}

// timeCommand runs one exmaintd command and returns the median of three runs' wall time.
func timeCommand(ctx context.Context, bin string, args ...string) (time.Duration, error) {
	var took []time.Duration
	for range 3 {
		start := time.Now()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("exmaintd %s: %w\n%s", args[0], err, out)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[1], nil
}

var listenRE = regexp.MustCompile(`"listen":"([^"]+)"|listen=(\S+)`)

// listenAddress reads the daemon's log until it says where it listens.
func listenAddress(logs io.Reader) (string, error) {
	sc := bufio.NewScanner(logs)
	var seen []string
	for sc.Scan() {
		seen = append(seen[max(0, len(seen)-9):], sc.Text())
		if !strings.Contains(sc.Text(), "exmaintd running") {
			continue
		}
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[1] + m[2], nil
		}
	}
	return "", fmt.Errorf("exmaintd exited before it listened; its log ends:\n%s", strings.Join(seen, "\n"))
}

// scrape GETs /metrics with the given Accept header; gzip asks for (and keeps) the compressed body.
func scrape(ctx context.Context, base, accept string, gzip bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, body)
	}
	return body, nil
}

// countSeries counts the samples of a text-format exposition: every line that is not a comment.
func countSeries(body []byte) int {
	n := 0
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

// rss reads a process's resident set size from /proc/<pid>/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
