package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/exmaintd/exmaintd/exchange"
)

// The Exchange channel: where a server's Exchange cmdlets run (docs/exchange-client.md, "Through a peer").

// ExchangeVia lists, in order, the servers whose Exchange endpoints run s's Exchange cmdlets: exchange_via
// when set; else the other members of s's DAG, starting after s in the DAG's order (so that the members
// do not all lean on the first one); else the other servers of s's site — and s itself last. The client
// passes over a server in maintenance, except the last endpoint: so s's own is used only when no peer
// answers or while s is not maintained (a DAG member watched after its exit while its only peer is
// maintained), and it is the only one of a standalone server alone in its site.
func (c *Config) ExchangeVia(s Server) []Server {
	via, _ := c.exchangeVia(s)
	return via
}

// exchangeVia is ExchangeVia; bySite tells that the peers are servers of s's site, which the client uses
// only when they run s's Exchange release (exchange.Version.Product: SE with SE).
func (c *Config) exchangeVia(s Server) (via []Server, bySite bool) {
	var out []Server
	add := func(name string) {
		if o, ok := c.server(name); ok && !strings.EqualFold(o.Name, s.Name) {
			out = append(out, o)
		}
	}
	if len(s.ExchangeVia) > 0 {
		for _, n := range s.ExchangeVia {
			add(n)
		}
		return append(out, s), false
	}
	if members := c.DAGOf(s.Name).Servers; len(members) > 0 {
		at := slices.IndexFunc(members, func(m string) bool { return strings.EqualFold(m, s.Name) })
		for k := 1; k < len(members); k++ {
			add(members[(at+k)%len(members)])
		}
	}
	if len(out) == 0 && s.Site != "" {
		for _, o := range c.Servers {
			if strings.EqualFold(o.Site, s.Site) {
				add(o.Name)
			}
		}
		bySite = len(out) > 0
	}
	return append(out, s), bySite
}

// ExchangeChannel is p's Exchange endpoint and the auth exmaintd uses there: exchange_url, else
// http://<fqdn>/PowerShell, as Exchange ships it; exchange_auth, else kerberos.
func (c *Config) ExchangeChannel(p Server) (rawURL, auth string) {
	w := c.Merged(p)
	rawURL, auth = w.ExchangeURL, w.ExchangeAuth
	if rawURL == "" {
		host := c.FQDN(p)
		if host == "" {
			host = p.Host
		}
		rawURL = "http://" + host + "/PowerShell"
	}
	if auth == "" {
		auth = exchange.AuthKerberos
	}
	return rawURL, auth
}

// validateExchange checks every server's Exchange channel: its peers exist, its auth can ever open the
// endpoint, and no two servers share an endpoint name (a load-balanced name breaks a shell's affinity).
func (c *Config) validateExchange(col *collector, servers map[string]bool) {
	hosts := map[string]string{}
	for i, s := range c.Servers {
		key := fmt.Sprintf("server[%d]", i)
		for _, v := range s.ExchangeVia {
			switch {
			case strings.EqualFold(v, s.Name):
				col.add(key+".exchange_via", "%q is this server: its own Exchange endpoint stops while it is patched; name other servers, or leave exchange_via out", v)
			case !servers[strings.ToUpper(v)]:
				col.add(key+".exchange_via", "unknown server %q (no [[server]] with that name)", v)
			}
		}
		w := c.Merged(s)
		rawURL, auth := c.ExchangeChannel(s)
		if w.ExchangeAuth != "" && !slices.Contains([]string{exchange.AuthKerberos, exchange.AuthNTLM, exchange.AuthBasic}, w.ExchangeAuth) {
			col.add(key+".winrm.exchange_auth", "%q: want kerberos (Exchange's default), ntlm or basic", w.ExchangeAuth)
			continue
		}
		u, err := url.Parse(rawURL)
		if err != nil || u.Hostname() == "" {
			continue // validateWinRM named exchange_url
		}
		plain := u.Scheme == "http"
		switch {
		case auth == exchange.AuthKerberos && w.Realm == "":
			col.add(key+".winrm.exchange_auth", "kerberos (the default: Exchange's /PowerShell takes only Kerberos as it ships) needs realm, in [winrm] or here; "+
				"or set exchange_auth = \"ntlm\" or \"basic\" if the virtual directory allows it")
		case auth == exchange.AuthKerberos && w.User == "":
			col.add(key+".winrm.exchange_auth", "kerberos needs user, in [winrm] or here")
		case auth != exchange.AuthKerberos && (w.User == "" || w.Password == (Secret{})):
			col.add(key+".winrm.exchange_auth", "%s needs user and password, in [winrm] or here", auth)
		case auth == exchange.AuthBasic && plain:
			col.add(key+".winrm.exchange_auth", "basic over plain HTTP (%s) would send the password in clear: use kerberos, or an https exchange_url", rawURL)
		case auth == exchange.AuthNTLM && plain && !boolOr(w.AllowUnencrypted, false):
			col.add(key+".winrm.exchange_auth", "ntlm over plain HTTP (%s) can never open: nothing would be encrypted, so the client refuses it; use kerberos "+
				"(sealed over HTTP, Exchange's default), an https exchange_url, or allow_unencrypted = true for a lab", rawURL)
		}
		h := strings.ToLower(u.Host)
		if other, dup := hosts[h]; dup {
			col.add(key+".winrm.exchange_url", "%s is also server %s's Exchange endpoint: each server needs its own (a load-balanced name sends one shell's "+
				"requests to different servers, which breaks it with WSMan-InvalidShellID)", rawURL, other)
		}
		hosts[h] = s.Name
	}
}

// exchangeWarnings are the Exchange channels that may not be one server's own endpoint.
func (c *Config) exchangeWarnings() []string {
	var out []string
	for _, s := range c.Servers {
		rawURL, _ := c.ExchangeChannel(s)
		u, err := url.Parse(rawURL)
		if err != nil {
			continue
		}
		h := u.Hostname()
		if !strings.EqualFold(h, c.FQDN(s)) && !strings.EqualFold(h, s.Host) {
			out = append(out, fmt.Sprintf("server %s: exchange_url %s names neither its fqdn nor its host: if that is a load-balanced name, "+
				"requests of one shell can land on different servers and fail (WSMan-InvalidShellID); use the server's own name", s.Name, rawURL))
		}
	}
	return out
}

// Channels describes, for an operator, how exmaintd reaches s: its WinRM listener (operating-system work)
// and the Exchange endpoints that run its cmdlets, in the order they are tried.
func (c *Config) Channels(s Server) (winrs, exch string) {
	w := c.Merged(s)
	scheme, port := "https", w.Port
	if !boolOr(w.HTTPS, true) {
		scheme = "http"
	}
	winrs = fmt.Sprintf("%s://%s/wsman (%s)", scheme, net.JoinHostPort(s.Host, strconv.Itoa(port)), w.Auth)
	var parts []string
	via, bySite := c.exchangeVia(s)
	for _, p := range via {
		u, auth := c.ExchangeChannel(p)
		who := "via " + p.Name
		if strings.EqualFold(p.Name, s.Name) {
			who = "its own"
		} else if bySite {
			who += " if the same release"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", who, u, auth))
	}
	return winrs, strings.Join(parts, ", then ")
}
