package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/scheduler"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

// server finds a server by name (case-insensitive).
func (c *Config) server(name string) (Server, bool) {
	for _, s := range c.Servers {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Server{}, false
}

// DAGOf returns the DAG a server belongs to ("" for a standalone server).
func (c *Config) DAGOf(name string) DAG {
	for _, d := range c.DAGs {
		for _, s := range d.Servers {
			if strings.EqualFold(s, name) {
				return d
			}
		}
	}
	return DAG{}
}

// FQDN is the server's fully qualified name: fqdn, or host when it is qualified.
func (c *Config) FQDN(s Server) string {
	if s.FQDN != "" {
		return s.FQDN
	}
	if strings.Contains(s.Host, ".") && isName(s.Host) {
		return s.Host
	}
	return ""
}

// isName tells a DNS name from an IP address literal (Redirect-Message needs a name).
func isName(h string) bool {
	return net.ParseIP(h) == nil
}

// ProcedureName is the server's procedure: its own setting, else dag for DAG members and standalone.
func (c *Config) ProcedureName(s Server) string {
	switch {
	case s.Procedure != "":
		return s.Procedure
	case c.DAGOf(s.Name).Name != "":
		return "dag"
	}
	return "standalone"
}

// Procedure returns the named procedure (built in or custom).
func (c *Config) Procedure(name string) (steps.Procedure, bool) {
	if p, ok := steps.BuiltinProcedures()[name]; ok {
		return p, true
	}
	for _, p := range c.Procedures {
		if p.Name == name {
			return steps.Procedure{Name: p.Name, Steps: p.Steps}, true
		}
	}
	return steps.Procedure{}, false
}

// stepsTarget describes a server for the steps: its DAG and its peers (the other DAG members first, then
// the other servers of the same site, then the rest), which can take its mail.
func (c *Config) stepsTarget(name string) steps.Target {
	s, _ := c.server(name)
	t := steps.Target{Server: s.Name, FQDN: c.FQDN(s), DAG: c.DAGOf(s.Name).Name}
	if t.Server == "" {
		t.Server = name
	}
	seen := map[string]bool{strings.ToLower(name): true} // a set: a linear search made this O(n²) per server
	add := func(o Server) {
		key := strings.ToLower(o.Name)
		if seen[key] {
			return
		}
		seen[key] = true
		if fqdn := c.FQDN(o); fqdn != "" {
			t.Peers = append(t.Peers, steps.Peer{Server: o.Name, FQDN: fqdn})
		}
	}
	for _, m := range c.DAGOf(name).Servers {
		if o, ok := c.server(m); ok {
			add(o)
		}
	}
	for _, o := range c.Servers {
		if s.Site != "" && o.Site == s.Site {
			add(o)
		}
	}
	for _, o := range c.Servers {
		add(o)
	}
	return t
}

// Warnings are the settings that weaken a server's security, as sentences for `check` and the daemon's
// start: each is legitimate in a lab and a finding in production.
func (c *Config) Warnings() []string {
	var out []string
	for _, w := range c.Windows {
		rule, ok := strings.CutPrefix(strings.TrimSpace(w.Schedule), "monthly ")
		if !ok {
			continue
		}
		if r, err := scheduler.ParseNthWeekday(rule, time.UTC); err == nil {
			for _, cv := range r.Caveats() {
				out = append(out, fmt.Sprintf("window %q: schedule %q: %s", w.Name, w.Schedule, cv))
			}
		}
	}
	out = append(out, c.exchangeWarnings()...)
	if host, _, err := net.SplitHostPort(c.Daemon.Listen); err == nil && c.Daemon.TLSCert == "" && !loopback(host) {
		out = append(out, fmt.Sprintf("daemon.listen %s is not a loopback address and the API has no TLS (daemon.tls_cert, tls_key): the API token and the status travel in clear", c.Daemon.Listen))
	}
	for _, s := range c.Servers {
		w := c.Merged(s)
		switch {
		case !boolOr(w.AllowUnencrypted, false):
		case w.Auth == exchange.AuthKerberos:
			// Kerberos seals over HTTP whatever this says; the setting is only misleading.
			out = append(out, fmt.Sprintf("server %s: allow_unencrypted = true has no effect with auth = \"kerberos\" (every message is sealed over HTTP); remove it", s.Name))
		default:
			out = append(out, fmt.Sprintf("server %s: allow_unencrypted = true: commands, results and the authenticated session travel unencrypted over plain HTTP", s.Name))
		}
		if boolOr(w.InsecureSkipVerify, false) {
			out = append(out, fmt.Sprintf("server %s: insecure_skip_verify = true: the server's TLS certificate is not checked, anyone on the path can pose as it", s.Name))
		}
	}
	return out
}

// Merged is the server's WinRM settings: its overrides over [winrm].
func (c *Config) Merged(s Server) WinRM {
	w, o := c.WinRM, s.WinRM
	if o.Port != 0 {
		w.Port = o.Port
	}
	if o.HTTPS != nil {
		w.HTTPS = o.HTTPS
	}
	for _, f := range []struct{ dst, src *string }{{&w.Auth, &o.Auth}, {&w.User, &o.User}, {&w.CAFile, &o.CAFile}, {&w.ClientCertFile, &o.ClientCertFile},
		{&w.ClientKeyFile, &o.ClientKeyFile}, {&w.Mode, &o.Mode}, {&w.Load, &o.Load}, {&w.Realm, &o.Realm}, {&w.Krb5Conf, &o.Krb5Conf}, {&w.SPN, &o.SPN},
		{&w.ExchangeURL, &o.ExchangeURL}, {&w.ExchangeAuth, &o.ExchangeAuth}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	if o.Password != (Secret{}) {
		w.Password = o.Password
	}
	if o.Keytab != (Secret{}) {
		w.Keytab = o.Keytab
	}
	if o.InsecureSkipVerify != nil {
		w.InsecureSkipVerify = o.InsecureSkipVerify
	}
	if o.AllowUnencrypted != nil {
		w.AllowUnencrypted = o.AllowUnencrypted
	}
	for _, f := range []struct{ dst, src *Duration }{{&w.OperationTimeout, &o.OperationTimeout}, {&w.StartTimeout, &o.StartTimeout},
		{&w.ReadTimeout, &o.ReadTimeout}, {&w.WriteTimeout, &o.WriteTimeout}} {
		if f.src.Duration != 0 {
			*f.dst = *f.src
		}
	}
	if o.Attempts != 0 {
		w.Attempts = o.Attempts
	}
	return w
}

// LoadSecret reads a secret from its source (getenv is os.Getenv in production).
func LoadSecret(s Secret, getenv func(string) string) (secret.Value, error) {
	return secret.Load(s.source(), getenv)
}

// loadBytes reads a binary secret (a keytab) from its source.
func loadBytes(s Secret, getenv func(string) string) ([]byte, error) {
	return secret.LoadBytes(s.source(), getenv)
}

func (s Secret) source() secret.Source {
	return secret.Source{File: s.File, Env: s.Env, Credential: s.Credential}
}

// Endpoint builds the exchange client's endpoint and options for a server, reading its password and files
// (Target.Connect).
func (c *Config) Endpoint(name string, getenv func(string) string) (exchange.Endpoint, exchange.Options, error) {
	t, ok := c.Target(name)
	if !ok {
		return exchange.Endpoint{}, exchange.Options{}, fmt.Errorf("no server %q in the configuration", name)
	}
	return t.Connect(getenv)
}

// Settings are the step settings for one server in one window.
func (c *Config) Settings(w Window, server string) steps.Settings {
	s := c.Steps
	out := steps.Settings{PollInterval: s.PollInterval.Duration, DrainTimeout: s.DrainTimeout.Duration, DrainStall: s.DrainStall.Duration, DrainPolicy: s.DrainPolicy,
		MoveTimeout: s.MoveTimeout.Duration, MoveSettle: s.MoveSettle.Duration, MoveAttempts: s.MoveAttempts, MoveRetryInterval: s.MoveRetryInterval.Duration, RebootTimeout: s.RebootTimeout.Duration, RestartDelay: s.RestartDelay.Duration, TransportBootTimeout: s.TransportBoot.Duration, ADReplicationWait: s.ADReplicationWait.Duration, BackPolls: s.BackPolls, RedundancyMinCopies: s.RedundancyMinCopies, QueueMax: s.QueueMax, CopyQueueMax: s.CopyQueueMax,
		ReplayQueueMax: s.ReplayQueueMax, UndoAttempts: s.UndoAttempts, UndoBackoff: s.UndoBackoff.Duration, PatchGrace: s.PatchGrace.Duration, AllowPendingReboot: s.AllowPendingReboot, Services: s.Services,
		FixOtherRequesters: s.FixOtherRequesters, Rebalance: s.Rebalance, WatchFor: s.WatchFor.Duration}
	if sv, ok := c.server(server); ok {
		out.AllowOutage = sv.AllowOutage
	}
	for _, name := range w.Patches {
		for _, p := range c.Patches {
			if p.Name == name {
				out.Patch = append(out.Patch, steps.PatchCommand{Name: p.Name, Command: p.Command, Detached: p.Detached, Timeout: p.Timeout.Duration, RunAs: taskAccount(p.RunAs), RunAsPassword: p.RunAsPassword.source(), Reboot: p.Reboot, RestartBefore: p.RestartBefore})
			}
		}
	}
	return out.WithDefaults()
}

// taskAccount is run_as as the task takes it: "" for SYSTEM.
func taskAccount(runAs string) string {
	if strings.EqualFold(runAs, "SYSTEM") {
		return ""
	}
	return runAs
}

// Location is the window's time zone: its own, else [daemon] time_zone, else the host's.
func (c *Config) Location(w Window) (*time.Location, error) {
	tz := w.TimeZone
	if tz == "" {
		tz = c.Daemon.TimeZone
	}
	if tz == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone: %w", tz, err)
	}
	return loc, nil
}

// Window returns the named window.
func (c *Config) Window(name string) (Window, bool) {
	for _, w := range c.Windows {
		if w.Name == name {
			return w, true
		}
	}
	return Window{}, false
}

// Groups splits a window's servers into rolling groups: the members of one DAG in the window's order, each
// standalone server alone.
func (c *Config) Groups(w Window) [][]string {
	var groups [][]string
	idx := map[string]int{}
	for _, s := range w.Servers {
		d := c.DAGOf(s).Name
		if d == "" {
			groups = append(groups, []string{s})
			continue
		}
		if i, ok := idx[d]; ok {
			groups[i] = append(groups[i], s)
			continue
		}
		idx[d] = len(groups)
		groups = append(groups, []string{s})
	}
	return groups
}

// DefaultKrb5Conf is where the system's Kerberos configuration lives.
const DefaultKrb5Conf = "/etc/krb5.conf"

// loopback reports whether a listen host accepts only local connections ("" and 0.0.0.0 accept all).
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
