package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/orggen"
)

// windowSteps are the [steps] timings for exchsim (as `exmaintd demo`): polls every 250 ms, no watch.
const windowSteps = `poll_interval = "250ms"
drain_timeout = "1m"
drain_stall = "20s"
move_timeout = "2m"
move_settle = "5s"
move_retry_interval = "2s"
reboot_timeout = "2m"
undo_backoff = "250ms"
default_step_estimate = "5s"
watch_for = "0s"
backup_max_age = "0s"
`

// measureWindow runs one window over every group of the organisation with daemon.parallel = parallel
// against exchsim, then the group that was slowest in it on its own. Two ratios say whether exmaintd adds
// serialisation of its own: the window's wall time against the schedule bound (the groups' own times from
// the journal, packed onto `parallel` slots in order — with more slots than groups, the slowest group's
// time), and the slowest group's time in the window against its time alone (contention between groups).
// It also reports the daemon's CPU time per server-step (/proc/<pid>/stat; exchsim runs in this process).
func measureWindow(ctx context.Context, bin, dir string, dags, standalone, parallel int, stdout io.Writer) error {
	shape := orggen.Shape{DAGs: dags, DAGSize: 4, Standalone: standalone, WindowGroups: dags + standalone}
	scenario, err := shape.Scenario()
	if err != nil {
		return err
	}
	sim, err := exchsim.Start(ctx, exchsim.Options{Scenario: scenario, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer func() { _ = sim.Close() }()
	pw, token := filepath.Join(dir, "winrm-password"), filepath.Join(dir, "api-token")
	if err := os.WriteFile(pw, []byte(sim.Password()+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(token, []byte("exscale\n"), 0o600); err != nil {
		return err
	}
	eps := map[string]orggen.Endpoint{}
	for _, e := range sim.Servers() {
		eps[e.Name] = orggen.Endpoint{Host: e.Host, Fqdn: e.Fqdn, Port: e.Port, ExchangeURL: e.ExchangeURL()}
	}
	state := filepath.Join(dir, "window-state")
	text := shape.Config(orggen.ConfigOptions{StateDir: state, Listen: "127.0.0.1:0", APITokenFile: token, User: sim.Domain() + `\` + sim.User(),
		PasswordFile: pw, Endpoints: eps, Parallel: parallel, Steps: windowSteps, Duration: "2h"})
	// One window per group besides the one over all of them ("w001"), to run the slowest group alone.
	for i, g := range shape.Groups() {
		text += fmt.Sprintf("[[window]]\nname = \"group%03d\"\nschedule = \"monthly 2nd tuesday +4d 22:00\"\nduration = \"2h\"\nmin_remaining = \"0s\"\nservers = [%s]\npatches = [\"exchange-su\"]\n\n",
			i+1, `"`+strings.Join(g, `", "`)+`"`)
	}
	cfg := filepath.Join(dir, "window.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "run", "-config", cfg)
	logs, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	addr, err := listenAddress(logs)
	if err != nil {
		return err
	}
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	base := "http://" + addr
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	sim0, err := cpuTime(os.Getpid())
	if err != nil {
		return err
	}
	jpath := filepath.Join(state, "journal.jsonl")
	lat0, err := winrmTotals(ctx, base)
	if err != nil {
		return err
	}
	all, err := runWindow(ctx, base, "w001")
	if err != nil {
		return withJournalErrors(err, jpath)
	}
	lat1, err := winrmTotals(ctx, base)
	if err != nil {
		return err
	}
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return err
	}
	sim1, err := cpuTime(os.Getpid())
	if err != nil {
		return err
	}
	recs, _, err := journal.ReadFile(jpath)
	if err != nil {
		return err
	}
	groups := shape.Groups()
	spans, steps := groupSpans(recs, all.id, groups)
	slowest := 0
	for i := range spans {
		if spans[i] > spans[slowest] {
			slowest = i
		}
	}
	alone, err := runWindow(ctx, base, fmt.Sprintf("group%03d", slowest+1))
	if err != nil {
		return withJournalErrors(err, jpath)
	}
	lat2, err := winrmTotals(ctx, base)
	if err != nil {
		return err
	}
	ideal := makespan(spans, parallel)
	if recs, _, err = journal.ReadFile(jpath); err != nil {
		return err
	}
	inWindow, byItself := stepTimes(recs, all.id, groups[slowest]), stepTimes(recs, alone.id, groups[slowest])
	fmt.Fprintf(stdout, "organisation: %d DAGs of 4 + %d standalone = %d servers, %d groups; daemon.parallel = %d\n\n", dags, standalone, shape.Servers(), len(groups), parallel)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window wall\tschedule bound\twall / bound\tslowest group in it\tthat group alone\tin it / alone\tserver-steps\tdaemon CPU\tCPU per server-step\texchsim CPU\tcores busy\t")
	fmt.Fprintf(tw, "%.1f s\t%.1f s\t%.3f×\t%.1f s (%s)\t%.1f s\t%.3f×\t%d\t%.2f s\t%.1f ms\t%.2f s\t%.2f of %d\t\n", all.took.Seconds(), ideal.Seconds(), all.took.Seconds()/ideal.Seconds(),
		spans[slowest].Seconds(), groups[slowest][0], alone.took.Seconds(), spans[slowest].Seconds()/alone.took.Seconds(),
		steps, cpu1.Seconds()-cpu0.Seconds(), ms((cpu1-cpu0)/time.Duration(max(steps, 1))), sim1.Seconds()-sim0.Seconds(),
		(cpu1+sim1-cpu0-sim0).Seconds()/all.took.Seconds(), runtime.NumCPU())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nWinRM requests other than Receive (its long poll waits by design): %d in the window at %.1f ms mean, %d alone at %.1f ms mean\n",
		lat1.n-lat0.n, ms(lat1.sum-lat0.sum)/float64(max(lat1.n-lat0.n, 1)), lat2.n-lat1.n, ms(lat2.sum-lat1.sum)/float64(max(lat2.n-lat1.n, 1)))
	// Where the slowest group's extra time went, step by step (summed over its servers).
	names := make([]string, 0, len(inWindow))
	for n := range inWindow {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(inWindow[b]-byItself[b], inWindow[a]-byItself[a]) })
	fmt.Fprintf(stdout, "\n%s's group, step by step (summed over its servers):\n", groups[slowest][0])
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tin the window\talone\tdifference\t")
	for _, n := range names[:min(8, len(names))] {
		fmt.Fprintf(tw, "%s\t%.2f s\t%.2f s\t%+.2f s\t\n", n, inWindow[n].Seconds(), byItself[n].Seconds(), (inWindow[n] - byItself[n]).Seconds())
	}
	return tw.Flush()
}

// stepTimes sums, per step, the time from step_started to step_done of the servers in one run.
func stepTimes(recs []journal.Record, run string, servers []string) map[string]time.Duration {
	started := map[string]time.Time{}
	out := map[string]time.Duration{}
	var total, inSteps time.Duration
	for _, r := range recs {
		if r.Run != run || !slices.Contains(servers, r.Server) {
			continue
		}
		switch r.Type {
		case journal.RunStarted, journal.StepStarted:
			started[r.Server+"/"+r.Step] = r.Time
		case journal.StepDone:
			if t, ok := started[r.Server+"/"+r.Step]; ok {
				out[r.Step] += r.Time.Sub(t)
				inSteps += r.Time.Sub(t)
			}
		case journal.RunFinished:
			if t, ok := started[r.Server+"/"]; ok {
				total += r.Time.Sub(t)
			}
		}
	}
	out["(between steps: gates, patch, reboot, back)"] = total - inSteps
	return out
}

// withJournalErrors adds the first errors the journal recorded to a failed run's error.
func withJournalErrors(err error, path string) error {
	recs, _, rerr := journal.ReadFile(path)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	var lines []string
	for _, r := range recs {
		if r.Error != "" && len(lines) < 10 {
			lines = append(lines, fmt.Sprintf("  %s %s %s: %s", r.Server, r.Type, r.Step, r.Error))
		}
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(lines, "\n"))
}

// makespan is how long the groups take with their measured times on `slots` parallel slots, each group
// starting in order on the first free slot: the wall time of a window that adds no wait of its own.
func makespan(spans []time.Duration, slots int) time.Duration {
	free := make([]time.Duration, max(slots, 1))
	for _, d := range spans {
		i := 0
		for j := range free {
			if free[j] < free[i] {
				i = j
			}
		}
		free[i] += d
	}
	var end time.Duration
	for _, f := range free {
		end = max(end, f)
	}
	return end
}

// requestTotals are the daemon's WinRM request count and summed latency so far.
type requestTotals struct {
	n   int64
	sum time.Duration
}

// winrmTotals reads exmaintd_winrm_request_duration_seconds from /metrics, every verb but Receive.
func winrmTotals(ctx context.Context, base string) (requestTotals, error) {
	body, err := scrape(ctx, base, "text/plain;version=0.0.4", false)
	if err != nil {
		return requestTotals{}, err
	}
	var t requestTotals
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, "exmaintd_winrm_request_duration_seconds_") || strings.Contains(line, `verb="receive"`) {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return t, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		switch {
		case strings.HasPrefix(name, "exmaintd_winrm_request_duration_seconds_count"):
			t.n += int64(v)
		case strings.HasPrefix(name, "exmaintd_winrm_request_duration_seconds_sum"):
			t.sum += time.Duration(v * float64(time.Second))
		}
	}
	return t, nil
}

type windowRun struct {
	id   string
	took time.Duration // from the start request to the run's end
}

// runWindow starts a window through the API and waits for its run to succeed.
func runWindow(ctx context.Context, base, window string) (windowRun, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/windows/"+window+"/start", nil)
	if err != nil {
		return windowRun{}, err
	}
	req.Header.Set("Authorization", "Bearer exscale")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return windowRun{}, err
	}
	var started struct {
		RunID string `json:"run_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&started)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return windowRun{}, fmt.Errorf("starting %s: %s", window, resp.Status)
	}
	if err != nil {
		return windowRun{}, fmt.Errorf("starting %s: %w", window, err)
	}
	for {
		var st struct {
			Runs []struct {
				ID       string     `json:"id"`
				Finished *time.Time `json:"finished"`
				Result   string     `json:"result"`
			} `json:"runs"`
		}
		if err := getJSON(ctx, base+"/api/v1/status", &st); err != nil {
			return windowRun{}, err
		}
		for _, r := range st.Runs {
			if r.ID == started.RunID && r.Finished != nil {
				if r.Result != "success" {
					return windowRun{}, fmt.Errorf("window %s ended %s (see the journal)", window, r.Result)
				}
				return windowRun{id: r.ID, took: time.Since(start)}, nil
			}
		}
		select {
		case <-ctx.Done():
			return windowRun{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
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
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// groupSpans reads each group's own time in a run from the journal (its first server's run_started to its
// last server's run_finished) and counts the run's server-steps (steps done, forward or undone).
func groupSpans(recs []journal.Record, run string, groups [][]string) ([]time.Duration, int) {
	first, last := map[string]time.Time{}, map[string]time.Time{}
	steps := 0
	for _, r := range recs {
		if r.Run != run {
			continue
		}
		switch r.Type {
		case journal.RunStarted:
			first[r.Server] = r.Time
		case journal.RunFinished:
			last[r.Server] = r.Time
		case journal.StepDone, journal.UndoDone:
			steps++
		}
	}
	spans := make([]time.Duration, len(groups))
	for i, g := range groups {
		var from, to time.Time
		for _, s := range g {
			if t := first[s]; !t.IsZero() && (from.IsZero() || t.Before(from)) {
				from = t
			}
			if t := last[s]; t.After(to) {
				to = t
			}
		}
		spans[i] = to.Sub(from)
	}
	return spans, steps
}

// cpuTime reads a process's user plus system CPU time from /proc/<pid>/stat (clock ticks of 1/100 s).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
