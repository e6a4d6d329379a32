package monitoring_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tscCheck type-checks a dashboard's JSON against @grafana/schema's Dashboard with tsc (both pinned in
// schema/package-lock.json, installed by scripts/deps.sh): the JSON becomes an object literal annotated
// with the type, so that string-literal unions, required fields and unknown properties are all checked.
func tscCheck(t *testing.T, dashboardJSON []byte) (string, error) {
	t.Helper()
	modules, err := filepath.Abs(filepath.Join("schema", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	tsc := filepath.Join(modules, ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tsc is not installed: %v (scripts/deps.sh runs npm ci in monitoring/schema)", err)
		}
		t.Skip("tsc is not installed: run scripts/deps.sh (npm ci in monitoring/schema)")
	}
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join("schema", "tsconfig.json"))
	if err != nil {
		t.Fatal(err)
	}
	src := "import type { Dashboard } from '@grafana/schema';\n\nexport const dashboard: Dashboard = " + string(dashboardJSON) + ";\n"
	for name, body := range map[string]string{"tsconfig.json": string(cfg), "dashboard.ts": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), tsc, "-p", dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDashboardSchema: the shipped dashboard is a Dashboard by Grafana's own published schema.
func TestDashboardSchema(t *testing.T) {
	b, err := os.ReadFile("exmaintd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tscCheck(t, b); err != nil {
		t.Errorf("tsc against @grafana/schema: %v\n%s", err, out)
	}
}

// TestDashboardSchemaCatchesMistakes: the check is not vacuous — each mistake, made in a copy of the
// shipped dashboard, fails it.
func TestDashboardSchemaCatchesMistakes(t *testing.T) {
	b, err := os.ReadFile("exmaintd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"gridPos height as a string", `"h": 8,`, `"h": "8",`, "not assignable to type 'number'"},
		{"unknown variable type", `"type": "datasource",`, `"type": "datasauce",`, `"datasauce"`},
		{"misspelled field", `"refresh":`, `"refesh":`, "refesh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("the dashboard has no %s to break", tc.old)
			}
			out, err := tscCheck(t, []byte(strings.Replace(string(b), tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("tsc accepted it or said something else (%v):\n%s", err, out)
			}
		})
	}
}
