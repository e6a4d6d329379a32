// Package demo is the rehearsal environment of `exmaintd demo` (and of the daemon's tests): an exmaintd
// configuration for a running exchsim organisation, with timings shortened for the simulation.
package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/exmaintd/exmaintd/exchsim"
)

// Options adjust the configuration.
type Options struct {
	// Window overrides the window's schedule, duration and min_remaining (default: the Saturday after Patch
	// Tuesday, 1h, 0s).
	Schedule, Duration, MinRemaining string
	// DrainStall overrides steps.drain_stall (default 5s; drain_timeout is 20s).
	DrainStall string
	// Extra is appended to the file: more TOML, starting with a table header.
	Extra string
	// Listen is daemon.listen (default 127.0.0.1:0); APITokenFile, when set, is daemon.api_token's file.
	Listen, APITokenFile string
}

// WriteConfig writes dir/config.toml for sim (servers, the DAG, NTLM over HTTP with the password in
// dir/winrm-password, a detached patch, one window "demo" over every server) and returns its path.
func WriteConfig(dir string, sim *exchsim.Sim, o Options) (string, error) {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.Schedule, "monthly 2nd tuesday +4d 22:00")
	def(&o.Duration, "1h")
	def(&o.MinRemaining, "0s")
	def(&o.DrainStall, "5s")
	def(&o.Listen, "127.0.0.1:0")
	pw := filepath.Join(dir, "winrm-password")
	if err := os.WriteFile(pw, []byte(sim.Password()+"\n"), 0o600); err != nil {
		return "", err
	}
	token := ""
	if o.APITokenFile != "" {
		token = fmt.Sprintf("\napi_token = { file = %q }", o.APITokenFile)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# written by exmaintd demo: timings shortened for the simulated org
[daemon]
state_dir = %q
listen = %q%s
time_zone = "UTC"
parallel = 2

[winrm]
https = false
allow_unencrypted = true   # exchsim on loopback; a real server needs HTTPS
auth = "ntlm"
exchange_auth = "ntlm"     # exchsim's /PowerShell; a real one takes Kerberos (the default)
user = '%s\%s'
password = { file = %q }
read_timeout = "30s"
operation_timeout = "10s"

[steps]
poll_interval = "250ms"
drain_timeout = "20s"
drain_stall = %q
move_timeout = "1m"
move_settle = "5s"
move_retry_interval = "2s"
reboot_timeout = "1m"
restart_delay = "1s"       # shutdown.exe /r /t 1: exchsim answers at once; a real host wants a few seconds
undo_backoff = "250ms"
default_step_estimate = "5s"
watch_for = "2s"

[[dag]]
name = "DAG01"
servers = ["EX01", "EX02"]

[[patch]]
name = "exchange-su"
command = "& 'D:\\Updates\\Exchange2019-SU.exe' /passive /norestart"
detached = true
timeout = "2m"

[[window]]
name = "demo"
schedule = %q
duration = %q
min_remaining = %q
servers = ["EX01", "EX02", "EX03"]
patches = ["exchange-su"]
`, filepath.Join(dir, "state"), o.Listen, token, sim.Domain(), sim.User(), pw, o.DrainStall, o.Schedule, o.Duration, o.MinRemaining)
	for _, e := range sim.Servers() {
		fmt.Fprintf(&b, "\n[[server]]\nname = %q\nhost = %q\nfqdn = %q\n[server.winrm]\nport = %d\nexchange_url = %q\n", e.Name, e.Host, e.Fqdn, e.Port, e.ExchangeURL())
	}
	b.WriteString(o.Extra)
	path := filepath.Join(dir, "config.toml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}
