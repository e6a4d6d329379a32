package exchange

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// kerberosAuth puts a SPNEGO Kerberos token on requests (gokrb5, already in the module graph through
// masterzen/winrm). The client logs in once, keeps its TGT and the listener's service ticket, and logs in
// again when they expire.
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

// transient reports whether a Kerberos failure is the KDC being unreachable (worth a retry), not a refusal.
func (k *kerberosAuth) transient(err error) bool {
	return strings.Contains(err.Error(), "Networking_Error")
}

func (k *kerberosAuth) close() { k.cl.Destroy() }
