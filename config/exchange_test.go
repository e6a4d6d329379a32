package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/config"
)

// exampleWith is config.example.toml with each from replaced by its to.
func exampleWith(t *testing.T, pairs ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("the example has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// TestExchangeVia: a DAG member's cmdlets run on the other members, starting after it (EX02's on EX03
// first, then EX01); exchange_via wins; a standalone server uses its site's other servers; every server's
// own endpoint is its last resort (the only one of a server alone in its site).
func TestExchangeVia(t *testing.T) {
	src := exampleWith(t,
		`servers = ["EX01", "EX02"]`, `servers = ["EX01", "EX02", "EX03"]`,
		`procedure = "seed"`, `procedure = "dag"`,
		"[[procedure]]", `[[server]]
name = "EX04"
host = "ex04.exlab.local"
site = "Munich"
exchange_via = ["EX01", "EX02"]

[[server]]
name = "EX05"
host = "ex05.exlab.local"
site = "Munich"

[[server]]
name = "EX06"
host = "ex06.exlab.local"
site = "Paris"

[[procedure]]`)
	c, err := config.Parse("via.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	for server, want := range map[string]string{
		"EX01": "EX02 EX03 EX01", "EX02": "EX03 EX01 EX02", "EX03": "EX01 EX02 EX03",
		"EX04": "EX01 EX02 EX04", "EX05": "EX04 EX05", "EX06": "EX06",
	} {
		var names []string
		for _, s := range c.ExchangeVia(serverNamed(t, c, server)) {
			names = append(names, s.Name)
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s via %q; want %q", server, got, want)
		}
	}
}

func serverNamed(t *testing.T, c *config.Config, name string) config.Server {
	t.Helper()
	for _, s := range c.Servers {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no server %s", name)
	return config.Server{}
}

// TestExchangeChannelRefusals: check refuses an Exchange channel that can never open, and names the
// setting; a name that is not the server's own is warned about.
func TestExchangeChannelRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pairs []string
		want  string
	}{
		{"peer unknown", []string{`# exchange_via = ["EX02"]`, `exchange_via = ["EX09"]`}, `server "EX01".exchange_via: unknown server "EX09"`},
		{"peer is itself", []string{`# exchange_via = ["EX02"]`, `exchange_via = ["EX01"]`}, `server "EX01".exchange_via: "EX01" is this server`},
		{"bad auth", []string{`# exchange_auth = "kerberos"`, `exchange_auth = "certificate"`}, `winrm.exchange_auth: "certificate": want kerberos`},
		{"no realm", []string{`realm = "EXLAB.LOCAL"  `, `# `}, `server "EX01".winrm.exchange_auth: kerberos (the default: Exchange's /PowerShell takes only Kerberos`},
		{"ntlm over http", []string{`# exchange_auth = "kerberos"`, `exchange_auth = "ntlm"`}, `server "EX01".winrm.exchange_auth: ntlm over plain HTTP (http://ex01.exlab.local/PowerShell) can never open`},
		{"basic over http", []string{`# exchange_auth = "kerberos"`, `exchange_auth = "basic"`}, `basic over plain HTTP (http://ex01.exlab.local/PowerShell) would send the password in clear`},
		{"ntlm listener over http", []string{"auth = \"ntlm\"\nhttps = true ", "auth = \"ntlm\"\nhttps = false"}, `server "EX03".winrm.auth: ntlm over plain HTTP can never open`},
		{"shared name", []string{`# procedure = "dag" `, "[server.winrm]\nexchange_url = \"https://mail.exlab.local/PowerShell\"\n#",
			`exchange_url = "https://ex03.exlab.local/PowerShell"`, `exchange_url = "https://mail.exlab.local/PowerShell"`},
			`server "EX03".winrm.exchange_url: https://mail.exlab.local/PowerShell is also server EX01's Exchange endpoint`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("x.toml", exampleWith(t, tc.pairs...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
	c, err := config.Parse("x.toml", exampleWith(t, `# procedure = "dag" `, "[server.winrm]\nexchange_url = \"http://mail.exlab.local/PowerShell\"\n#"))
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "server EX01: exchange_url http://mail.exlab.local/PowerShell names neither its fqdn nor its host") {
		t.Errorf("warnings %q; want one about EX01's exchange_url", w)
	}
	c, err = config.Parse("x.toml", exampleWith(t))
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, "exchange_url") {
		t.Errorf("the example is warned about: %q", w)
	}
}

// TestSecretProblems: every unreadable secret and file of a server is reported, each naming the server and
// the setting — not only the first, as building its endpoint would.
func TestSecretProblems(t *testing.T) {
	dir := t.TempDir()
	missing := func(name string) string { return filepath.Join(dir, name) }
	c, err := config.Parse("s.toml", exampleWith(t,
		`password = { credential = "winrm-password" }`, `password = { file = "`+missing("pw")+`" }`,
		`ca_file = "/etc/exmaintd/exchange-ca.pem"`, `ca_file = "`+missing("ca.pem")+`"
krb5_conf = "`+missing("krb5.conf")+`"`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.SecretProblems(serverNamed(t, c, "EX01"), func(string) string { return "" }), "\n")
	for _, want := range []string{"server EX01: winrm.ca_file: open " + missing("ca.pem"), "server EX01: winrm.krb5_conf: open " + missing("krb5.conf"),
		"server EX01: winrm.password: "} {
		if !strings.Contains(got, want) {
			t.Errorf("problems:\n%s\nwant one containing %q", got, want)
		}
	}
	// EX02's listener is plain HTTP and so is its Exchange endpoint: the CA file is not its problem.
	if got := strings.Join(c.SecretProblems(serverNamed(t, c, "EX02"), func(string) string { return "" }), "\n"); strings.Contains(got, "ca_file") {
		t.Errorf("EX02: %s; the CA file is not read for a server reached over plain HTTP", got)
	}
}

// TestChannels: what check and plan print per server — the listener with its scheme, port and auth, and
// the Exchange endpoints in the order they are tried, the server's own last.
func TestChannels(t *testing.T) {
	c, err := config.Parse("c.toml", exampleWith(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ server, winrs, exch string }{
		{"EX01", "https://ex01.exlab.local:5986/wsman (basic)", "via EX02 http://ex02.exlab.local/PowerShell (kerberos), then its own http://ex01.exlab.local/PowerShell (kerberos)"},
		{"EX02", "http://ex02.exlab.local:5985/wsman (kerberos)", "via EX01 http://ex01.exlab.local/PowerShell (kerberos), then its own http://ex02.exlab.local/PowerShell (kerberos)"},
		{"EX03", "https://10.0.20.13:5986/wsman (ntlm)", "via EX01 if the same release http://ex01.exlab.local/PowerShell (kerberos), then via EX02 if the same release http://ex02.exlab.local/PowerShell (kerberos), then its own https://ex03.exlab.local/PowerShell (kerberos)"},
	} {
		winrs, exch := c.Channels(serverNamed(t, c, tc.server))
		if winrs != tc.winrs || exch != tc.exch {
			t.Errorf("%s: WinRS %q, Exchange %q\nwant %q, %q", tc.server, winrs, exch, tc.winrs, tc.exch)
		}
	}
}

// TestExchangeEndpointCredentials: an https endpoint carries the CA to trust, a plain one does not; the
// service principal is HTTP/<the URL's host>, or HTTP/<fqdn> for an address; a keytab replaces the
// password, which is then not read.
func TestExchangeEndpointCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, krb5, kt, pw := write("ca.pem", "CA"), write("krb5.conf", "[libdefaults]\n"), write("kt", "\x05\x02"), write("pw", "s3cret")
	c, err := config.Parse("k.toml", exampleWith(t,
		`password = { credential = "winrm-password" }`, `password = { file = "`+pw+`" }`,
		`ca_file = "/etc/exmaintd/exchange-ca.pem"`, `ca_file = "`+ca+`"
krb5_conf = "`+krb5+`"`,
		`exchange_url = "https://ex03.exlab.local/PowerShell"`, `exchange_url = "http://10.0.20.13/PowerShell"`))
	if err != nil {
		t.Fatal(err)
	}
	ep, _, err := c.Endpoint("EX03", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Exchange) != 3 {
		t.Fatalf("EX03's Exchange endpoints: %+v", ep.Exchange)
	}
	own := ep.Exchange[2]
	if own.Kerberos == nil || own.Kerberos.SPN != "HTTP/ex03.exlab.local" || own.CACertPEM != nil || own.Password.Reveal() != "s3cret" {
		t.Errorf("EX03's own endpoint (an address, plain HTTP): SPN %v, CA %q, password %q", own.Kerberos, own.CACertPEM, own.Password.Reveal())
	}
	peer := ep.Exchange[0]
	if peer.Server != "EX01" || peer.Kerberos == nil || peer.Kerberos.SPN != "HTTP/ex01.exlab.local" {
		t.Errorf("EX03 via %s: %+v", peer.Server, peer.Kerberos)
	}
	// EX03 is standalone: its peers are its site's servers, used only when they run its release.
	if !ep.Exchange[0].SameRelease || !ep.Exchange[1].SameRelease || own.SameRelease {
		t.Errorf("EX03's endpoints: SameRelease %v %v %v; want the two site peers only", ep.Exchange[0].SameRelease, ep.Exchange[1].SameRelease, own.SameRelease)
	}
	// HTTPS: the CA is read; a keytab: no password.
	c, err = config.Parse("k.toml", exampleWith(t,
		`auth = "basic"`, `auth = "kerberos"`,
		`password = { credential = "winrm-password" }`, `keytab = { file = "`+kt+`" }`,
		`ca_file = "/etc/exmaintd/exchange-ca.pem"`, `ca_file = "`+ca+`"
krb5_conf = "`+krb5+`"`,
		"auth = \"ntlm\"\nhttps = true ", "auth = \"ntlm\"\npassword = { file = \""+pw+"\" }\nhttps = true "))
	if err != nil {
		t.Fatal(err)
	}
	ep, _, err = c.Endpoint("EX01", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if ep.Exchange[0].SameRelease {
		t.Errorf("EX01's DAG peer EX02 marked SameRelease; DAG members are used whatever they run")
	}
	x := ep.Exchange[1] // EX01's own: http://ex01.exlab.local/PowerShell
	if x.Server != "EX01" || string(x.Kerberos.Keytab) != "\x05\x02" || x.Password.Reveal() != "" || x.CACertPEM != nil {
		t.Errorf("EX01's own endpoint: %+v", x)
	}
	ep, _, err = c.Endpoint("EX03", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if x := ep.Exchange[2]; x.Server != "EX03" || string(x.CACertPEM) != "CA" || x.Kerberos == nil || x.Kerberos.SPN != "HTTP/ex03.exlab.local" {
		t.Errorf("EX03's own endpoint (https): %+v", x)
	}
}
