package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// certWarning is how close to its expiry a certificate is worth a warning: a monthly window would meet
// the expired one next.
const certWarning = 30 * 24 * time.Hour

// endpoint is one HTTP(S) endpoint as the network checks see it.
type endpoint struct {
	channel, what  string // channel of the checks; what names the endpoint in their details
	suffix         string // after each check's name: "" for the listener, " EX02/PowerShell" for an Exchange endpoint
	host           string
	port           int
	https          bool
	serverName     string // the name the certificate must carry
	caPEM          []byte
	skipVerify     bool
	auth           string
	allowPlaintext bool
}

// network checks the WinRM listener and every Exchange endpoint the server's cmdlets may run on: name
// resolution, a TCP connection, and for HTTPS the certificate chain and name; for HTTP, whether messages
// are encrypted. It reports whether the listener can be reached (the rest of the probe needs it).
func (p *serverProbe) network(ctx context.Context, ep exchange.Endpoint) bool {
	listener := endpoint{channel: "network", what: "WinRM listener", host: ep.Host, port: ep.Port, https: ep.HTTPS,
		serverName: ep.TLSServerName, caPEM: ep.CACertPEM, skipVerify: ep.InsecureSkipVerify, auth: ep.Auth, allowPlaintext: ep.AllowUnencrypted}
	ok := p.reach(ctx, listener)
	for _, x := range ep.Exchange {
		u, err := url.Parse(x.URL)
		if err != nil {
			p.add(Check{Channel: "network", Name: "exchange_url", Status: Fail, Detail: fmt.Sprintf("%s: %v", x.URL, err)})
			continue
		}
		port, _ := strconv.Atoi(u.Port())
		https := strings.EqualFold(u.Scheme, "https")
		if port == 0 {
			port = 80
			if https {
				port = 443
			}
		}
		p.reach(ctx, endpoint{channel: "network", what: x.Server + "'s /PowerShell", suffix: " " + x.Server + "/PowerShell", host: u.Hostname(), port: port, https: https,
			serverName: x.TLSServerName, caPEM: x.CACertPEM, skipVerify: x.InsecureSkipVerify, auth: x.Auth, allowPlaintext: x.AllowUnencrypted})
	}
	return ok
}

// reach runs the checks of one endpoint and reports whether it answered a TCP connection.
func (p *serverProbe) reach(ctx context.Context, e endpoint) bool {
	addr := net.JoinHostPort(e.host, strconv.Itoa(e.port))
	p.timed(e.channel, "dns"+e.suffix, func() Check {
		if net.ParseIP(e.host) != nil {
			return Check{Status: OK, Detail: e.what + ": " + e.host + " is an address"}
		}
		addrs, err := net.DefaultResolver.LookupHost(ctx, e.host)
		if err != nil {
			return Check{Status: Fail, Detail: fmt.Sprintf("%s: %s does not resolve: %v", e.what, e.host, err),
				Remedy: "add the name to DNS (or /etc/hosts) on this host, or give the server's address as host (keep fqdn: Redirect-Message needs it)"}
		}
		return Check{Status: OK, Detail: fmt.Sprintf("%s: %s → %s", e.what, e.host, strings.Join(addrs, ", "))}
	})
	c := p.timed(e.channel, "tcp"+e.suffix, func() Check {
		d := net.Dialer{Timeout: p.o.DialTimeout}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return Check{Status: Fail, Detail: fmt.Sprintf("%s: %s: %v", e.what, addr, err),
				Remedy: "open the port in the server's and the network's firewalls; for WinRM, create the listener (winrm quickconfig -transport:https)"}
		}
		_ = conn.Close()
		return Check{Status: OK, Detail: e.what + ": " + addr + " accepts connections"}
	})
	if c.Status != OK {
		return false
	}
	if !e.https {
		p.plaintext(e)
		return true
	}
	p.timed(e.channel, "tls"+e.suffix, func() Check { return p.certificate(ctx, e, addr) })
	return true
}

// plaintext reports how a plain-HTTP endpoint protects its messages: with Kerberos or NTLM the messages
// are sealed (MS-WSMV encryption), with Basic or allow_unencrypted they are not.
func (p *serverProbe) plaintext(e endpoint) {
	c := Check{Channel: e.channel, Name: "encryption" + e.suffix, Status: OK, Detail: fmt.Sprintf("%s: plain HTTP, every message sealed by %s", e.what, e.auth)}
	if e.allowPlaintext || e.auth == exchange.AuthBasic {
		c.Status, c.Detail = Warn, fmt.Sprintf("%s: plain HTTP without message encryption (%s): credentials and data can be read on the wire", e.what, e.auth)
		c.Remedy = "use HTTPS (port 5986 for WinRM, https://<fqdn>/PowerShell), or Kerberos or NTLM, which seal each message"
	}
	p.add(c)
}

// certificate verifies the endpoint's certificate as the client will (its CA or the system's, the name it
// is configured to expect) and says whose it is and when it expires.
func (p *serverProbe) certificate(ctx context.Context, e endpoint, addr string) Check {
	name := e.serverName
	if name == "" {
		name = e.host
	}
	cfg := &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
	if len(e.caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.caPEM) {
			return Check{Status: Fail, Detail: e.what + ": the configured CA file holds no PEM certificate", Remedy: "point ca_file at the issuing CA's certificate in PEM"}
		}
		cfg.RootCAs = pool
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: p.o.DialTimeout}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c := Check{Status: Fail, Detail: fmt.Sprintf("%s: the certificate does not verify for %q: %v", e.what, name, err),
			Remedy: "trust the issuing CA (ca_file), or set tls_server_name to the name the certificate carries"}
		if e.skipVerify {
			c.Status, c.Remedy = Warn, "insecure_skip_verify is set, so exmaintd connects anyway: trust the CA (ca_file) and remove it"
		}
		return c
	}
	defer func() { _ = conn.Close() }()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	leaf := certs[0]
	left := leaf.NotAfter.Sub(p.o.Now())
	c := Check{Status: OK, Detail: fmt.Sprintf("%s: %s, issued by %s, valid for %q until %s", e.what, leaf.Subject.CommonName, leaf.Issuer.CommonName, name, leaf.NotAfter.UTC().Format("2006-01-02"))}
	if left < certWarning {
		c.Status, c.Remedy = Warn, "renew the certificate before the next window"
	}
	if e.skipVerify {
		c.Status, c.Remedy = Warn, "the certificate verifies: remove insecure_skip_verify"
	}
	return c
}
