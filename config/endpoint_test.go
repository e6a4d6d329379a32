package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/config"
)

// endpointConfig is a configuration whose servers each override one thing of [winrm].
func endpointConfig(tb testing.TB) *config.Config {
	tb.Helper()
	dir := tb.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	krb5 := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(krb5, []byte("[libdefaults]\n default_realm = EXLAB.LOCAL\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	src := `[daemon]
state_dir = "/var/lib/exmaintd"
time_zone = "Europe/Berlin"
[winrm]
port = 5986
auth = "ntlm"
user = 'EXLAB\svc'
password = { file = "` + pw + `" }
realm = "EXLAB.LOCAL"
krb5_conf = "` + krb5 + `"
attempts = 3
operation_timeout = "20s"
read_timeout = "1m"
[[server]]
name = "EX01"
host = "ex01.exlab.local"
site = "Berlin"
[[server]]
name = "EX02"
host = "10.0.0.2"
fqdn = "ex02.exlab.local"
site = "Munich"
[server.winrm]
port = 15986
attempts = 5
read_timeout = "2m"
[[server]]
name = "EX03"
host = "ex03.exlab.local"
site = "Berlin"
[server.winrm]
https = false
allow_unencrypted = true
port = 5985
[[server]]
name = "EX04"
host = "ex04"
fqdn = "ex04.exlab.local"
site = "Munich"
[server.winrm]
exchange_url = "https://mail.exlab.local/PowerShell"
[[window]]
name = "w"
schedule = "monthly 2nd tuesday +4d 22:00"
duration = "4h"
servers = ["EX01"]
[[window]]
name = "utc"
schedule = "monthly 2nd tuesday +4d 22:00"
time_zone = "UTC"
duration = "4h"
servers = ["EX02"]
`
	c, err := config.Parse("endpoint.toml", src)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestEndpoint: a server's overrides win over [winrm] one by one, and everything not overridden is
// [winrm]'s; the TLS name, the Exchange URL and the password follow from the merged settings.
func TestEndpoint(t *testing.T) {
	c := endpointConfig(t)
	getenv := func(string) string { return "" }
	for _, tc := range []struct {
		server                 string
		port, attempts         int
		https                  bool
		tlsName, exchangeURL   string
		readTimeout, opTimeout time.Duration
	}{
		// No DAG: the Exchange cmdlets run on another server of the same site, over its own endpoint
		// (http://<fqdn>/PowerShell unless exchange_url says otherwise), whatever the listener's scheme.
		{"EX01", 5986, 3, true, "", "EX03 http://ex03.exlab.local/PowerShell", time.Minute, 20 * time.Second},
		{"EX02", 15986, 5, true, "ex02.exlab.local", "EX04 https://mail.exlab.local/PowerShell", 2 * time.Minute, 20 * time.Second},
		{"EX03", 5985, 3, false, "", "EX01 http://ex01.exlab.local/PowerShell", time.Minute, 20 * time.Second},
		{"EX04", 5986, 3, true, "ex04.exlab.local", "EX02 http://ex02.exlab.local/PowerShell", time.Minute, 20 * time.Second},
	} {
		t.Run(tc.server, func(t *testing.T) {
			ep, opts, err := c.Endpoint(tc.server, getenv)
			if err != nil {
				t.Fatal(err)
			}
			if len(ep.Exchange) != 2 || ep.Exchange[1].Server != tc.server {
				t.Fatalf("Exchange endpoints %+v; want one peer, then its own", ep.Exchange)
			}
			x := ep.Exchange[0]
			if ep.Port != tc.port || ep.HTTPS != tc.https || ep.TLSServerName != tc.tlsName || x.Server+" "+x.URL != tc.exchangeURL {
				t.Errorf("port %d https %v tls name %q exchange %s %s; want %d %v %q %q", ep.Port, ep.HTTPS, ep.TLSServerName, x.Server, x.URL, tc.port, tc.https, tc.tlsName, tc.exchangeURL)
			}
			host := strings.Split(strings.SplitN(x.URL, "//", 2)[1], "/")[0]
			if x.Auth != "kerberos" || x.Kerberos == nil || x.Kerberos.SPN != "HTTP/"+host || x.Kerberos.Realm != "EXLAB.LOCAL" || x.User != `EXLAB\svc` || x.Password.Reveal() != "s3cret" {
				t.Errorf("Exchange channel auth %s kerberos %+v user %s: want kerberos (the default) as HTTP/%s with [winrm]'s account", x.Auth, x.Kerberos, x.User, host)
			}
			if opts.Attempts != tc.attempts || opts.ReadTimeout != tc.readTimeout || opts.OperationTimeout != tc.opTimeout {
				t.Errorf("attempts %d read %v operation %v; want %d %v %v", opts.Attempts, opts.ReadTimeout, opts.OperationTimeout, tc.attempts, tc.readTimeout, tc.opTimeout)
			}
			if ep.Auth != "ntlm" || ep.User != `EXLAB\svc` || ep.Password.Reveal() != "s3cret" {
				t.Errorf("auth %s user %s password %q: want [winrm]'s", ep.Auth, ep.User, ep.Password.Reveal())
			}
			if ep.AllowUnencrypted != (tc.server == "EX03") {
				t.Errorf("allow_unencrypted %v", ep.AllowUnencrypted)
			}
		})
	}
	if _, _, err := c.Endpoint("EX09", getenv); err == nil || !strings.Contains(err.Error(), `no server "EX09"`) {
		t.Errorf("unknown server: %v", err)
	}
}

// TestTargetPeers: a server's peers are the other servers of its site first, then the rest; a server given
// by an IP address is a peer by its fqdn.
func TestTargetPeers(t *testing.T) {
	c := endpointConfig(t)
	var names []string
	tg, _ := c.Target("ex02") // case-insensitive lookup, the configured spelling kept
	for _, p := range tg.Steps.Peers {
		names = append(names, p.Server+"="+p.FQDN)
	}
	if tg.Name != "EX02" || tg.Steps.Server != "EX02" || tg.FQDN != "ex02.exlab.local" || strings.Join(names, " ") != "EX04=ex04.exlab.local EX01=ex01.exlab.local EX03=ex03.exlab.local" {
		t.Errorf("target %s %s, peers %v; want EX04 (same site) first", tg.Steps.Server, tg.FQDN, names)
	}
	if tg, ok := c.Target("EX99"); ok {
		t.Errorf("unknown server: %+v", tg)
	}
}

// TestLocation: a window's zone, else [daemon] time_zone.
func TestLocation(t *testing.T) {
	c := endpointConfig(t)
	for name, want := range map[string]string{"w": "Europe/Berlin", "utc": "UTC"} {
		w, ok := c.Window(name)
		if !ok {
			t.Fatalf("no window %s", name)
		}
		loc, err := c.Location(w)
		if err != nil || loc.String() != want {
			t.Errorf("window %s: %v %v, want %s", name, loc, err, want)
		}
	}
	c.Daemon.TimeZone = ""
	w, _ := c.Window("w")
	if loc, err := c.Location(w); err != nil || loc != time.Local {
		t.Errorf("no zone anywhere: %v %v, want the host's", loc, err)
	}
}

// TestKerberosEndpoint: auth = "kerberos" reads the configured krb5.conf (not the system's) and keeps the
// password from [winrm]; a krb5_conf that cannot be read is an error naming the server and the key.
func TestKerberosEndpoint(t *testing.T) {
	dir := t.TempDir()
	pw, conf := filepath.Join(dir, "pw"), filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const krb5 = "[libdefaults]\n default_realm = EXLAB.LOCAL\n# exmaintd test\n"
	if err := os.WriteFile(conf, []byte(krb5), 0o600); err != nil {
		t.Fatal(err)
	}
	src := func(krb5Conf string) string {
		return `[daemon]
state_dir = "/var/lib/exmaintd"
[winrm]
auth = "kerberos"
https = false
port = 5985
realm = "EXLAB.LOCAL"
krb5_conf = "` + krb5Conf + `"
user = 'EXLAB\svc'
password = { file = "` + pw + `" }
[[server]]
name = "EX02"
host = "ex02.exlab.local"
[[window]]
name = "w"
schedule = "monthly 2nd tuesday +4d 22:00"
duration = "4h"
servers = ["EX02"]
`
	}
	getenv := func(string) string { return "" }
	c, err := config.Parse("krb.toml", src(conf))
	if err != nil {
		t.Fatal(err)
	}
	ep, _, err := c.Endpoint("EX02", getenv)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Kerberos == nil || ep.Kerberos.Krb5Conf != krb5 || ep.Kerberos.SPN != "HTTP/ex02.exlab.local" || ep.Password.Reveal() != "s3cret" {
		t.Errorf("kerberos %+v, password %q; want the configured krb5.conf, HTTP/<fqdn> and [winrm]'s password", ep.Kerberos, ep.Password.Reveal())
	}
	c, err = config.Parse("krb.toml", src(filepath.Join(dir, "missing.conf")))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Endpoint("EX02", getenv); err == nil || !strings.Contains(err.Error(), "server EX02: winrm.krb5_conf") {
		t.Errorf("an unreadable krb5_conf: %v; want it named", err)
	}
}
