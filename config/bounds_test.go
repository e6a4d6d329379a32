package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/config"
)

// setKey sets key = value in table of a TOML text whose lines read `key = value  # comment`.
func setKey(tb testing.TB, src, table, key, value string) string {
	tb.Helper()
	start := strings.Index(src, "\n["+table+"]")
	if start < 0 {
		tb.Fatalf("no [%s]", table)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = \S+`)
	loc := re.FindStringIndex(src[start:])
	if loc == nil {
		tb.Fatalf("no %s in [%s]", key, table)
	}
	return src[:start+loc[0]] + key + " = " + value + src[start+loc[1]:]
}

// TestBounds: every numeric limit accepts its boundary and refuses one step past it, naming the key. The
// rows start from config.example.toml, so the rest of the file stays valid.
func TestBounds(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	type set struct{ table, key, value string }
	for _, tc := range []struct {
		name string
		sets []set
		want string // "" when valid
	}{
		{"parallel 1", []set{{"daemon", "parallel", "1"}}, ""},
		{"parallel 0", []set{{"daemon", "parallel", "0"}}, "daemon.parallel: 0: want 1..64"},
		{"parallel 64", []set{{"daemon", "parallel", "64"}}, ""},
		{"parallel 65", []set{{"daemon", "parallel", "65"}}, "daemon.parallel: 65"},
		{"reverse_timeout 1m", []set{{"daemon", "reverse_timeout", `"1m"`}, {"steps", "patch_grace", `"30s"`}, {"alertmanager", "margin", `"1h"`}}, ""},
		{"reverse_timeout 59s", []set{{"daemon", "reverse_timeout", `"59s"`}, {"steps", "patch_grace", `"30s"`}}, "daemon.reverse_timeout: 59s is too short"},
		{"port 1", []set{{"winrm", "port", "1"}}, ""},
		{"port 65535", []set{{"winrm", "port", "65535"}}, ""},
		{"port 65536", []set{{"winrm", "port", "65536"}}, "winrm.port: 65536: want 1..65535"},
		{"port -1", []set{{"winrm", "port", "-1"}}, "winrm.port: -1"},
		{"attempts 10", []set{{"winrm", "attempts", "10"}}, ""},
		{"attempts 11", []set{{"winrm", "attempts", "11"}}, "winrm.attempts: 11: want 1..10"},
		{"attempts -1", []set{{"winrm", "attempts", "-1"}}, "winrm.attempts: -1"},
		{"operation_timeout just below read_timeout", []set{{"winrm", "operation_timeout", `"59s"`}}, ""},
		{"operation_timeout = read_timeout", []set{{"winrm", "operation_timeout", `"1m"`}}, "winrm.operation_timeout: 1m0s must be shorter than read_timeout"},
		{"poll_interval 0s", []set{{"steps", "poll_interval", `"0s"`}}, "steps.poll_interval: must be positive"},
		{"drain_stall just below drain_timeout", []set{{"steps", "drain_stall", `"29m59s"`}}, ""},
		{"drain_stall = drain_timeout", []set{{"steps", "drain_stall", `"30m"`}}, "steps.drain_stall: 30m0s must be shorter than drain_timeout"},
		{"poll_interval = drain_stall", []set{{"steps", "poll_interval", `"5m"`}}, "steps.poll_interval: 5m0s must be shorter than drain_stall"},
		{"queue_max 0", []set{{"steps", "queue_max", "0"}}, ""},
		{"queue_max -1", []set{{"steps", "queue_max", "-1"}}, "queue_max must be ≥ 0"},
		{"copy_queue_max 1", []set{{"steps", "copy_queue_max", "1"}}, ""},
		{"copy_queue_max 0", []set{{"steps", "copy_queue_max", "0"}}, "copy_queue_max and replay_queue_max > 0"},
		{"replay_queue_max 1", []set{{"steps", "replay_queue_max", "1"}}, ""},
		{"replay_queue_max 0", []set{{"steps", "replay_queue_max", "0"}}, "copy_queue_max and replay_queue_max > 0"},
		{"move_attempts 1", []set{{"steps", "move_attempts", "1"}}, ""},
		{"move_attempts 0", []set{{"steps", "move_attempts", "0"}}, "steps.move_attempts: 0: want 1..10"},
		{"move_attempts 10", []set{{"steps", "move_attempts", "10"}}, ""},
		{"move_attempts 11", []set{{"steps", "move_attempts", "11"}}, "steps.move_attempts: 11"},
		{"move_settle just below move_timeout", []set{{"steps", "move_settle", `"14m59s"`}}, ""},
		{"move_settle = move_timeout", []set{{"steps", "move_settle", `"15m"`}}, "steps.move_settle: 15m0s must be shorter than move_timeout"},
		{"undo_attempts 1", []set{{"steps", "undo_attempts", "1"}}, ""},
		{"undo_attempts 0", []set{{"steps", "undo_attempts", "0"}}, "steps.undo_attempts: 0: want 1..20"},
		{"undo_attempts 20", []set{{"steps", "undo_attempts", "20"}}, ""},
		{"undo_attempts 21", []set{{"steps", "undo_attempts", "21"}}, "steps.undo_attempts: 21"},
		{"redundancy_min_copies 15", []set{{"steps", "redundancy_min_copies", "15"}}, ""},
		{"redundancy_min_copies 16", []set{{"steps", "redundancy_min_copies", "16"}}, "steps.redundancy_min_copies: 16"},
		{"redundancy_min_copies -1", []set{{"steps", "redundancy_min_copies", "-1"}}, "steps.redundancy_min_copies: -1"},
		{"back_polls 100", []set{{"steps", "back_polls", "100"}}, ""},
		{"back_polls 101", []set{{"steps", "back_polls", "101"}}, "steps.back_polls: 101"},
		{"back_polls -1", []set{{"steps", "back_polls", "-1"}}, "steps.back_polls: -1"},
		{"patch_grace just below reverse_timeout", []set{{"steps", "patch_grace", `"39m59s"`}}, ""},
		{"time_zone unknown", []set{{"daemon", "time_zone", `"Mars/Olympus_Mons"`}}, `daemon.time_zone: "Mars/Olympus_Mons" is not a time zone`},
		{"mode command", []set{{"winrm", "mode", `"command"`}}, ""},
		{"mode batch", []set{{"winrm", "mode", `"batch"`}}, `winrm.mode: "batch": want session or command`},
		{"drain_policy continue", []set{{"steps", "drain_policy", `"continue"`}}, ""},
		{"drain_policy maybe", []set{{"steps", "drain_policy", `"maybe"`}}, `steps.drain_policy: "maybe"`},
		{"certificate without files", []set{{"winrm", "auth", `"certificate"`}}, "winrm.client_cert_file: auth = \"certificate\" needs client_cert_file and client_key_file"},
		{"certificate without a key", []set{{"winrm", "auth", "\"certificate\"\nclient_cert_file = \"/etc/exmaintd/c.pem\""}}, "needs client_cert_file and client_key_file"},
		{"certificate without a certificate", []set{{"winrm", "auth", "\"certificate\"\nclient_key_file = \"/etc/exmaintd/c.key\""}}, "needs client_cert_file and client_key_file"},
		{"certificate with both", []set{{"winrm", "auth", "\"certificate\"\nclient_cert_file = \"/etc/exmaintd/c.pem\"\nclient_key_file = \"/etc/exmaintd/c.key\""}}, ""},
		{"exchange_url ftp", []set{{"server.winrm", "exchange_url", `"ftp://ex03.exlab.local/PowerShell"`}}, `exchange_url: "ftp://ex03.exlab.local/PowerShell": want http(s)://host[:port]/PowerShell`},
		{"exchange_url with a user", []set{{"server.winrm", "exchange_url", `"https://admin@ex03.exlab.local/PowerShell"`}}, "want http(s)://host[:port]/PowerShell without user"},
		{"exchange_url with a query", []set{{"server.winrm", "exchange_url", `"https://ex03.exlab.local/PowerShell?x=1"`}}, "want http(s)://host[:port]/PowerShell without user"},
		{"exchange_url without host", []set{{"server.winrm", "exchange_url", `"https://:443/PowerShell"`}}, `exchange_url: "https://:443/PowerShell": want http(s)://host[:port]/PowerShell`},
		{"exchange_url http", []set{{"server.winrm", "exchange_url", `"http://ex03.exlab.local/PowerShell"`}}, ""},
		{"window 15m", []set{{"[window]", "duration", `"15m"`}, {"[window]", "min_remaining", `"10m"`}}, ""},
		{"window 14m59s", []set{{"[window]", "duration", `"14m59s"`}, {"[window]", "min_remaining", `"10m"`}}, `.duration: 14m59s`},
		{"window 7 days", []set{{"[window]", "duration", `"168h"`}}, ""},
		{"window 7 days and a second", []set{{"[window]", "duration", `"168h0m1s"`}}, `.duration: 168h0m1s`},
		{"min_remaining just below duration", []set{{"[window]", "min_remaining", `"5h59m59s"`}}, ""},
		{"min_remaining = duration", []set{{"[window]", "min_remaining", `"6h"`}}, `.min_remaining: 6h0m0s`},
		{"margin = reverse_timeout", []set{{"alertmanager", "margin", `"40m"`}}, ""},
		{"margin 12h", []set{{"alertmanager", "margin", `"12h"`}}, ""},
		{"margin 12h and a second", []set{{"alertmanager", "margin", `"12h0m1s"`}}, "at most 12h"},
		{"notify lead 0s", []set{{"[notify]", "lead", `"0s"`}}, `.lead`},
		{"notify lead 1s", []set{{"[notify]", "lead", `"1s"`}}, ""},
		{"alertmanager url ftp", []set{{"alertmanager", "url", `"ftp://127.0.0.1:9093"`}}, "alertmanager.url"},
		{"alertmanager url without host", []set{{"alertmanager", "url", `"http://:9093"`}}, "alertmanager.url"},
		{"patch_grace = reverse_timeout", []set{{"steps", "patch_grace", `"40m"`}}, "steps.patch_grace: 40m0s must be shorter than daemon.reverse_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := string(base)
			for _, s := range tc.sets {
				src = setKey(t, src, s.table, s.key, s.value)
			}
			_, err := config.Parse("bounds.toml", src)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAllowedHosts: an empty name or one with a port, scheme or space is refused; a name or a suffix passes.
func TestAllowedHosts(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for list, ok := range map[string]bool{
		`["exmaintd.corp.example", ".corp.example"]`: true,
		`[""]`:            false,
		`["host:9105"]`:   false,
		`["http://host"]`: false,
		`["two words"]`:   false,
		`["[::1]"]`:       false,
	} {
		src := strings.Replace(string(base), "# allowed_hosts = []", "allowed_hosts = "+list, 1)
		if src == string(base) {
			t.Fatal("the example no longer has the allowed_hosts comment to replace")
		}
		_, err := config.Parse("hosts.toml", src)
		if got := err == nil; got != ok || !ok && !strings.Contains(err.Error(), "daemon.allowed_hosts[0]") {
			t.Errorf("allowed_hosts = %s: accepted %v, want %v (%v)", list, got, ok, err)
		}
	}
}

// TestRunAsCharacters: a gMSA name takes letters, digits and a few marks — the ends of each range
// included — and nothing the PowerShell quoting could trip over.
func TestRunAsCharacters(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for runAs, ok := range map[string]bool{
		`azAZ09.-\azAZ09._-$`: true,
		`EXLAB\gmsa-patch$`:   true,
		"EX`LAB\\gmsa$":       false, // just below 'a'
		`EX{LAB\gmsa$`:        false, // just above 'z'
		`EX@LAB\gmsa$`:        false, // just below 'A'
		`EX[LAB\gmsa$`:        false, // just above 'Z'
		`EX/LAB\gmsa$`:        false, // just below '0'
		`EX:LAB\gmsa$`:        false, // just above '9'
		`EXLAB\gm'sa$`:        false,
		`EXLAB\gmsa`:          false, // not a gMSA (no $)
		`\gmsa$`:              false,
		`EXLAB\$`:             false,
	} {
		src := strings.Replace(string(base), "# run_as = 'EXLAB\\gmsa-patch$'", "run_as = '"+runAs+"'", 1)
		if src == string(base) {
			t.Fatal("the example no longer has the run_as comment to replace")
		}
		_, err := config.Parse("runas.toml", src)
		if got := err == nil; got != ok {
			t.Errorf("run_as %q: accepted %v, want %v (%v)", runAs, got, ok, err)
		}
	}
}
