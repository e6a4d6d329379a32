package exchange

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm/soap"

	"github.com/exmaintd/exmaintd/secret"
)

// Auth schemes for the WinRM listener.
const (
	AuthBasic       = "basic"       // HTTPS (plain HTTP only with AllowUnencrypted)
	AuthNTLM        = "ntlm"        // HTTP or HTTPS; the SOAP body is not sealed over HTTP
	AuthCertificate = "certificate" // HTTPS with a TLS client certificate mapped to a user on the server
	AuthKerberos    = "kerberos"    // SPNEGO with a Kerberos ticket (a domain account); over HTTP every message is sealed
)

// maxReply bounds one WS-Management response body (Windows' MaxEnvelopeSizekb is 500 KB by default).
const maxReply = 8 << 20

// TransportError is a failure to exchange one HTTP request with the listener: refused, reset, timed out,
// cut short. It is transient: a retry may succeed.
type TransportError struct {
	Server string
	Verb   string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("winrm %s on %s: %v", e.Verb, e.Server, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// RequestObserver sees every WS-Management request: verb (Create, Command, Send, Receive, Signal, Delete), a
// result class (ok, fault, timeout, auth, transport, protocol) and the time it took. The metrics package
// counts them.
type RequestObserver func(server, verb, result string, took time.Duration)

// transport posts SOAP messages to one WinRM listener with one auth scheme. It replaces masterzen's
// Transporter (which returns SOAP faults as successful empty replies and cannot be cancelled); the SOAP
// envelopes themselves are masterzen's.
type transport struct {
	server   string
	url      string
	scheme   string
	user     string
	password secret.Value
	http     *http.Client
	logger   *slog.Logger
	observe  RequestObserver
	krb      *kerberosAuth // AuthKerberos
	// mu serialises requests: go-ntlmssp's handshake breaks when another request runs on the pool meanwhile,
	// and the session protocol is strictly request/reply anyway.
	mu sync.Mutex
}

// newTransport is a transport to rawURL (the WinRM listener's /wsman, or Exchange's /PowerShell).
func newTransport(e Endpoint, rawURL string, logger *slog.Logger, observe RequestObserver) (*transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server %s: endpoint %q: want http or https", e.Name, rawURL)
	}
	plain := u.Scheme == "http"
	switch e.Auth {
	case AuthBasic:
	case AuthNTLM:
	case AuthKerberos:
		if e.Kerberos == nil || e.Kerberos.Realm == "" || e.Kerberos.Krb5Conf == "" {
			return nil, fmt.Errorf("server %s: auth %q needs a realm and a krb5.conf", e.Name, e.Auth)
		}
	case AuthCertificate:
		if plain {
			return nil, fmt.Errorf("server %s: auth %q needs https = true", e.Name, e.Auth)
		}
		if len(e.ClientCertPEM) == 0 || len(e.ClientKeyPEM) == 0 {
			return nil, fmt.Errorf("server %s: auth %q needs a client certificate and key", e.Name, e.Auth)
		}
	default:
		return nil, fmt.Errorf("server %s: unknown auth %q (want %s, %s, %s or %s)", e.Name, e.Auth, AuthBasic, AuthNTLM, AuthKerberos, AuthCertificate)
	}
	// Kerberos over plain HTTP seals every message with the session's key (kerberosSealer), as Windows
	// does. Basic and NTLM over plain HTTP would not be encrypted (NTLM sealing is not implemented:
	// docs/exchange-client.md): anyone on the path would read every command and result and could relay the
	// handshake or ride the authenticated keep-alive connection. Only an explicit allow_unencrypted (a
	// lab, loopback) permits that.
	if plain && (e.Auth == AuthBasic || e.Auth == AuthNTLM) && !e.AllowUnencrypted {
		return nil, fmt.Errorf("server %s: auth %q over plain HTTP (%s) is refused: nothing would be encrypted; use kerberos "+
			"(sealed over HTTP, Exchange's default), https (https = true, exchange_url = \"https://…/PowerShell\"), or set "+
			"allow_unencrypted = true for a trusted lab network", e.Name, e.Auth, u.Host)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.TLSServerName, InsecureSkipVerify: e.InsecureSkipVerify} //nolint:gosec // only when the operator sets insecure_skip_verify
	if len(e.CACertPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.CACertPEM) {
			return nil, fmt.Errorf("server %s: ca_file holds no PEM certificate", e.Name)
		}
		tlsConf.RootCAs = pool
	}
	if e.Auth == AuthCertificate {
		cert, err := tls.X509KeyPair(e.ClientCertPEM, e.ClientKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("server %s: client certificate: %w", e.Name, err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
		// HTTP.sys asks for the client certificate by renegotiating (TLS 1.2) once it sees the mutual-auth
		// header, unless the binding negotiates it up front; Go refuses renegotiation by default.
		tlsConf.Renegotiation = tls.RenegotiateOnceAsClient
	}
	base := &http.Transport{
		Proxy:               nil, // a WinRM listener is never reached through an HTTP proxy by accident
		DialContext:         dialAuthed((&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext),
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false, // WinRM is HTTP/1.1 (HTTP.sys connection-bound NTLM)
	}
	var rt http.RoundTripper = base
	if e.Auth == AuthNTLM {
		rt = ntlmssp.Negotiator{RoundTripper: noClearBasic{base}}
	}
	t := &transport{
		server: e.Name, url: u.String(),
		scheme: e.Auth, user: e.User, password: e.Password,
		// A cookie jar per endpoint: cookies a server sets (a load balancer's or IIS's affinity) go back to it
		// for the transport's life, as pypsrp's requests.Session keeps them.
		http:   &http.Client{Transport: rt, Jar: newJar(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		logger: logger, observe: observe,
	}
	if e.Auth == AuthKerberos {
		k, err := newKerberos(e)
		if err != nil {
			return nil, err
		}
		t.krb = k
		if plain {
			// The sealer authenticates its connection before any request and accepts only replies sealed in
			// the context the server's AP-REP proved: connAuthCheck has nothing to add.
			t.http.Transport = newKerberosSealer(k, u.Host)
			return t, nil
		}
		t.http.Transport = kerberosNegotiator{base: rt, krb: k}
	}
	if e.Auth == AuthKerberos || e.Auth == AuthNTLM {
		t.http.Transport = connAuthCheck{next: t.http.Transport}
	}
	return t, nil
}

// Cookies are kept within RFC 6265 §6.1's minimum capabilities: at most maxCookies distinct cookies per
// endpoint, each at most maxCookieBytes (name and value). Beyond that a server's Set-Cookie is dropped: a
// server could otherwise grow the jar, and every request's Cookie header, without end.
const (
	maxCookies     = 50
	maxCookieBytes = 4096
)

// boundedJar is an in-memory cookie jar for one endpoint that keeps at most maxCookies names.
type boundedJar struct {
	jar   *cookiejar.Jar
	mu    sync.Mutex
	names map[string]bool
}

// newJar returns an empty boundedJar. cookiejar.New fails only for a bad public-suffix list, and none is
// given.
func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return &boundedJar{jar: j, names: map[string]bool{}}
}

func (b *boundedJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := cookies[:0:0]
	for _, c := range cookies {
		if len(c.Name)+len(c.Value) > maxCookieBytes || (!b.names[c.Name] && len(b.names) >= maxCookies) {
			continue
		}
		b.names[c.Name] = true
		kept = append(kept, c)
	}
	b.jar.SetCookies(u, kept)
}

func (b *boundedJar) Cookies(u *url.URL) []*http.Cookie { return b.jar.Cookies(u) }

// noClearBasic stops go-ntlmssp from falling back to Basic (it does when the server offers no NTLM) over
// plain HTTP, which would put the password on the wire.
type noClearBasic struct{ http.RoundTripper }

func (n noClearBasic) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		return nil, errors.New("server offered no NTLM; refusing to fall back to Basic over plain HTTP")
	}
	return n.RoundTripper.RoundTrip(r)
}

func (t *transport) close() {
	t.http.CloseIdleConnections()
	if t.krb != nil {
		t.krb.close()
	}
}

// post sends one SOAP message and returns the response body of a 200. Everything else is an error: *Fault
// (a WS-Management fault or another HTTP status), *AuthError, *ProtocolError, *TransportError, or the
// context's error when ctx ended. The deadline is ctx's: the request is cancelled, never abandoned.
func (t *transport) post(ctx context.Context, verb string, msg *soap.SoapMessage) ([]byte, error) {
	body := msg.String()
	msg.Free()
	t.mu.Lock()
	defer t.mu.Unlock()
	start := time.Now()
	reply, err := t.postOnce(ctx, verb, body)
	var ae *AuthError
	if errors.As(err, &ae) && t.scheme == AuthNTLM && ctx.Err() == nil {
		// The NTLM handshake can land on two TCP connections (winrm-protocol.md §1.4): the server then has no
		// challenge for the AUTHENTICATE. Repeat it once on a fresh connection; a wrong password fails again.
		t.http.CloseIdleConnections()
		reply, err = t.postOnce(ctx, verb, body)
	}
	if t.observe != nil {
		t.observe(t.server, verb, resultClass(err), time.Since(start))
	}
	return reply, err
}

func (t *transport) postOnce(ctx context.Context, verb, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("winrm %s on %s: %w", verb, t.server, err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.Header.Set("User-Agent", "exmaintd")
	switch t.scheme {
	case AuthBasic, AuthNTLM: // go-ntlmssp takes the credentials from a Basic header and replaces it
		req.SetBasicAuth(t.user, t.password.Reveal())
	case AuthCertificate:
		req.Header.Set("Authorization", "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual")
	}
	resp, err := t.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("winrm %s on %s: %w", verb, t.server, ctx.Err())
		}
		var ke *kerberosError
		if errors.As(err, &ke) && !ke.transient {
			return nil, &AuthError{Server: t.server, Scheme: t.scheme, Detail: scrub(ke.err, t.password).Error()}
		}
		var ue *unauthenticatedReply
		if errors.As(err, &ue) {
			return nil, &AuthError{Server: t.server, Scheme: t.scheme, Detail: ue.Error()}
		}
		var se *sealError
		if errors.As(err, &se) {
			return nil, &ProtocolError{Server: t.server, What: verb + " reply", Err: se}
		}
		return nil, &TransportError{Server: t.server, Verb: verb, Err: scrub(err, t.password)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("winrm %s on %s: reading the reply: %w", verb, t.server, ctx.Err())
		}
		return nil, &TransportError{Server: t.server, Verb: verb, Err: fmt.Errorf("reading the reply: %w", err)}
	}
	if len(data) > maxReply {
		return nil, &ProtocolError{Server: t.server, What: verb + " reply", Err: fmt.Errorf("larger than %d bytes", maxReply)}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, &AuthError{Server: t.server, Scheme: t.scheme, Detail: fmt.Sprintf("http 401 for user %q (WWW-Authenticate: %s)", t.user, strings.Join(resp.Header.Values("WWW-Authenticate"), ", "))}
	case resp.StatusCode != http.StatusOK:
		f, ok := parseFault(data)
		if !ok {
			f.Message = strings.TrimSpace(string(bytes.ToValidUTF8(data[:min(len(data), 200)], nil)))
		}
		f.Server, f.Verb, f.HTTPStatus = t.server, verb, resp.StatusCode
		return nil, &f
	case !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml"):
		return nil, &ProtocolError{Server: t.server, What: verb + " reply", Err: fmt.Errorf("content type %q is not SOAP", resp.Header.Get("Content-Type"))}
	}
	// A reply cut short or garbled on the way is the request's failure, and the metrics count it so
	// (result "protocol"), not an ok request whose caller then fails to parse it.
	if err := wellFormed(data); err != nil {
		return nil, &ProtocolError{Server: t.server, What: verb + " reply", Err: err}
	}
	return data, nil
}

// wellFormed reports whether data is one complete, well-formed XML document.
func wellFormed(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, root := 0, false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if !root || depth != 0 {
				return errors.New("the XML document is incomplete")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			root = true
		case xml.EndElement:
			depth--
		}
	}
}

// scrub removes the password from an error text (url.Error can carry a URL with credentials in some
// configurations; a password must never reach a log or a metric).
func scrub(err error, pw secret.Value) error {
	p := pw.Reveal()
	if p == "" || !strings.Contains(err.Error(), p) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), p, "<redacted>"))
}

// resultClass names the outcome of one request for metrics: a small fixed set.
func resultClass(err error) string {
	var (
		f  *Fault
		ae *AuthError
		pe *ProtocolError
		te *TransportError
	)
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &f) && f.Code == FaultOperationTimeout:
		return "operation_timeout"
	case errors.As(err, &f):
		return "fault"
	case errors.As(err, &ae):
		return "auth"
	case errors.As(err, &pe):
		return "protocol"
	case errors.As(err, &te):
		return "transport"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "deadline"
	}
	return "error"
}

// RequestResults are the values resultClass gives, for exporting every series from the start.
func RequestResults() []string {
	return []string{"ok", "operation_timeout", "fault", "auth", "protocol", "transport", "deadline", "error"}
}
