package exchange

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	gasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exmaintd/exmaintd/gsswrap"
)

// kerberosAuth puts a SPNEGO Kerberos token on the requests kerberosNegotiator chooses (gokrb5, already in
// the module graph through masterzen/winrm). The client logs in once, keeps its TGT and the listener's
// service ticket, and logs in again when they expire. It needs no lock of its own: it runs only inside
// transport.post, which serialises a client's requests.
type kerberosAuth struct {
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

// authorize sets the Authorization header: an SPNEGO token with a new authenticator for the (cached)
// service ticket, asking for mutual authentication. The returned proof checks the server's answer.
func (k *kerberosAuth) authorize(r *http.Request) (*mutualProof, error) {
	if err := k.cl.AffirmLogin(); err != nil {
		return nil, fmt.Errorf("kerberos login: %w", err)
	}
	tkt, key, err := k.cl.GetServiceTicket(k.spn)
	if err != nil {
		return nil, fmt.Errorf("kerberos ticket for %s: %w", k.spn, err)
	}
	mt, err := spnego.NewKRB5TokenAPREQ(k.cl, tkt, key,
		[]int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf, gssapi.ContextFlagMutual}, []int{flags.APOptionMutualRequired})
	if err != nil {
		return nil, fmt.Errorf("kerberos AP-REQ for %s: %w", k.spn, err)
	}
	// gokrb5 keeps only the encrypted authenticator; its ctime and cusec are what the AP-REP must echo.
	if err := mt.APReq.DecryptAuthenticator(key); err != nil {
		return nil, fmt.Errorf("kerberos AP-REQ for %s: %w", k.spn, err)
	}
	mtb, err := mt.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos AP-REQ for %s: %w", k.spn, err)
	}
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{MechTypes: []gasn1.ObjectIdentifier{gssapi.OIDKRB5.OID()}, MechTokenBytes: mtb}}
	b, err := st.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos SPNEGO token for %s: %w", k.spn, err)
	}
	r.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(b))
	a := mt.APReq.Authenticator
	return &mutualProof{spn: k.spn, key: key, ctime: a.CTime, cusec: a.Cusec, seq: a.SeqNumber, subkey: a.SubKey}, nil
}

// mutualProof is what the server must show to prove it holds the service key: an AP-REP, encrypted in the
// ticket's session key, echoing the authenticator's time (RFC 4120 §3.2.4). Without the check, anyone who
// can answer for the listener's name — a spoofed DNS record over HTTP — would be believed about queue
// depths and copy health.
type mutualProof struct {
	spn    string
	key    types.EncryptionKey
	ctime  time.Time
	cusec  int
	seq    int64               // the authenticator's sequence number: the client's messages count from it
	subkey types.EncryptionKey // the authenticator's subkey (gokrb5 sends none)
}

func (m *mutualProof) verify(resp *http.Response) error {
	_, err := m.check(resp)
	return err
}

// sealing is the security context the verified AP-REP completes (gsswrap): the acceptor's subkey when it
// chose one (Windows and MIT do for AES), else the authenticator's, else the ticket's session key.
func (m *mutualProof) sealing(resp *http.Response) (*gsswrap.Context, error) {
	part, err := m.check(resp)
	if err != nil {
		return nil, err
	}
	p := gsswrap.Params{Key: m.key, InitiatorSeq: uint64(m.seq), AcceptorSeq: uint64(part.SequenceNumber)}
	switch {
	case len(part.Subkey.KeyValue) > 0:
		p.Key, p.AcceptorSubkey = part.Subkey, true
	case len(m.subkey.KeyValue) > 0:
		p.Key = m.subkey
	}
	return gsswrap.NewInitiator(p)
}

// check verifies the server's AP-REP and returns its decrypted part.
func (m *mutualProof) check(resp *http.Response) (*messages.EncAPRepPart, error) {
	var token []byte
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(v), "Negotiate "); ok {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t))
			if err != nil {
				return nil, fmt.Errorf("mutual authentication: %w", err)
			}
			token = b
		}
	}
	if token == nil {
		return nil, fmt.Errorf("mutual authentication: the server sent no Kerberos reply (AP-REP) for %s", m.spn)
	}
	var st spnego.SPNEGOToken
	if st.Unmarshal(token) == nil {
		if !st.Resp || len(st.NegTokenResp.ResponseToken) == 0 {
			return nil, errors.New("mutual authentication: SPNEGO reply without a response token")
		}
		token = st.NegTokenResp.ResponseToken
	}
	var k5 spnego.KRB5Token
	if err := k5.Unmarshal(token); err != nil {
		return nil, fmt.Errorf("mutual authentication: %w", err)
	}
	if !k5.IsAPRep() {
		return nil, errors.New("mutual authentication: the server's Kerberos reply is not an AP-REP")
	}
	plain, err := crypto.DecryptEncPart(k5.APRep.EncPart, m.key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("mutual authentication: the AP-REP is not encrypted in the session key of %s: %w", m.spn, err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("mutual authentication: %w", err)
	}
	if !part.CTime.Equal(m.ctime) || part.Cusec != m.cusec {
		return nil, errors.New("mutual authentication: the AP-REP does not echo this request's authenticator")
	}
	return &part, nil
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
	proof, err := n.krb.authorize(again)
	if err != nil {
		return nil, &kerberosError{err: err, transient: strings.Contains(err.Error(), "Networking_Error")}
	}
	resp, err = n.base.RoundTrip(again)
	if err != nil || resp.StatusCode == http.StatusUnauthorized {
		return resp, err
	}
	if err := proof.verify(resp); err != nil {
		_ = resp.Body.Close()
		return nil, &kerberosError{err: err}
	}
	return resp, nil
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
