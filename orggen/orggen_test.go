package orggen_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/orggen"
)

// TestConfigIsValid: the generated configuration passes exmaintd's own validation, with and without
// endpoints, and holds every server, DAG and window of the shape.
func TestConfigIsValid(t *testing.T) {
	shape := orggen.Shape{DAGs: 5, DAGSize: 4, Standalone: 3, WindowGroups: 2}
	eps := map[string]orggen.Endpoint{}
	for i := range shape.Servers() {
		eps[orggen.ServerName(i)] = orggen.Endpoint{Host: "127.0.0.1", Fqdn: fmt.Sprintf("ex%04d.exlab.local", i+1), Port: 40000 + i, ExchangeURL: fmt.Sprintf("http://127.0.0.1:%d/PowerShell", 40000+i)}
	}
	for name, o := range map[string]orggen.ConfigOptions{
		"production shape": {StateDir: "/var/lib/exmaintd", Listen: "127.0.0.1:0", User: `EXLAB\svc`, PasswordFile: "/etc/exmaintd/pw"},
		"exchsim":          {StateDir: "/tmp/s", Listen: "127.0.0.1:0", User: `EXLAB\svc`, PasswordFile: "/tmp/pw", Endpoints: eps, Parallel: 4, Steps: `poll_interval = "250ms"`, APITokenFile: "/tmp/t"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := config.Parse("generated.toml", shape.Config(o))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Servers) != 23 || len(c.DAGs) != 5 || len(c.Windows) != 4 {
				t.Errorf("%d servers, %d DAGs, %d windows; want 23, 5, 4", len(c.Servers), len(c.DAGs), len(c.Windows))
			}
		})
	}
}

// TestWindowsKeepGroupsWhole: a DAG never spans two windows, and every server is in exactly one.
func TestWindowsKeepGroupsWhole(t *testing.T) {
	shape := orggen.Shape{DAGs: 7, DAGSize: 4, Standalone: 5, WindowGroups: 3}
	windowOf := map[string]int{}
	for i, w := range shape.Windows() {
		for _, s := range w {
			if _, dup := windowOf[s]; dup {
				t.Errorf("%s in two windows", s)
			}
			windowOf[s] = i
		}
	}
	if len(windowOf) != shape.Servers() {
		t.Errorf("%d servers in windows, want %d", len(windowOf), shape.Servers())
	}
	for _, g := range shape.Groups() {
		for _, s := range g {
			if windowOf[s] != windowOf[g[0]] {
				t.Errorf("group %v split across windows", g)
			}
		}
	}
}

// TestScenario: exchsim accepts the scenario; each DAG member holds one active database and a copy of its
// peers', each standalone server one database.
func TestScenario(t *testing.T) {
	shape := orggen.Shape{DAGs: 2, DAGSize: 3, Standalone: 2}
	sc, err := shape.Scenario()
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Servers) != 8 || len(sc.DAGs) != 2 || len(sc.Databases) != 8 {
		t.Fatalf("%d servers, %d DAGs, %d databases", len(sc.Servers), len(sc.DAGs), len(sc.Databases))
	}
	if got := sc.Databases[1].Copies; !slices.Equal(got, []string{"EX0002", "EX0003", "EX0001"}) {
		t.Errorf("DB0002 copies %v, want active on EX0002 then its peers", got)
	}
	if got := sc.Databases[7].Copies; !slices.Equal(got, []string{"EX0008"}) {
		t.Errorf("a standalone server's database has copies %v", got)
	}
}
