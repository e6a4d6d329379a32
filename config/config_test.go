package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/secret"
)

// TestExample: config.example.toml is complete and valid, and means what its comments say.
func TestExample(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 3 || len(c.Windows) != 1 || c.Steps.DrainStall.Duration != 5*time.Minute {
		t.Fatalf("unexpected example: %+v", c)
	}
	if p := c.ProcedureName(c.Servers[0]); p != "dag" {
		t.Errorf("EX01 procedure = %s, want dag (DAG member default)", p)
	}
	seed, ok := c.Procedure("seed")
	if !ok || len(seed.Steps) != 5 || seed.Steps[2] != "dismount-databases" {
		t.Errorf("seed procedure = %+v", seed)
	}
	tg, ok := c.Target("EX03")
	if !ok || tg.DAG.Name != "" || tg.FQDN != "ex03.exlab.local" || len(tg.Steps.Peers) != 2 || tg.ProcedureName != "seed" ||
		tg.Procedure.Name != "seed" || len(tg.Procedure.Steps) != 5 || tg.Settings.DrainStall != 5*time.Minute || len(tg.Settings.Patch) != 0 {
		t.Errorf("EX03 target = %+v", tg)
	}
	if !strings.Contains(tg.WinRS, "10.0.20.13:5986") || !strings.HasPrefix(tg.Exchange, "via EX01") {
		t.Errorf("EX03's channels: %q, %q", tg.WinRS, tg.Exchange)
	}
	if g := c.Groups(c.Windows[0]); len(g) != 2 || strings.Join(g[0], ",") != "EX01,EX02" {
		t.Errorf("groups = %v", g)
	}
	// The window's rollout: the same groups, resolved once, each server with the window's patches.
	r, ok := c.Rollout(c.Windows[0].Name)
	if !ok || len(r) != 2 || r[0].Name != "DAG01" || len(r[0].Servers) != 2 || r[0].Servers[1].Name != "EX02" || r[1].Name != "EX03" || r[1].Servers[0].Target != tg {
		t.Fatalf("rollout = %+v", r)
	}
	s := r[0].Servers[0].Settings
	if len(s.Patch) != 2 || s.Patch[0].Name != "windows-updates" || !s.Patch[0].Detached || r[0].Servers[0].Target.Settings.Patch != nil {
		t.Errorf("EX01's settings in the window: patch = %+v (its target's own: %+v)", s.Patch, r[0].Servers[0].Target.Settings.Patch)
	}
	if _, ok := c.Rollout("nope"); ok {
		t.Error("a rollout for a window that does not exist")
	}
}

// TestProblems: every problem in a bad file is reported at once, each naming its key and line.
func TestProblems(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "bad.toml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.Parse("bad.toml", string(src))
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse = %v, want Problems", err)
	}
	want := []string{
		`bad.toml:2: daemon.state_dir: "relative/dir" must be an absolute directory`,
		`bad.toml:3: daemon.log_level: "loud"`,
		`bad.toml:4: daemon.recovery: "pray"`,
		`bad.toml:7: winrm.auth: "negotiate"`,
		`bad.toml:9: winrm.password: set one of file, env, credential, not 2`,
		`bad.toml:10: winrm.porrt: unknown key`,
		`bad.toml:13: steps.drain_stall: 1h0m0s must be shorter than drain_timeout`,
		`bad.toml:17: dag "DAG01".servers: unknown server "EX09"`,
		`bad.toml:22: server "EX01".procedure: procedure seed refused on EX01 at step dismount-databases`,
		`bad.toml:25: server "EX01".name: server EX01 is defined twice`,
		`bad.toml:30: procedure "seed".steps: procedure seed step 3: unknown step "mailboxdelivery-draining"`,
		`bad.toml:34: window "w".schedule:`,
		`bad.toml:36: window "w".servers: unknown server "EX07"`,
		`bad.toml:37: window "w".patches: unknown patch "nope"`,
		`bad.toml:43: patch "wu-as-user".run_as: "EXLAB\\patcher" is a named account: set run_as_password`,
		`bad.toml:48: patch "inline-as-gmsa".run_as: "EXLAB\\gmsa-patch$": only a detached command runs as a scheduled task`,
		`bad.toml:53: patch "restart-maybe".restart_before: "sometimes": want if-pending (the default) or never`,
		`bad.toml:55: patch "cu-as-system".run_as: Exchange setup (/Mode:Upgrade) cannot run as SYSTEM, the default: it needs an account in the Organization Management role group`,
		`bad.toml:65: patch "gmsa-with-password".run_as_password: set, but EXLAB\gmsa-patch$ is a group managed service account`,
	}
	text := err.Error()
	last := -1
	for _, w := range want {
		i := strings.Index(text, w)
		switch {
		case i < 0:
			t.Errorf("missing problem %q in:\n%s", w, text)
		case i < last:
			t.Errorf("problem %q is reported before the one above it: want them in line order", w)
		}
		last = max(last, i)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := config.Parse("x.toml", "[daemon]\nlisten = \n")
	var ps config.Problems
	if !errors.As(err, &ps) || !slices.ContainsFunc(ps, func(p config.Problem) bool { return p.Line == 2 && p.Key == "daemon.listen" }) {
		t.Errorf("syntax error = %v, want daemon.listen at line 2", err)
	}
	// Every value of the wrong type or form is reported, each with its key and line, not only the first.
	_, err = config.Parse("x.toml", "[daemon]\nlisten = \"x\nparallel = \"two\"\n[steps]\ndrain_timeout = \"30 minutes\"\nmove_timeout = 5\n")
	for _, want := range []string{"x.toml:2: daemon.listen:", "x.toml:3: daemon.parallel: incompatible types", "x.toml:5: steps.drain_timeout: \"30 minutes\" is not a duration", "x.toml:6: steps.move_timeout:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems %v; want %q among them", err, want)
		}
	}
	_, err = config.Parse("x.toml", "[winrm]\nport = \"5986\"\n")
	if err == nil || !strings.Contains(err.Error(), "winrm.port") {
		t.Errorf("type error = %v, want it to name winrm.port", err)
	}
}

// TestPatchGraceWithinTheReverse: the wait for a running installer is part of a reverse, so patch_grace
// must be shorter than reverse_timeout; the error names both settings and the line.
func TestPatchGraceWithinTheReverse(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(base), `patch_grace = "30m"`, `patch_grace = "45m"`, 1)
	_, err = config.Parse("grace.toml", src)
	if err == nil || !strings.Contains(err.Error(), "steps.patch_grace: 45m0s must be shorter than daemon.reverse_timeout 40m0s") {
		t.Fatalf("patch_grace 45m with reverse_timeout 40m: %v", err)
	}
	line := strings.Count(src[:strings.Index(src, `patch_grace = "45m"`)], "\n") + 1
	if !strings.Contains(err.Error(), fmt.Sprintf("grace.toml:%d:", line)) {
		t.Errorf("error %q does not name line %d", err, line)
	}
}

// TestInSessionCommandLength: a command run in the session goes to a child powershell.exe as base64 of
// UTF-16 on its command line, which Windows bounds at 32,767 characters: check refuses a longer one at its
// line, and a detached command (a scheduled task's script file) is not bounded so.
func TestInSessionCommandLength(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	long := "'" + strings.Repeat("x", 13000) + "'"
	for _, tc := range []struct {
		extra string
		ok    bool
	}{
		{"\n[[patch]]\nname = \"long\"\ncommand = \"" + long + "\"\n", false},
		{"\n[[patch]]\nname = \"long\"\ncommand = \"" + strings.Repeat("x", 11000) + "\"\n", true},
		{"\n[[patch]]\nname = \"long\"\ncommand = \"" + long + "\"\ndetached = true\n", true},
	} {
		src := string(base) + tc.extra
		_, err := config.Parse("long.toml", src)
		line := strings.Count(src[:strings.Index(src, "name = \"long\"")], "\n") + 1
		want := fmt.Sprintf("long.toml:%d: patch \"long\".command: run: the command of", line+1)
		if got := err != nil && strings.Contains(err.Error(), want) && strings.Contains(err.Error(), "32767"); got == tc.ok {
			t.Errorf("a command of %d characters: %v; want refused %v at %q", len(tc.extra), err, !tc.ok, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	src, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(src))
	bad, _ := os.ReadFile(filepath.Join("testdata", "bad.toml"))
	f.Add(string(bad))
	f.Add("[[server]]\nname = 'EX01'\n[[window]]\nschedule = 'monthly 2nd tue +4d 22:00'\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := config.Parse("fuzz.toml", s)
		if err == nil && (len(c.Servers) == 0 || c.Daemon.Parallel < 1) {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
		var ps config.Problems
		if err != nil && errors.As(err, &ps) && len(ps) == 0 {
			t.Fatal("empty Problems")
		}
	})
}

// TestKerberos: auth = "kerberos" needs a realm and exactly one of password and keytab; the endpoint
// carries krb5.conf, the keytab exactly as stored and the listener's HTTP/<fqdn> principal.
func TestKerberos(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	krb5 := filepath.Join(dir, "krb5.conf")
	kt := filepath.Join(dir, "svc.keytab")
	if err := os.WriteFile(krb5, []byte("[libdefaults]\n default_realm = EXLAB.LOCAL\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kt, []byte{5, 2, 0, '\n'}, 0o600); err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(example), `auth = "basic"`, `auth = "kerberos"`, 1)
	base = regexp.MustCompile(`(?m)^realm = "EXLAB.LOCAL" .*$`).ReplaceAllString(base, "") // [winrm]'s; EX02 keeps its own
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"no realm", "", "", `winrm.realm: auth = "kerberos" needs the realm`},
		{"lower-case realm", "[winrm]", "[winrm]\nrealm = \"exlab.local\"\n", `winrm.realm: "exlab.local": want the Kerberos realm in upper case`},
		{"password and keytab", "[winrm]", "[winrm]\nrealm = \"EXLAB.LOCAL\"\nkeytab = { file = \"/etc/exmaintd/svc.keytab\" }\n", "either password or keytab (not both)"},
		{"keytab from env", "[winrm]", "[winrm]\nrealm = \"EXLAB.LOCAL\"\nkeytab = { env = \"KT\" }\n", "winrm.keytab: a keytab is binary"},
		{"bad spn", "[winrm]", "[winrm]\nrealm = \"EXLAB.LOCAL\"\nspn = \"host/ex01\"\n", `winrm.spn: "host/ex01": want HTTP/<host>`},
		{"relative krb5_conf", "[winrm]", "[winrm]\nrealm = \"EXLAB.LOCAL\"\nkrb5_conf = \"krb5.conf\"\n", `winrm.krb5_conf: "krb5.conf" must be an absolute path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("k.toml", strings.Replace(base, tc.from, tc.to, 1))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	src := strings.Replace(base, "[winrm]", fmt.Sprintf("[winrm]\nrealm = \"EXLAB.LOCAL\"\nkrb5_conf = %q\nkeytab = { file = %q }\n", krb5, kt), 1)
	src = strings.Replace(src, "password = { credential = \"winrm-password\" }", "", 1)
	src = strings.Replace(src, `ca_file = "/etc/exmaintd/exchange-ca.pem"`, "", 1)
	src = strings.Replace(src, "[server.winrm]\n", "[server.winrm]\npassword = { file = \"/etc/exmaintd/winrm-password\" }\n", 1) // EX03 keeps NTLM
	c, err := config.Parse("k.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	ep, _, err := c.Endpoint("EX01", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if ep.Auth != "kerberos" || ep.Kerberos == nil || ep.Kerberos.Realm != "EXLAB.LOCAL" || ep.Kerberos.SPN != "HTTP/ex01.exlab.local" ||
		string(ep.Kerberos.Keytab) != "\x05\x02\x00\n" || !strings.Contains(ep.Kerberos.Krb5Conf, "default_realm") || ep.Password.Reveal() != "" {
		t.Errorf("endpoint = %+v, kerberos %+v", ep, ep.Kerberos)
	}
}

// TestInsecureSettingsWarn: the example has no insecure setting; allow_unencrypted and insecure_skip_verify
// each give a warning that names the server, and a server's override of the default counts.
func TestInsecureSettingsWarn(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("example.toml", string(base))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("the example warns: %v", w)
	}
	src := strings.Replace(string(base), "allow_unencrypted = false", "allow_unencrypted = true", 1)
	src = strings.Replace(src, "[server.winrm]\n", "[server.winrm]\ninsecure_skip_verify = true\n", 1)
	if c, err = config.Parse("insecure.toml", src); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"server EX01: allow_unencrypted = true: commands", "server EX03: allow_unencrypted = true: commands",
		"server EX02: allow_unencrypted = true has no effect with auth = \"kerberos\"", "server EX03: insecure_skip_verify"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "server EX01: insecure_skip_verify") {
		t.Errorf("EX01 does not skip verification:\n%s", got)
	}
}

// TestCAFileOnlyForHTTPS: a shared ca_file that is missing stops only the servers reached over HTTPS.
func TestCAFileOnlyForHTTPS(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(example)
	for _, r := range [][2]string{
		{"port = 5986\nhttps = true\nauth = \"basic\"", "port = 5985\nhttps = false\nauth = \"ntlm\""},
		{`password = { credential = "winrm-password" }`, `password = { env = "PW" }`},
		{`ca_file = "/etc/exmaintd/exchange-ca.pem"`, fmt.Sprintf("ca_file = %q", filepath.Join(t.TempDir(), "missing-ca.pem"))},
		{"allow_unencrypted = false", "allow_unencrypted = true"},
	} {
		if !strings.Contains(src, r[0]) {
			t.Fatalf("the example no longer has %q", r[0])
		}
		src = strings.Replace(src, r[0], r[1], 1)
	}
	c, err := config.Parse("ca.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "pw" }
	if _, _, err := c.Endpoint("EX01", getenv); err != nil {
		t.Errorf("EX01 over plain HTTP needed the CA file: %v", err)
	}
	if _, _, err := c.Endpoint("EX03", getenv); err == nil || !strings.Contains(err.Error(), "server EX03: ca_file") {
		t.Errorf("EX03 over HTTPS: %v, want the missing ca_file named", err)
	}
}

// TestAPIListener: a listener beyond loopback without TLS warns; tls_cert without tls_key, an unreadable
// pair and an allowed_hosts entry with a port are errors naming their key.
func TestAPIListener(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const listen = `listen = "127.0.0.1:9105"`
	if !strings.Contains(string(base), listen) {
		t.Fatalf("the example no longer has %q", listen)
	}
	for _, tc := range []struct {
		name, replace, want string
		warn                bool
	}{
		{"all interfaces", `listen = "0.0.0.0:9105"`, "daemon.listen 0.0.0.0:9105 is not a loopback address and the API has no TLS", true},
		{"any host", `listen = ":9105"`, "daemon.listen :9105 is not a loopback address", true},
		{"localhost", `listen = "localhost:9105"`, "", true},
		{"cert without key", listen + "\ntls_cert = \"/nonexistent.pem\"", "daemon.tls_cert: tls_cert and tls_key go together", false},
		{"unreadable pair", listen + "\ntls_cert = \"/nonexistent.pem\"\ntls_key = \"/nonexistent.key\"", "daemon.tls_cert: cannot load", false},
		{"host with port", listen + "\nallowed_hosts = [\"exm01:9105\"]", "daemon.allowed_hosts[0]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("api.toml", strings.Replace(string(base), listen, tc.replace, 1))
			if tc.warn {
				if err != nil {
					t.Fatal(err)
				}
				got := strings.Join(c.Warnings(), "\n")
				if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
					t.Errorf("warnings %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAlertmanagerBounds: the silence margin must cover a reverse after the window's end and be bounded;
// on_error is continue or refuse.
func TestAlertmanagerBounds(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, want string }{
		{`margin = "1h"`, `margin = "30m"`, "alertmanager.margin: 30m0s: want at least daemon.reverse_timeout 40m0s"},
		{`margin = "1h"`, `margin = "48h"`, "at most 12h"},
		{`on_error = "continue"`, `on_error = "ignore"`, `alertmanager.on_error: "ignore"`},
	} {
		if !strings.Contains(string(base), tc.from) {
			t.Fatalf("the example no longer has %q", tc.from)
		}
		_, err := config.Parse("am.toml", strings.Replace(string(base), tc.from, tc.to, 1))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.to, err, tc.want)
		}
	}
}

// TestServiceSecrets: a service URL may come from a secret (it can carry a token); bearer and basic
// authentication and a CA file are read into the endpoint; invalid combinations name their key.
func TestServiceSecrets(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const prom = `url = "http://127.0.0.1:9090"`
	src := strings.Replace(string(base), prom, `url = { env = "PROM_URL" }`+"\n"+`basic_auth = { user = "exm", password = { env = "PROM_PW" } }`, 1)
	c, err := config.Parse("svc.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PROM_URL": "https://prom.example/p?key=SECRET", "PROM_PW": "pw"}
	ep, err := config.ServiceEndpoint("prometheus", c.Prometheus.Service, 0, func(k string) string { return env[k] })
	if err != nil || ep.URL != env["PROM_URL"] || ep.BasicUser != "exm" || ep.BasicPassword.Reveal() != "pw" {
		t.Fatalf("endpoint %+v, err %v", ep, err)
	}
	for url, ok := range map[string]bool{"http://prom.example:9090": true, "ftp://prom.example": false, "https://": false, "prom.example:9090": false} {
		env["PROM_URL"] = url
		_, err := config.ServiceEndpoint("prometheus", c.Prometheus.Service, 0, func(k string) string { return env[k] })
		if (err == nil) != ok || !ok && !strings.Contains(err.Error(), "prometheus.url: the secret does not hold an http(s) URL") {
			t.Errorf("URL secret %q: err %v, want accepted %v", url, err, ok)
		}
	}
	delete(env, "PROM_URL")
	if _, err := config.ServiceEndpoint("prometheus", c.Prometheus.Service, 0, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "prometheus.url") {
		t.Errorf("a missing URL secret: %v; want an error naming prometheus.url", err)
	}
	for _, tc := range []struct{ to, want string }{
		{`url = { env = "X", file = "/y" }`, "prometheus.url: set one of file, env, credential"},
		{prom + "\nbasic_auth = { user = \"u\" }", "prometheus.basic_auth.password: required"},
		{prom + "\nbearer_token = { env = \"T\" }\nbasic_auth = { user = \"u\", password = { env = \"P\" } }", "prometheus.basic_auth: set bearer_token or basic_auth, not both"},
		{prom + "\nca_file = \"ca.pem\"", "prometheus.ca_file"},
		{`url = "ftp://prom.example/secret-path"`, "prometheus.url: ftp://prom.example… is not an http(s) URL"},
	} {
		_, err := config.Parse("svc.toml", strings.Replace(string(base), prom, tc.to, 1))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-path") {
			t.Errorf("%s: err = %v, want %q (and no URL path)", tc.to, err, tc.want)
		}
	}
}

// TestBasicOverHTTPAdvice: the refusal of Basic over plain HTTP points at HTTPS or Kerberos — never at NTLM,
// which is no more encrypted over HTTP.
func TestBasicOverHTTPAdvice(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const from = "port = 5986\nhttps = true\nauth = \"basic\""
	if !strings.Contains(string(base), from) {
		t.Fatalf("the example no longer has %q", from)
	}
	_, err = config.Parse("basic.toml", strings.Replace(string(base), from, "port = 5985\nhttps = false\nauth = \"basic\"", 1))
	if err == nil || !strings.Contains(err.Error(), `auth = "kerberos"`) || strings.Contains(err.Error(), `auth = "ntlm"`) {
		t.Errorf("err = %v; want advice for https or kerberos, not ntlm", err)
	}
}

// TestMissingRequiredKey: a required key that is absent is reported at the line of the table it belongs
// to, named by the table's name where it has one.
func TestMissingRequiredKey(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(base), "\n")
	header := slices.Index(lines, "[[window]]") + 1
	var kept []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "schedule = ") {
			kept = append(kept, l)
		}
	}
	_, err = config.Parse("m.toml", strings.Join(kept, "\n"))
	want := fmt.Sprintf(`m.toml:%d: window "monthly-patch".schedule: required`, header)
	if header == 0 || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want %q", err, want)
	}
}

// TestScheduleCaveatsWarn: a monthly rule with a caveat (a 5th weekday some months lack, an offset past the
// month's end) is a warning naming the window; the example's rule has none.
func TestScheduleCaveatsWarn(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	const rule = `schedule = "monthly 2nd tuesday +4d 22:00"`
	if !strings.Contains(string(base), rule) {
		t.Fatalf("the example no longer has %q", rule)
	}
	for _, tc := range []struct{ schedule, want string }{
		{"monthly 5th saturday 22:00", `window "monthly-patch": schedule "monthly 5th saturday 22:00": a 5th Saturday exists in only 4 or 5 months`},
		{"monthly last friday +3d 22:00", "the offset +3d can move the day past the month's end"},
	} {
		c, err := config.Parse("caveat.toml", strings.Replace(string(base), rule, `schedule = "`+tc.schedule+`"`, 1))
		if err != nil {
			t.Fatalf("%s: %v", tc.schedule, err)
		}
		if got := strings.Join(c.Warnings(), "\n"); !strings.Contains(got, tc.want) {
			t.Errorf("%s: warnings %q, want %q", tc.schedule, got, tc.want)
		}
	}
}

// TestDecodeErrorsWithTheRest: a line TOML cannot decode is reported, and the rest of the file is still
// validated — wherever the bad line is, the first and the last included.
func TestDecodeErrorsWithTheRest(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	withBogus := strings.Replace(string(base), "name = \"EX02\"\n", "name = \"EX02\"\nbogus = 1\n", 1)
	if withBogus == string(base) {
		t.Fatal("the example no longer names EX02")
	}
	for _, tc := range []struct{ name, src, want string }{
		{"in the middle", strings.Replace(withBogus, `duration = "6h"`, `duration = 6h`, 1), "expected a top-level item to end"},
		{"first line", "x = 6h\n" + withBogus, "c.toml:1:"},
		{"last line, no newline", strings.TrimRight(withBogus, "\n") + "\n[extra]\ny = 6h", "expected a top-level item to end"},
	} {
		_, err := config.Parse("c.toml", tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "server.bogus: unknown key") {
			t.Errorf("%s: %v; want the decode error (%q) and the rest's unknown key", tc.name, err, tc.want)
		}
	}
}

// TestUnknownKeyInEachTable: the same unknown key in two [[server]] tables is reported twice, each at its
// own line (toml names both "server.bogus", without the index).
func TestUnknownKeyInEachTable(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(base), "name = \"EX02\"\n", "name = \"EX02\"\nbogus = 1\n", 1)
	src = strings.Replace(src, "name = \"EX03\"\n", "name = \"EX03\"\nbogus = 2\n", 1)
	var want []string
	for i, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(l, "bogus = ") {
			want = append(want, fmt.Sprintf("c.toml:%d: server.bogus: unknown key", i+1))
		}
	}
	_, err = config.Parse("c.toml", src)
	if len(want) != 2 || err == nil {
		t.Fatalf("want two bogus lines (%v) and an error (%v)", want, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v; want %q", err, w)
		}
	}
}

// TestRestartDelayBounds: steps.restart_delay is 0s (restart at once) to 10m; outside, check names it.
func TestRestartDelayBounds(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value string
		ok    bool
	}{{"0s", true}, {"10m", true}, {"10m1s", false}, {"-1s", false}} {
		src := strings.Replace(string(base), `restart_delay = "5s"`, `restart_delay = "`+tc.value+`"`, 1)
		_, err := config.Parse("delay.toml", src)
		if got := err == nil; got != tc.ok || err != nil && !strings.Contains(err.Error(), "steps.restart_delay") {
			t.Errorf("restart_delay = %s: %v; want ok %v", tc.value, err, tc.ok)
		}
	}
}

// TestUnknownTable: a misspelt top-level table is one problem at its header, with the table it likely
// meant — not one "unknown key" per key; a name far from every table gets no suggestion.
func TestUnknownTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "[steps]", "[step]", 1) + "\n[[windw]]\nname = \"x\"\n\n[frobnicate]\nx = 1\n"
	_, err = config.Parse("t.toml", src)
	if err == nil {
		t.Fatal("a misspelt table accepted")
	}
	got := err.Error()
	for _, want := range []string{"step: unknown table [step]: its keys are ignored (", "— did you mean [steps]?",
		"windw: unknown table [windw]: its keys are ignored (1) — did you mean [window]?", "frobnicate: unknown table [frobnicate]: its keys are ignored (1)\n"} {
		if !strings.Contains(got+"\n", want) {
			t.Errorf("problems:\n%s\nwant one containing %q", got, want)
		}
	}
	if strings.Contains(got, "step.poll_interval") || strings.Count(got, "unknown table [step]") != 1 {
		t.Errorf("problems:\n%s\nwant [step] reported once, not key by key", got)
	}
}

// TestNoKnockOnErrors: a value the decoder cannot read is reported once; validation of the line that was
// therefore left out adds nothing, while a problem elsewhere is still reported.
func TestNoKnockOnErrors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want, not string }{
		{"duration", `duration = "6h"`, `duration = "1 hour"`, `"1 hour" is not a duration`, "want 15m..168h"},
		{"unterminated", `schedule = "monthly 2nd tuesday +4d 22:00"`, `schedule = "monthly 2nd tuesday +4d 22:00`, "expected a top-level item", "schedule: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(b), tc.from, tc.to, 1)
			src = strings.Replace(src, "queue_max = 500", "queue_max = -1", 1) // an independent problem
			_, err := config.Parse("k.toml", src)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) || !strings.Contains(err.Error(), "queue_max must be ≥ 0") {
				t.Errorf("err = %v\nwant %q and the queue_max problem, not %q", err, tc.want, tc.not)
			}
		})
	}
	// A problem of the whole file (no line) stays, whatever line a decode error blanked.
	_, err = config.Parse("k.toml", "[daemon]\nparallel = \"two\"\n")
	if err == nil || !strings.Contains(err.Error(), "no [[server]]") || !strings.Contains(err.Error(), "parallel") {
		t.Errorf("err = %v; want the decode error and the missing servers", err)
	}
}

// TestZoneContradictionSaysWhence: a schedule prefix that contradicts the window's zone names where that
// zone came from — the window's time_zone, or [daemon] time_zone when the window has none.
func TestZoneContradictionSaysWhence(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want string
	}{
		{"the window's own", exampleWith(t, `schedule = "monthly 2nd tuesday +4d 22:00"`, `schedule = "CRON_TZ=UTC 0 22 * * 6"`),
			`contradicts the window's zone Europe/Berlin: remove the prefix or make the zones agree (the window's time_zone "Europe/Berlin")`},
		{"the daemon's", exampleWith(t, `schedule = "monthly 2nd tuesday +4d 22:00"`, `schedule = "CRON_TZ=UTC 0 22 * * 6"`,
			"time_zone = \"Europe/Berlin\"         # a start time", "# a start time"),
			`(the window has no time_zone: its zone is daemon.time_zone "Europe/Berlin")`},
	} {
		_, err := config.Parse("zone.toml", tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

// TestPatchAccounts: each patch's account resolves for its task — SYSTEM (written or not) as the task's
// default, a named account with the source of its password (read when the task is registered, never at
// load) — and the example's cumulative update runs as its named account.
func TestPatchAccounts(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(base), `patches = ["windows-updates", "exchange-su"]`, `patches = ["exchange-cu", "exchange-su"]`, 1)
	src = strings.Replace(src, `# run_as = 'EXLAB\gmsa-patch$'`, `run_as = "system"`, 1)
	c, err := config.Parse("accounts.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := c.Rollout(c.Windows[0].Name)
	if !ok {
		t.Fatal("no rollout")
	}
	p := r[0].Servers[0].Settings.Patch
	if len(p) != 2 || p[0].Name != "exchange-cu" || p[0].RunAs != `EXLAB\svc-exupdate` || p[0].RunAsPassword != (secret.Source{Credential: "exupdate-password"}) {
		t.Errorf("the CU's account: %+v", p[0])
	}
	if p[1].RunAs != "" || p[1].RunAsPassword != (secret.Source{}) {
		t.Errorf(`run_as = "system": %+v; want the task's default, SYSTEM`, p[1])
	}
}
