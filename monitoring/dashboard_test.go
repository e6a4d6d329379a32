package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exmaintd/exmaintd/metrics"
)

type dashboard struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct{ Name, Type, Query string } `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Datasource  struct{ Type, UID string }
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct{ Type, UID string }
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboardLint checks the rules of grafana's dashboard-linter (not installable here) and that every
// expression parses (promtool, as recording rules) and names only metrics exmaintd exports.
func TestDashboardLint(t *testing.T) {
	b, err := os.ReadFile("exmaintd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no datasource template variable of type prometheus")
	}
	exported := exportedNames(t)
	name := regexp.MustCompile(`\bexmaintd_[a-z_]+`)
	window := regexp.MustCompile(`\b(rate|irate|increase)\([^\[]*\[([^\]]*)\]`)
	var exprs []string
	for _, p := range d.Panels {
		if p.Description == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a target does not use the datasource variable", p.Title)
			}
			for _, m := range window.FindAllStringSubmatch(tg.Expr, -1) {
				if m[2] != "$__rate_interval" {
					t.Errorf("panel %q: %s() over [%s], want [$__rate_interval]", p.Title, m[1], m[2])
				}
			}
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
				if !exported[base] {
					t.Errorf("panel %q uses %s, which exmaintd does not export", p.Title, n)
				}
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(d.Panels) < 10 {
		t.Errorf("only %d panels", len(d.Panels))
	}
	checkPromQL(t, exprs)
}

func exportedNames(tb testing.TB) map[string]bool {
	tb.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test", metrics.Known{Windows: []string{"w"}, Servers: []string{"EX01"}})
	reg.MustRegister(m.ServerCollector())
	m.StepStarted("EX01", "drain-queues", time.Now()) // exmaintd_server_step_info exists only while a step runs
	m.Leader(true, "exm1")                            // exmaintd_leader_info: set by the daemon at start
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		out[mf.GetName()] = true
	}
	return out
}

// checkPromQL parses every expression with promtool by writing them as recording rules.
func checkPromQL(t *testing.T, exprs []string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (Debian package prometheus)")
		}
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		e = strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h").Replace(e)
		q, _ := json.Marshal(e)
		fmt.Fprintf(&b, "      - record: dashboard:expr%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("dashboard PromQL does not parse: %v\n%s", err, out)
	}
}
