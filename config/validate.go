package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/scheduler"
	"github.com/exmaintd/exmaintd/steps"
)

func (c *Config) validate(col *collector) {
	c.validateDaemon(col)
	validateWinRM(col, "winrm", c.WinRM, true)
	c.validateSteps(col)
	servers := c.validateServers(col)
	c.validateDAGs(col, servers)
	c.validateExchange(col, servers)
	procs := c.validateProcedures(col)
	patches := c.validatePatches(col)
	for i, s := range c.Servers {
		key := fmt.Sprintf("server[%d]", i)
		proc := c.ProcedureName(s)
		p, ok := procs[proc]
		if !ok {
			col.add(key+".procedure", "unknown procedure %q (built in: dag, standalone; or a [[procedure]])", proc)
			continue
		}
		// The server and its DAG are all a plan-time refusal looks at; the peers (every other server) would
		// make this loop quadratic in the organisation's size.
		if _, err := p.Resolve(steps.Target{Server: s.Name, DAG: c.DAGOf(s.Name).Name}, s.AllowOutage); err != nil {
			col.add(key+".procedure", "%v", err)
		}
	}
	c.validateWindows(col, servers, patches)
	c.validateIntegrations(col)
	c.validateCluster(col)
}

func (c *Config) validateDaemon(col *collector) {
	d := c.Daemon
	if d.StateDir == "" || !filepath.IsAbs(d.StateDir) {
		col.add("daemon.state_dir", "%q must be an absolute directory", d.StateDir)
	}
	if _, _, err := net.SplitHostPort(d.Listen); err != nil {
		col.add("daemon.listen", "%q is not host:port: %v", d.Listen, err)
	}
	for i, h := range d.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/ []") {
			col.add(fmt.Sprintf("daemon.allowed_hosts[%d]", i), "%q: want a host name without port or scheme (\".example.com\" for every name below it)", h)
		}
	}
	if (d.TLSCert == "") != (d.TLSKey == "") {
		col.add("daemon.tls_cert", "tls_cert and tls_key go together (got only one)")
	} else if d.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(d.TLSCert, d.TLSKey); err != nil {
			col.add("daemon.tls_cert", "cannot load the certificate and key: %v", err)
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, d.LogLevel) {
		col.add("daemon.log_level", "%q: want debug, info, warn or error", d.LogLevel)
	}
	if !slices.Contains([]string{"json", "text"}, d.LogFormat) {
		col.add("daemon.log_format", "%q: want json or text", d.LogFormat)
	}
	if d.TimeZone != "" {
		if _, err := time.LoadLocation(d.TimeZone); err != nil {
			col.add("daemon.time_zone", "%q is not a time zone: %v", d.TimeZone, err)
		}
	}
	if d.Recovery != steps.RecoverReverse && d.Recovery != steps.RecoverHold {
		col.add("daemon.recovery", "%q: want %s or %s", d.Recovery, steps.RecoverReverse, steps.RecoverHold)
	}
	if d.Parallel < 1 || d.Parallel > 64 {
		col.add("daemon.parallel", "%d: want 1..64", d.Parallel)
	}
	if d.ReverseTimeout.Duration < time.Minute {
		col.add("daemon.reverse_timeout", "%v is too short for a reverse (at least 1m)", d.ReverseTimeout.Duration)
	}
	validateSecret(col, "daemon.api_token", d.APIToken, false)
}

func validateSecret(col *collector, key string, s Secret, required bool) {
	n := 0
	for _, v := range []string{s.File, s.Env, s.Credential} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		col.add(key, "set one of file, env, credential, not %d", n)
	case n == 0 && required:
		col.add(key, "required: set file, env or credential (secrets are never written in this file)")
	case s.File != "" && !filepath.IsAbs(s.File):
		col.add(key+".file", "%q must be an absolute path", s.File)
	case s.Credential != "" && strings.ContainsAny(s.Credential, "/\\"):
		col.add(key+".credential", "%q is a credential name, not a path", s.Credential)
	}
}

// validateWinRM checks [winrm] (top: the defaults) or a server's override merged over them.
func validateWinRM(col *collector, key string, w WinRM, top bool) {
	if w.Port != 0 && (w.Port < 1 || w.Port > 65535) {
		col.add(key+".port", "%d: want 1..65535", w.Port)
	}
	if w.Auth != "" && !slices.Contains([]string{exchange.AuthBasic, exchange.AuthNTLM, exchange.AuthKerberos, exchange.AuthCertificate}, w.Auth) {
		col.add(key+".auth", "%q: want basic, ntlm, kerberos or certificate", w.Auth)
	}
	if w.Realm != "" && (strings.ContainsAny(w.Realm, " \t/@\\") || w.Realm != strings.ToUpper(w.Realm)) {
		col.add(key+".realm", "%q: want the Kerberos realm in upper case, e.g. EXLAB.LOCAL", w.Realm)
	}
	if w.SPN != "" && !strings.HasPrefix(w.SPN, "HTTP/") && !strings.HasPrefix(w.SPN, "WSMAN/") {
		col.add(key+".spn", "%q: want HTTP/<host> (or WSMAN/<host>)", w.SPN)
	}
	if w.Mode != "" && w.Mode != exchange.ModeSession && w.Mode != exchange.ModeCommand {
		col.add(key+".mode", "%q: want session or command", w.Mode)
	}
	if w.Load != "" && w.Load != exchange.LoadNone {
		col.add(key+".load", "%q is no longer supported: Exchange cmdlets run on Exchange's own remote PowerShell endpoint (exchange_url), "+
			"not through a snap-in in a WinRM shell (unsupported by Microsoft, and it fails on the second hop); remove the key", w.Load)
	}
	if top && w.ExchangeURL != "" {
		col.add(key+".exchange_url", "is per server: set it in [[server]] winrm, or leave it out for http://<fqdn>/PowerShell")
	}
	if w.ExchangeURL != "" {
		if u, err := url.Parse(w.ExchangeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" {
			col.add(key+".exchange_url", "%q: want http(s)://host[:port]/PowerShell without user, query or fragment", w.ExchangeURL)
		}
	}
	if w.Attempts < 0 || w.Attempts > 10 {
		col.add(key+".attempts", "%d: want 1..10", w.Attempts)
	}
	for k, f := range map[string]string{"ca_file": w.CAFile, "client_cert_file": w.ClientCertFile, "client_key_file": w.ClientKeyFile, "krb5_conf": w.Krb5Conf} {
		if f != "" && !filepath.IsAbs(f) {
			col.add(key+"."+k, "%q must be an absolute path", f)
		}
	}
	if top && w.OperationTimeout.Duration >= w.ReadTimeout.Duration {
		col.add(key+".operation_timeout", "%v must be shorter than read_timeout %v", w.OperationTimeout.Duration, w.ReadTimeout.Duration)
	}
	validateSecret(col, key+".password", w.Password, false)
	validateSecret(col, key+".keytab", w.Keytab, false)
	if w.Keytab.Env != "" {
		col.add(key+".keytab", "a keytab is binary: use file or credential, not env")
	}
}

func (c *Config) validateSteps(col *collector) {
	s := c.Steps
	pos := map[string]time.Duration{"poll_interval": s.PollInterval.Duration, "drain_timeout": s.DrainTimeout.Duration, "drain_stall": s.DrainStall.Duration,
		"move_timeout": s.MoveTimeout.Duration, "reboot_timeout": s.RebootTimeout.Duration, "transport_boot_timeout": s.TransportBoot.Duration, "undo_backoff": s.UndoBackoff.Duration,
		"patch_grace": s.PatchGrace.Duration, "move_settle": s.MoveSettle.Duration, "move_retry_interval": s.MoveRetryInterval.Duration,
		"ad_replication_wait": s.ADReplicationWait.Duration}
	for k, v := range pos {
		if v <= 0 {
			col.add("steps."+k, "must be positive")
		}
	}
	if d := s.RestartDelay.Duration; d < 0 || d > 10*time.Minute {
		col.add("steps.restart_delay", "%v: want 0s..10m (how long after shutdown.exe answers the host restarts)", d)
	}
	if s.DrainPolicy != steps.DrainFail && s.DrainPolicy != steps.DrainContinue {
		col.add("steps.drain_policy", "%q: want fail (the default: the run reverses) or continue (go on with the messages left, as Microsoft's transport workflow)", s.DrainPolicy)
	}
	if rt := c.Daemon.ReverseTimeout.Duration; s.PatchGrace.Duration > 0 && s.PatchGrace.Duration >= rt {
		col.add("steps.patch_grace", "%v must be shorter than daemon.reverse_timeout %v: the wait for a running installer is part of a reverse", s.PatchGrace.Duration, rt)
	}
	if s.DrainStall.Duration >= s.DrainTimeout.Duration {
		col.add("steps.drain_stall", "%v must be shorter than drain_timeout %v (a stall is detected before the timeout)", s.DrainStall.Duration, s.DrainTimeout.Duration)
	}
	if s.PollInterval.Duration >= s.DrainStall.Duration {
		col.add("steps.poll_interval", "%v must be shorter than drain_stall %v", s.PollInterval.Duration, s.DrainStall.Duration)
	}
	if s.QueueMax < 0 || s.CopyQueueMax <= 0 || s.ReplayQueueMax <= 0 {
		col.add("steps", "queue_max must be ≥ 0, copy_queue_max and replay_queue_max > 0")
	}
	if s.MoveAttempts < 1 || s.MoveAttempts > 10 {
		col.add("steps.move_attempts", "%d: want 1..10 (Microsoft's script makes 2)", s.MoveAttempts)
	}
	if s.MoveSettle.Duration >= s.MoveTimeout.Duration {
		col.add("steps.move_settle", "%v must be shorter than move_timeout %v (the wait for background moves is part of the step)", s.MoveSettle.Duration, s.MoveTimeout.Duration)
	}
	if s.UndoAttempts < 1 || s.UndoAttempts > 20 {
		col.add("steps.undo_attempts", "%d: want 1..20", s.UndoAttempts)
	}
	if s.RedundancyMinCopies < 0 || s.RedundancyMinCopies > 15 {
		col.add("steps.redundancy_min_copies", "%d: want 1..15 (0 or unset: 2 in a DAG of more than two members, else 1)", s.RedundancyMinCopies)
	}
	if s.BackPolls < 0 || s.BackPolls > 100 {
		col.add("steps.back_polls", "%d: want 1..100 (0 or unset: 3)", s.BackPolls)
	}
	for i, svc := range s.Services {
		if err := exchange.ValidateIdentity("service", svc); err != nil {
			col.add(fmt.Sprintf("steps.services[%d]", i), "%v", err)
		}
	}
}

func (c *Config) validateServers(col *collector) map[string]bool {
	names := map[string]bool{}
	if len(c.Servers) == 0 {
		col.add("server", "no [[server]]: nothing to maintain")
	}
	for i, s := range c.Servers {
		key := fmt.Sprintf("server[%d]", i)
		if err := exchange.ValidateIdentity("server", s.Name); err != nil {
			col.add(key+".name", "%v", err)
			continue
		}
		if names[strings.ToUpper(s.Name)] {
			col.add(key+".name", "server %s is defined twice", s.Name)
		}
		names[strings.ToUpper(s.Name)] = true
		if s.Host == "" {
			col.add(key+".host", "required: the WinRM listener's host name")
		}
		if c.FQDN(s) == "" {
			col.add(key+".fqdn", "required when host %q is not a fully qualified name (Redirect-Message needs one)", s.Host)
		}
		w := c.Merged(s)
		validateWinRM(col, key+".winrm", s.WinRM, false)
		if w.Auth == exchange.AuthBasic && !boolOr(w.HTTPS, true) {
			col.add(key+".winrm.auth", "basic over plain HTTP would send the password in clear: use https = true, or auth = \"kerberos\" (sealed even over HTTP); NTLM over HTTP is not encrypted either")
		}
		if w.Auth == exchange.AuthNTLM && !boolOr(w.HTTPS, true) && !boolOr(w.AllowUnencrypted, false) {
			col.add(key+".winrm.auth", "ntlm over plain HTTP can never open: nothing would be encrypted, so the client refuses it; use https = true, "+
				"auth = \"kerberos\" (sealed even over HTTP), or allow_unencrypted = true for a lab")
		}
		if w.Auth == exchange.AuthCertificate && (w.ClientCertFile == "" || w.ClientKeyFile == "") {
			col.add(key+".winrm.client_cert_file", "auth = \"certificate\" needs client_cert_file and client_key_file")
		}
		switch {
		case w.Auth == exchange.AuthKerberos:
			if w.Realm == "" {
				col.add(key+".winrm.realm", "auth = \"kerberos\" needs the realm (e.g. EXLAB.LOCAL), in [winrm] or here")
			}
			if w.User == "" || (w.Password == (Secret{})) == (w.Keytab == (Secret{})) {
				col.add(key+".winrm", "auth = \"kerberos\" needs user and either password or keytab (not both), in [winrm] or here")
			}
		case w.Auth != exchange.AuthCertificate && (w.User == "" || w.Password == (Secret{})):
			col.add(key+".winrm", "auth %q needs user and password (file, env or credential), in [winrm] or here", w.Auth)
		}
	}
	return names
}

func (c *Config) validateDAGs(col *collector, servers map[string]bool) {
	member := map[string]string{}
	seen := map[string]bool{}
	for i, d := range c.DAGs {
		key := fmt.Sprintf("dag[%d]", i)
		if err := exchange.ValidateIdentity("DAG", d.Name); err != nil {
			col.add(key+".name", "%v", err)
		}
		if seen[strings.ToUpper(d.Name)] {
			col.add(key+".name", "DAG %s is defined twice", d.Name)
		}
		seen[strings.ToUpper(d.Name)] = true
		if len(d.Servers) == 0 {
			col.add(key+".servers", "a DAG needs its members")
		}
		for _, s := range d.Servers {
			switch {
			case !servers[strings.ToUpper(s)]:
				col.add(key+".servers", "unknown server %q (no [[server]] with that name)", s)
			case member[strings.ToUpper(s)] != "":
				col.add(key+".servers", "server %s is already a member of DAG %s", s, member[strings.ToUpper(s)])
			default:
				member[strings.ToUpper(s)] = d.Name
			}
		}
		if d.FailureBudget < 0 {
			col.add(key+".failure_budget", "must be ≥ 0")
		}
	}
}

func (c *Config) validateProcedures(col *collector) map[string]steps.Procedure {
	procs := steps.BuiltinProcedures()
	for i, p := range c.Procedures {
		key := fmt.Sprintf("procedure[%d]", i)
		if _, dup := procs[p.Name]; dup || p.Name == "" {
			col.add(key+".name", "%q is empty, built in or defined twice", p.Name)
			continue
		}
		sp := steps.Procedure{Name: p.Name, Steps: p.Steps}
		// Unknown and repeated steps; an outage is judged per server (it depends on the target).
		if _, err := sp.Resolve(steps.Target{Server: "-"}, true); err != nil {
			col.add(key+".steps", "%v", err)
		}
		procs[p.Name] = sp
	}
	return procs
}

func (c *Config) validatePatches(col *collector) map[string]bool {
	names := map[string]bool{}
	for i, p := range c.Patches {
		key := fmt.Sprintf("patch[%d]", i)
		if p.Name == "" || names[p.Name] {
			col.add(key+".name", "%q is empty or defined twice", p.Name)
		}
		names[p.Name] = true
		if strings.TrimSpace(p.Command) == "" {
			col.add(key+".command", "required")
		} else if !p.Detached {
			if _, err := exchange.OpRun(p.Command); err != nil { // in the session: a child powershell.exe's command line bounds it
				col.add(key+".command", "%v", err)
			}
		}
		if p.Reboot != "" && !slices.Contains([]string{steps.RebootAlways, steps.RebootIfRequired, steps.RebootNever}, p.Reboot) {
			col.add(key+".reboot", "%q: want always, if-required (the default) or never", p.Reboot)
		}
		if p.RestartBefore != "" && p.RestartBefore != steps.RestartBeforeIfPending && p.RestartBefore != steps.RestartBeforeNever {
			col.add(key+".restart_before", "%q: want if-pending (the default) or never", p.RestartBefore)
		}
		validateRunAs(col, key, p)
	}
	return names
}

// validateRunAs checks a patch's account. A scheduled task runs as SYSTEM, as a group managed service
// account (Windows fetches its password from AD), or as a named account whose password the task stores
// (run_as_password, read when the task is registered). Exchange setup does not run as SYSTEM: the computer
// account is in no Exchange role group, and setup's GlobalServerInstall rule stops it.
func validateRunAs(col *collector, key string, p Patch) {
	hasPassword := p.RunAsPassword != (Secret{})
	validateSecret(col, key+".run_as_password", p.RunAsPassword, false)
	system := p.RunAs == "" || strings.EqualFold(p.RunAs, "SYSTEM")
	if exchangeSetup.MatchString(p.Command) && p.RunAs == "" {
		col.add(key+".run_as", "Exchange setup (/Mode:Upgrade) cannot run as SYSTEM, the default: it needs an account in the Organization Management "+
			"role group, and in Schema Admins and Enterprise Admins when the update must prepare Active Directory (CSS-Exchange SetupAssist checks them); "+
			"set run_as to such an account (a gMSA as DOMAIN\\name$, or DOMAIN\\name with run_as_password), or run_as = \"SYSTEM\" if the computer account has been given them")
	}
	if system {
		if hasPassword {
			col.add(key+".run_as_password", "set, but the task runs as SYSTEM: give run_as a named account or remove the password")
		}
		return
	}
	dom, acct, ok := strings.Cut(p.RunAs, `\`)
	gmsa := strings.HasSuffix(acct, "$")
	switch {
	case !p.Detached:
		col.add(key+".run_as", "%q: only a detached command runs as a scheduled task; set detached = true or remove run_as", p.RunAs)
	case !ok || !accountChars(dom, ".-") || !accountChars(strings.TrimSuffix(acct, "$"), ".-_"):
		col.add(key+".run_as", "%q: want SYSTEM, a group managed service account as DOMAIN\\name$, or an account as DOMAIN\\name", p.RunAs)
	case gmsa && hasPassword:
		col.add(key+".run_as_password", "set, but %s is a group managed service account: Windows fetches its password; remove run_as_password", p.RunAs)
	case !gmsa && !hasPassword:
		col.add(key+".run_as", "%q is a named account: set run_as_password (file, env or credential), which the task stores to run whether the account is logged on or not", p.RunAs)
	}
}

// exchangeSetup matches a command that runs Exchange setup for an upgrade (a cumulative update):
// Setup.exe or ExSetup.exe with /Mode:Upgrade or /m:upgrade.
var exchangeSetup = regexp.MustCompile(`(?i)\b(ex)?setup(\.exe)?['"]?\s.*/m(ode)?:upgrade\b`)

// RunsExchangeSetup reports whether a patch command runs Exchange setup for an upgrade.
func RunsExchangeSetup(command string) bool { return exchangeSetup.MatchString(command) }

// accountChars: s is non-empty and only letters, digits and extra (names the quoting cannot trip over).
func accountChars(s, extra string) bool {
	ok := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)
	}
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !ok(r) }) < 0
}

func (c *Config) validateWindows(col *collector, servers, patches map[string]bool) {
	names := map[string]bool{}
	for i, w := range c.Windows {
		key := fmt.Sprintf("window[%d]", i)
		switch {
		case w.Name == "":
			col.add(key+".name", "required (the name you start it by and see it under in metrics)")
		case exchange.ValidateIdentity("window", w.Name) != nil || names[w.Name]:
			col.add(key+".name", "%q is invalid or defined twice", w.Name)
		}
		names[w.Name] = true
		loc, err := c.Location(w)
		if err != nil {
			col.add(key+".time_zone", "%v", err)
		} else if strings.TrimSpace(w.Schedule) == "" {
			col.add(key+".schedule", "required: a cron spec (\"0 22 * * 6\") or a monthly rule (\"monthly 2nd tuesday +4d 22:00\")")
		} else if _, err := scheduler.Parse(w.Schedule, loc); err != nil {
			// Say where the window's zone came from: its own time_zone, or [daemon] time_zone.
			if errors.Is(err, scheduler.ErrZoneContradiction) {
				whence := fmt.Sprintf("the window's time_zone %q", w.TimeZone)
				if w.TimeZone == "" {
					whence = fmt.Sprintf("the window has no time_zone: its zone is daemon.time_zone %q", c.Daemon.TimeZone)
				}
				err = fmt.Errorf("%w (%s)", err, whence)
			}
			col.add(key+".schedule", "%v", err)
		}
		if w.Duration.Duration < 15*time.Minute || w.Duration.Duration > 7*24*time.Hour {
			col.add(key+".duration", "%v: want 15m..168h", w.Duration.Duration)
		}
		if w.MinRemaining.Duration >= w.Duration.Duration && w.Duration.Duration > 0 {
			col.add(key+".min_remaining", "%v must be shorter than the window's duration", w.MinRemaining.Duration)
		}
		if len(w.Servers) == 0 {
			col.add(key+".servers", "a window needs servers")
		}
		seen := map[string]bool{}
		for _, s := range w.Servers {
			if !servers[strings.ToUpper(s)] {
				col.add(key+".servers", "unknown server %q (no [[server]] with that name)", s)
			}
			if seen[strings.ToUpper(s)] {
				col.add(key+".servers", "server %s listed twice", s)
			}
			seen[strings.ToUpper(s)] = true
		}
		for _, p := range w.Patches {
			if !patches[p] {
				col.add(key+".patches", "unknown patch %q (no [[patch]] with that name)", p)
			}
		}
	}
}

func (c *Config) validateIntegrations(col *collector) {
	matcherRE := regexp.MustCompile(`^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$`)
	if c.Prometheus.URL.Set() {
		validateService(col, "prometheus", c.Prometheus.Service)
	}
	if c.Alertmanager.URL.Set() {
		validateService(col, "alertmanager", c.Alertmanager.Service)
	}
	for i, m := range c.Prometheus.AlertMatchers {
		if _, err := alerting.ParseMatcher(m, "EX01", "ex01.example.com"); err != nil || !matcherRE.MatchString(m) {
			col.add(fmt.Sprintf("prometheus.alert_matchers[%d]", i), "%q: want name=\"value\" (=, !=, =~, !~; {{server}} becomes the server's name, {{fqdn}} its DNS name)", m)
		}
	}
	for i, m := range c.Alertmanager.SilenceMatchers {
		if _, err := alerting.ParseMatcher(m, "EX01", "ex01.example.com"); err != nil || !matcherRE.MatchString(m) {
			col.add(fmt.Sprintf("alertmanager.silence_matchers[%d]", i), "%q: want name=\"value\" (=, !=, =~, !~; {{server}} becomes the server's name, {{fqdn}} its DNS name)", m)
		}
	}
	if c.Alertmanager.URL.Set() {
		am := c.Alertmanager
		if rt := c.Daemon.ReverseTimeout.Duration; am.Margin.Duration < rt || am.Margin.Duration > 12*time.Hour {
			col.add("alertmanager.margin", "%v: want at least daemon.reverse_timeout %v (a reverse after the window's end stays silenced) and at most 12h (a silence a crash leaves behind ends by itself)", am.Margin.Duration, rt)
		}
		if am.OnError != "continue" && am.OnError != "refuse" {
			col.add("alertmanager.on_error", "%q: want continue (the default: the server runs, its alerts may fire) or refuse (the server is skipped)", am.OnError)
		}
	}
	if c.Alertmanager.URL.Set() && len(c.Alertmanager.SilenceMatchers) == 0 {
		col.add("alertmanager.silence_matchers", "required with alertmanager.url: a silence needs matchers that select one server's alerts")
	}
	for i, n := range c.Notify {
		key := fmt.Sprintf("notify[%d]", i)
		if !n.URL.Set() {
			col.add(key+".url", "required")
		}
		validateService(col, key, Service{URL: n.URL, CAFile: n.CAFile})
		for _, e := range n.Events {
			if !slices.Contains([]string{"ahead", "start", "end", "abort"}, e) {
				col.add(key+".events", "%q: want ahead, start, end or abort", e)
			}
		}
		if slices.Contains(n.Events, "ahead") && n.Lead.Duration <= 0 {
			col.add(key+".lead", "required with the ahead event (e.g. \"24h\")")
		}
		validateSecret(col, key+".token", n.Token, false)
	}
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
