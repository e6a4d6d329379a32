package exchange

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// kerberosAuth puts a SPNEGO Kerberos token on the requests kerberosNegotiator chooses (gokrb5, already in
// the module graph through masterzen/winrm). The client logs in once, keeps its TGT and the listener's
// service ticket, and logs in again when they expire.
type kerberosAuth struct {
	mu  sync.Mutex // gokrb5's client cache is safe, but one login at a time is enough
	cl  *client.Client
	spn string
}

func newKerberos(e Endpoint) (*kerberosAuth, error) {
	k := e.Kerberos
	cfg, err := krbconfig.NewFromString(k.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("server %s: krb5.conf: %w", e.Name, err)
	}
	user := e.User
	if _, u, ok := strings.Cut(user, `\`); ok { // DOMAIN\user: the realm is configured separately
		user = u
	}
	if u, realm, ok := strings.Cut(user, "@"); ok {
		if !strings.EqualFold(realm, k.Realm) {
			return nil, fmt.Errorf("server %s: user %q is not in realm %s", e.Name, e.User, k.Realm)
		}
		user = u
	}
	if user == "" {
		return nil, fmt.Errorf("server %s: auth %q needs a user", e.Name, AuthKerberos)
	}
	// Active Directory KDCs do not offer FAST; gokrb5 would otherwise insist on it.
	var cl *client.Client
	if len(k.Keytab) > 0 {
		kt := keytab.New()
		if err := kt.Unmarshal(k.Keytab); err != nil {
			return nil, fmt.Errorf("server %s: keytab: %w", e.Name, err)
		}
		cl = client.NewWithKeytab(user, k.Realm, kt, cfg, client.DisablePAFXFAST(true))
	} else {
		if e.Password.Reveal() == "" {
			return nil, fmt.Errorf("server %s: auth %q needs a password or a keytab", e.Name, AuthKerberos)
		}
		cl = client.NewWithPassword(user, k.Realm, e.Password.Reveal(), cfg, client.DisablePAFXFAST(true))
	}
	spn := k.SPN
	if spn == "" {
		host := e.TLSServerName
		if host == "" {
			host = e.Host
		}
		spn = "HTTP/" + strings.ToLower(host)
	}
	return &kerberosAuth{cl: cl, spn: spn}, nil
}

// authorize sets the Authorization header: a new authenticator for the (cached) service ticket.
func (k *kerberosAuth) authorize(r *http.Request) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := spnego.SetSPNEGOHeader(k.cl, r, k.spn); err != nil {
		return fmt.Errorf("kerberos ticket for %s: %w", k.spn, err)
	}
	return nil
}

// kerberosError is a failure to get or use a ticket; transient when the KDC could not be reached (worth a
// retry), otherwise a refusal (wrong password, unknown principal).
type kerberosError struct {
	err       error
	transient bool
}

func (e *kerberosError) Error() string { return e.err.Error() }
func (e *kerberosError) Unwrap() error { return e.err }

// kerberosNegotiator authenticates connections, not requests, as HTTP.sys (and go-ntlmssp for NTLM) does:
// a request goes out without credentials, and only a 401 offering Negotiate makes it go again with a
// fresh authenticator. On a kept-alive connection that is once, instead of an AES round on both sides for
// every request of a 30-minute drain.
type kerberosNegotiator struct {
	base http.RoundTripper
	krb  *kerberosAuth
}

func (n kerberosNegotiator) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := n.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !offersNegotiate(resp) || r.GetBody == nil {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // keep the connection for the retry
	_ = resp.Body.Close()
	body, err := r.GetBody()
	if err != nil {
		return nil, err
	}
	again := r.Clone(r.Context())
	again.Body = body
	if err := n.krb.authorize(again); err != nil {
		return nil, &kerberosError{err: err, transient: strings.Contains(err.Error(), "Networking_Error")}
	}
	return n.base.RoundTrip(again)
}

func offersNegotiate(resp *http.Response) bool {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "negotiate") {
			return true
		}
	}
	return false
}

func (k *kerberosAuth) close() { k.cl.Destroy() }
