package monitoring_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestRulesDocumentedAndTested: every alert has a runbook section, and a unit test that shows it firing and
// one that shows it not firing.
func TestRulesDocumentedAndTested(t *testing.T) {
	rules, err := os.ReadFile("exmaintd-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("exmaintd-rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) < 9 {
		t.Fatalf("only %d alerts", len(alerts))
	}
	blocks := strings.Split(string(tests), "alertname: ")
	for _, a := range alerts {
		name := a[1]
		if !strings.Contains(string(runbook), "## "+name+"\n") {
			t.Errorf("%s has no section in docs/runbook.md", name)
		}
		if !strings.Contains(string(rules), "runbook.md#"+strings.ToLower(name)+`"`) {
			t.Errorf("%s's runbook_url does not point at its section", name)
		}
		firing, quiet := false, false
		for _, b := range blocks[1:] {
			if !strings.HasPrefix(b, name+"\n") {
				continue
			}
			rest := strings.TrimPrefix(b, name+"\n")
			if strings.Contains(strings.SplitN(rest, "\n", 2)[0], "exp_alerts: []") {
				quiet = true
			} else {
				firing = true
			}
		}
		if !firing || !quiet {
			t.Errorf("%s: tested firing %v, not firing %v; want both", name, firing, quiet)
		}
	}
}
