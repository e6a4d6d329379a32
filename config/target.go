package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/steps"
)

// Target is one server as exmaintd acts on it, resolved from the configuration once, when it is loaded:
// both channels (the WinRM listener and the Exchange endpoints that run its cmdlets, with their auth and
// peers), its DAG, the peers that can take its mail, its procedure and its thresholds. The daemon, `check`
// and `plan` act on targets; none of them reads the configuration again to act on a server.
//
// Secrets and files (passwords, keytabs, krb5.conf, CA and client certificates) are read by Connect, each
// time a window connects, not at load: a rotated password or keytab reaches the next window without a
// reload, and a file that cannot be read fails that server's connection, naming the setting.
type Target struct {
	Name string
	FQDN string // "" when neither fqdn nor a qualified host is set
	DAG  DAG    // zero for a standalone server
	// ProcedureName is the server's procedure (its own, else dag or standalone); validation made sure
	// Procedure exists.
	ProcedureName string
	Procedure     steps.Procedure
	Steps         steps.Target   // its DAG and the peers that can take its mail
	Settings      steps.Settings // [steps] and its own allow_outage, without a window's patches
	AllowOutage   bool
	BackupMaxAge  time.Duration
	// WinRS and Exchange describe the channels for an operator, as `check` and `plan` print them.
	WinRS, Exchange string

	listener listenerPlan
	via      []exchangePlan
	options  exchange.Options
}

// listenerPlan is the WinRM listener's endpoint without what Connect reads, and the merged settings that
// name those files and secrets.
type listenerPlan struct {
	ep   exchange.Endpoint
	w    WinRM
	fqdn string
}

// exchangePlan is one Exchange endpoint that runs the server's cmdlets, as listenerPlan.
type exchangePlan struct {
	x    exchange.ExchangeEndpoint
	w    WinRM
	fqdn string
	peer string // whose endpoint (for errors)
}

// RolloutGroup is one rolling group of a window: a DAG's members in the window's order, or a standalone
// server alone, each with the window's patches in its settings.
type RolloutGroup struct {
	Name          string // the DAG's, or the standalone server's
	FailureBudget int
	Servers       []WindowTarget
}

// WindowTarget is a server in a window: its target and the settings with the window's patches.
type WindowTarget struct {
	*Target
	Settings steps.Settings
}

// Target returns the resolved server called name (case-insensitive).
func (c *Config) Target(name string) (*Target, bool) {
	t, ok := c.targets[strings.ToUpper(name)]
	return t, ok
}

// Rollout returns the resolved rolling groups of the window called name.
func (c *Config) Rollout(name string) ([]RolloutGroup, bool) {
	g, ok := c.rollouts[name]
	return g, ok
}

// resolve builds every server's target and every window's rollout. It runs once, after validation passed.
func (c *Config) resolve() {
	c.targets = make(map[string]*Target, len(c.Servers))
	for _, s := range c.Servers {
		c.targets[strings.ToUpper(s.Name)] = c.resolveTarget(s)
	}
	c.rollouts = make(map[string][]RolloutGroup, len(c.Windows))
	for _, w := range c.Windows {
		var groups []RolloutGroup
		for _, names := range c.Groups(w) {
			d := c.DAGOf(names[0])
			g := RolloutGroup{Name: d.Name, FailureBudget: d.FailureBudget}
			if g.Name == "" {
				g.Name = names[0]
			}
			for _, n := range names {
				if t, ok := c.Target(n); ok {
					g.Servers = append(g.Servers, WindowTarget{Target: t, Settings: c.Settings(w, n)})
				}
			}
			groups = append(groups, g)
		}
		c.rollouts[w.Name] = groups
	}
}

func (c *Config) resolveTarget(s Server) *Target {
	w := c.Merged(s)
	t := &Target{Name: s.Name, FQDN: c.FQDN(s), DAG: c.DAGOf(s.Name), ProcedureName: c.ProcedureName(s), Steps: c.stepsTarget(s.Name),
		Settings: c.Settings(Window{}, s.Name), AllowOutage: s.AllowOutage, BackupMaxAge: c.Steps.BackupMaxAge.Duration}
	t.Procedure, _ = c.Procedure(t.ProcedureName)
	t.WinRS, t.Exchange = c.Channels(s)
	ep := exchange.Endpoint{Name: s.Name, Host: s.Host, Port: w.Port, HTTPS: boolOr(w.HTTPS, true), Auth: w.Auth, User: w.User,
		InsecureSkipVerify: boolOr(w.InsecureSkipVerify, false), AllowUnencrypted: boolOr(w.AllowUnencrypted, false)}
	if ep.HTTPS && t.FQDN != "" && !strings.EqualFold(t.FQDN, s.Host) {
		ep.TLSServerName = t.FQDN
	}
	t.listener = listenerPlan{ep: ep, w: w, fqdn: t.FQDN}
	via, bySite := c.exchangeVia(s)
	for i, p := range via {
		pw := c.Merged(p)
		rawURL, auth := c.ExchangeChannel(p)
		x := exchange.ExchangeEndpoint{Server: p.Name, URL: rawURL, Auth: auth, User: pw.User, InsecureSkipVerify: boolOr(pw.InsecureSkipVerify, false),
			AllowUnencrypted: boolOr(pw.AllowUnencrypted, false), SameRelease: bySite && i < len(via)-1}
		t.via = append(t.via, exchangePlan{x: x, w: pw, fqdn: c.FQDN(p), peer: p.Name})
	}
	t.options = exchange.Options{Mode: w.Mode, Load: w.Load, OperationTimeout: w.OperationTimeout.Duration, StartTimeout: w.StartTimeout.Duration,
		PoolTimeout: w.PoolTimeout.Duration, ReadTimeout: w.ReadTimeout.Duration, WriteTimeout: w.WriteTimeout.Duration, Attempts: w.Attempts}
	return t
}

// Connect builds the exchange client's endpoint and options, reading the server's secrets and files now.
func (t *Target) Connect(getenv func(string) string) (exchange.Endpoint, exchange.Options, error) {
	l := t.listener
	ep, w := l.ep, l.w
	read := func(key, path string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("server %s: %s: %w", t.Name, key, err)
		}
		return b, nil
	}
	var err error
	// The CA matters only to a listener reached over HTTPS: a shared [winrm] ca_file must not stop a
	// plain-HTTP server (Kerberos-encrypted, say) on a host without it.
	if ep.HTTPS {
		if ep.CACertPEM, err = read("ca_file", w.CAFile); err != nil {
			return ep, exchange.Options{}, err
		}
	}
	if ep.ClientCertPEM, err = read("client_cert_file", w.ClientCertFile); err != nil {
		return ep, exchange.Options{}, err
	}
	if ep.ClientKeyPEM, err = read("client_key_file", w.ClientKeyFile); err != nil {
		return ep, exchange.Options{}, err
	}
	if w.Auth == exchange.AuthKerberos {
		if ep.Kerberos, err = readKerberos(t.Name, l.fqdn, w, getenv); err != nil {
			return ep, exchange.Options{}, err
		}
	}
	if w.Auth != exchange.AuthCertificate && (w.Auth != exchange.AuthKerberos || w.Keytab == (Secret{})) { // a keytab replaces the password
		if ep.Password, err = LoadSecret(w.Password, getenv); err != nil {
			return ep, exchange.Options{}, fmt.Errorf("server %s: winrm.password: %w", t.Name, err)
		}
	}
	ep.Exchange = make([]exchange.ExchangeEndpoint, 0, len(t.via))
	for _, p := range t.via {
		x, err := p.connect(getenv)
		if err != nil {
			return ep, exchange.Options{}, fmt.Errorf("server %s: its Exchange cmdlets via %s: %w", t.Name, p.peer, err)
		}
		ep.Exchange = append(ep.Exchange, x)
	}
	ep.ExchangeURL = ep.Exchange[0].URL
	return ep, t.options, nil
}

// connect reads what p's Exchange endpoint needs: the CA of an https endpoint, Kerberos' files or the
// password.
func (p exchangePlan) connect(getenv func(string) string) (exchange.ExchangeEndpoint, error) {
	x, w := p.x, p.w
	u, err := url.Parse(x.URL)
	if err != nil {
		return x, fmt.Errorf("exchange_url %q: %w", x.URL, err)
	}
	if u.Scheme == "https" && w.CAFile != "" {
		if x.CACertPEM, err = os.ReadFile(w.CAFile); err != nil {
			return x, fmt.Errorf("ca_file: %w", err)
		}
	}
	if x.Auth == exchange.AuthKerberos {
		// The endpoint's principal is IIS's, HTTP/<the URL's host>, whatever the WinRM listener's spn says;
		// for an address (a lab) the server's HTTP/<fqdn>, as for its listener.
		kw := w
		kw.SPN = "HTTP/" + strings.ToLower(u.Hostname())
		if net.ParseIP(u.Hostname()) != nil {
			kw.SPN = ""
		}
		if x.Kerberos, err = readKerberos(p.peer, p.fqdn, kw, getenv); err != nil {
			return x, err
		}
		if w.Keytab != (Secret{}) {
			return x, nil
		}
	}
	if x.Password, err = LoadSecret(w.Password, getenv); err != nil {
		return x, fmt.Errorf("winrm.password: %w", err)
	}
	return x, nil
}

// readKerberos reads what auth = "kerberos" needs for server: krb5.conf, the keytab if one is configured,
// and the service principal (HTTP/<fqdn> unless w.SPN is set).
func readKerberos(server, fqdn string, w WinRM, getenv func(string) string) (*exchange.Kerberos, error) {
	path := w.Krb5Conf
	if path == "" {
		path = DefaultKrb5Conf
	}
	conf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server %s: winrm.krb5_conf: %w", server, err)
	}
	k := &exchange.Kerberos{Realm: w.Realm, Krb5Conf: string(conf), SPN: w.SPN}
	if k.SPN == "" {
		k.SPN = "HTTP/" + strings.ToLower(fqdn)
	}
	if w.Keytab != (Secret{}) {
		if k.Keytab, err = loadBytes(w.Keytab, getenv); err != nil {
			return nil, fmt.Errorf("server %s: winrm.keytab: %w", server, err)
		}
	}
	return k, nil
}
