package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

func need(tb testing.TB, bin, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not installed (Debian package %s); CI must have it", bin, pkg)
		}
		tb.Skipf("%s is not installed (Debian package %s: apt-get install %s)", bin, pkg, pkg)
	}
	return p
}

// boundAddr waits until the program logging to logPath reports the address it bound — every program here
// listens on 127.0.0.1:0 and picks its own port, so no port is picked by the test and released for another
// process to take first. pattern's first group is the host:port.
func boundAddr(tb testing.TB, logPath, pattern string) string {
	tb.Helper()
	re := regexp.MustCompile(pattern)
	var addr string
	waitFor(tb, "the listen address in "+filepath.Base(logPath), 30*time.Second, func() (bool, error) {
		b, err := os.ReadFile(logPath)
		if m := re.FindSubmatch(b); m != nil {
			addr = string(m[1])
			return true, nil
		}
		return false, err
	})
	return addr
}

// listeningOn is how Prometheus and Alertmanager (exporter-toolkit) log the address they bound.
const listeningOn = `msg="Listening on" address=(127\.0\.0\.1:\d+)`

// start runs a program until the test ends (SIGTERM, then the context's kill); it returns the process and
// the file its output goes to.
func start(tb testing.TB, name string, args ...string) (*exec.Cmd, string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 60 * time.Second
	logf, err := os.Create(filepath.Join(tb.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = logf.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(logf.Name())
			tb.Logf("--- %s log (tail) ---\n%s", name, tail(string(b), 40))
		}
	})
	return cmd, logf.Name()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fastRules derives test timings from the shipped rule file by one documented transformation: every
// `for:` duration is divided by 60 (minutes become seconds, hours minutes), so the alerts keep their
// expressions and their relative order of patience. Nothing else changes.
func fastRules(tb testing.TB, dst string) {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("..", "monitoring", "exmaintd-rules.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s+for: )(\d+)([mh])$`)
	out := re.ReplaceAllStringFunc(string(src), func(m string) string {
		p := re.FindStringSubmatch(m)
		unit := map[string]string{"m": "s", "h": "m"}[p[3]]
		return p[1] + p[2] + unit
	})
	if out == string(src) {
		tb.Fatal("no for: durations found in the rule file")
	}
	if err := os.WriteFile(dst, []byte(out), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(b, out)
}

func waitFor(tb testing.TB, what string, limit time.Duration, f func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ok, err := f()
		if ok {
			return
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	tb.Fatalf("%s: not within %v (last error: %v)", what, limit, last)
}

type amSilence struct {
	ID       string `json:"id"`
	Matchers []struct {
		Name, Value string
		IsRegex     bool  `json:"isRegex"`
		IsEqual     *bool `json:"isEqual"`
	} `json:"matchers"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

func silenceFor(ctx context.Context, am, server string) (amSilence, bool, error) {
	var ss []amSilence
	if err := getJSON(ctx, am+"/api/v2/silences", &ss); err != nil {
		return amSilence{}, false, err
	}
	for _, s := range ss {
		for _, m := range s.Matchers {
			if m.Name == "instance" && strings.Contains(m.Value, server) {
				return s, true, nil
			}
		}
	}
	return amSilence{}, false, nil
}

// TestStuckDrainReachesAlertmanager: exchsim with a queue that never drains, the exmaintd binary, Debian's
// Prometheus evaluating the shipped rules (timings divided by 60) and Alertmanager. The stuck-drain alert
// arrives in Alertmanager, not silenced; EX01's silence exists while it is in maintenance and is expired
// after; promtool finds nothing wrong with the live /metrics.
type panelQuery struct{ panel, expr string }

// dashboardQueries reads every target expression of a dashboard, with Grafana's interval variables
// replaced by what Grafana would send for a 1 h view.
func dashboardQueries(tb testing.TB, path string) []panelQuery {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h")
	var out []panelQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, panelQuery{p.Title, vars.Replace(tg.Expr)})
		}
	}
	if len(out) < 10 {
		tb.Fatalf("%s: only %d queries", path, len(out))
	}
	return out
}

func TestStuckDrainReachesAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	promBin := need(t, "prometheus", "prometheus")
	amBin := need(t, "prometheus-alertmanager", "prometheus-alertmanager")
	promtool := need(t, "promtool", "prometheus")
	ctx := t.Context()
	dir := t.TempDir()

	// Alertmanager.
	amCfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(amCfg, []byte("route:\n  receiver: 'null'\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: 'null'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, amLog := start(t, amBin, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"), "--web.listen-address=127.0.0.1:0", "--cluster.listen-address=")
	amAddr := boundAddr(t, amLog, listeningOn)
	am := "http://" + amAddr

	// exchsim, EX01's queue stuck before anything starts.
	sim := simtest.Start(t, simtest.Options{})
	if err := sim.InjectFault(exchsim.Fault{Kind: "stuck_queue", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}

	// Prometheus evaluates the shipped rules; it learns exmaintd's address (a scrape target) once exmaintd
	// has bound one, through a configuration reload.
	rules := filepath.Join(dir, "rules.yml")
	fastRules(t, rules)
	promCfg := filepath.Join(dir, "prometheus.yml")
	writePromCfg := func(target string) {
		t.Helper()
		scrape := ""
		if target != "" {
			scrape = fmt.Sprintf("scrape_configs:\n  - job_name: exmaintd\n    static_configs: [{targets: [%q]}]\n", target)
		}
		if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
`, rules, amAddr)+scrape), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePromCfg("")
	promCmd, promLog := start(t, promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "prom"), "--web.listen-address=127.0.0.1:0")
	prom := "http://" + boundAddr(t, promLog, listeningOn)

	// exmaintd, the real binary, with a configuration for exchsim.
	bin := filepath.Join(dir, "exmaintd")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/exmaintd").CombinedOutput(); err != nil {
		t.Fatalf("building exmaintd: %v\n%s", err, out)
	}
	token := filepath.Join(dir, "api-token")
	if err := os.WriteFile(token, []byte("e2e-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path, err := demo.WriteConfig(dir, sim, demo.Options{DrainStall: "2s", Extra: fmt.Sprintf(`
[alertmanager]
url = %q
silence_matchers = ['instance=~"(?i)({{server}}|{{fqdn}})(:[0-9]+)?"']
margin = "1h"

[prometheus]
url = %q
alert_matchers = ['severity="page"', 'server="{{server}}"']
`, am, prom)})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = \"127.0.0.1:0\"\napi_token = { file = %q }\nlog_format = \"text\"", token), 1))
	cfg = []byte(strings.Replace(string(cfg), `drain_timeout = "20s"`, `drain_timeout = "40s"`, 1))
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	_, exLog := start(t, bin, "run", "-config", path)
	exAddr := boundAddr(t, exLog, `msg="exmaintd running".* listen=(127\.0\.0\.1:\d+)`)
	ex := "http://" + exAddr
	writePromCfg(exAddr)
	if err := promCmd.Process.Signal(syscall.SIGHUP); err != nil { // Prometheus reloads its configuration on SIGHUP
		t.Fatal(err)
	}
	waitFor(t, "exmaintd ready", 30*time.Second, func() (bool, error) {
		var v map[string]any
		err := getJSON(ctx, ex+"/readyz", &v)
		return err == nil, err
	})
	waitFor(t, "Prometheus scraping exmaintd", 60*time.Second, func() (bool, error) {
		var r struct {
			Data struct{ Result []any } `json:"data"`
		}
		err := getJSON(ctx, prom+`/api/v1/query?query=up%7Bjob%3D%22exmaintd%22%7D%3D%3D1`, &r)
		return err == nil && len(r.Data.Result) == 1, err
	})

	// Start the window through the API, with the token.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ex+"/api/v1/windows/demo/start", nil)
	req.Header.Set("Authorization", "Bearer e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %s", resp.Status)
	}

	// While EX01 is in maintenance its silence exists and is active.
	waitFor(t, "EX01's silence", 30*time.Second, func() (bool, error) {
		s, ok, err := silenceFor(ctx, am, "EX01")
		return ok && s.Status.State == "active", err
	})
	// An exporter's alert for EX01, labelled by FQDN as node/windows exporters are, is silenced by the
	// example's matcher (the {{server}}-only matcher of earlier examples missed it and it paged).
	postAlert := func() error {
		body := `[{"labels":{"alertname":"WindowsServiceDown","instance":"ex01.exlab.local:9182","severity":"critical"}}]`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, am+"/api/v2/alerts", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("posting an alert: %s", resp.Status)
		}
		return nil
	}
	waitFor(t, "EX01's FQDN-labelled alert silenced", 30*time.Second, func() (bool, error) {
		if err := postAlert(); err != nil {
			return false, err
		}
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State      string   `json:"state"`
				SilencedBy []string `json:"silencedBy"`
			} `json:"status"`
		}
		if err := getJSON(ctx, am+"/api/v2/alerts", &alerts); err != nil {
			return false, err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "WindowsServiceDown" {
				return a.Status.State == "suppressed" && len(a.Status.SilencedBy) > 0, nil
			}
		}
		return false, nil
	})
	// The stuck-drain alert arrives in Alertmanager, and exmaintd's own silence does not suppress it.
	waitFor(t, "ExmaintdDrainStuck in Alertmanager", 60*time.Second, func() (bool, error) {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		if err := getJSON(ctx, am+"/api/v2/alerts", &alerts); err != nil {
			return false, err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "ExmaintdDrainStuck" && a.Labels["server"] == "EX01" {
				if a.Status.State != "active" {
					return false, fmt.Errorf("alert state %s", a.Status.State)
				}
				return true, nil
			}
		}
		return false, nil
	})
	// Every dashboard query runs against this Prometheus without error while EX01 drains, and the steps
	// table shows the drain (exmaintd_server_step_info exists only while a step runs).
	for _, q := range dashboardQueries(t, "../monitoring/exmaintd-dashboard.json") {
		var r struct {
			Status   string `json:"status"`
			Error    string `json:"error"`
			Warnings []string
			Data     struct {
				Result []struct{ Metric map[string]string }
			} `json:"data"`
		}
		if err := getJSON(ctx, prom+"/api/v1/query?query="+url.QueryEscape(q.expr), &r); err != nil || r.Status != "success" {
			t.Errorf("panel %q: %s: %v %s", q.panel, q.expr, err, r.Error)
			continue
		}
		if len(r.Warnings) > 0 {
			t.Errorf("panel %q: %s: warnings %v", q.panel, q.expr, r.Warnings)
		}
		if q.panel == "Steps in progress" { // EX03 (standalone) runs beside the DAG: it may show too
			draining := false
			for _, res := range r.Data.Result {
				draining = draining || res.Metric["server"] == "EX01" && res.Metric["step"] == "drain-queues"
			}
			if !draining {
				t.Errorf("panel %q while EX01 drains: %+v, want EX01 drain-queues among them", q.panel, r.Data.Result)
			}
		}
	}
	// promtool's metric lint on the live /metrics.
	metrics, err := http.Get(ex + "/metrics") //nolint:noctx // a one-off GET in a test
	if err != nil {
		t.Fatal(err)
	}
	check := exec.CommandContext(ctx, promtool, "check", "metrics")
	check.Stdin = metrics.Body
	out, err := check.CombinedOutput()
	_ = metrics.Body.Close()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// After the drain times out the server is reversed; its silence is expired.
	waitFor(t, "EX01's silence expired", 90*time.Second, func() (bool, error) {
		s, ok, err := silenceFor(ctx, am, "EX01")
		return ok && s.Status.State == "expired", err
	})
	if err := sim.ClearFaults(); err != nil {
		t.Fatal(err)
	}
}
