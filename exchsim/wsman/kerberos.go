package wsman

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	gasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exmaintd/exmaintd/gsswrap"
)

// Kerberos turns on Kerberos (SPNEGO "Negotiate" with a Kerberos token) for a listener: the service key of
// HTTP/<FQDN> comes from Keytab, as a domain-joined Windows server holds it, and the ticket's client must
// be the configured account in Realm.
type Kerberos struct {
	Keytab *keytab.Keytab
	Realm  string // e.g. EXLAB.LOCAL
}

// kerberosAuthenticate checks a Negotiate token that is not NTLM: an SPNEGO NegTokenInit (or a raw
// Kerberos AP-REQ, as some clients send) whose ticket is for this listener's HTTP/<FQDN> principal. It
// returns the user (DOMAIN\user), the Negotiate token for the reply — the AP-REP of mutual
// authentication, which Windows sends and GSSAPI clients (requests-kerberos) require, in an SPNEGO
// accept-completed when the request was SPNEGO, bare when it was a bare Kerberos token — and the security
// context that seals the connection's messages. As Windows and MIT acceptors do for AES, the AP-REP carries
// a fresh acceptor subkey and sequence number, so a client that seals with the ticket's session key (or
// ignores the subkey) fails here as it would on a real server.
func (s *Server) kerberosAuthenticate(token []byte) (user, reply string, sec *gsswrap.Context, err error) {
	k := s.cfg.Kerberos
	if k == nil || k.Keytab == nil {
		return "", "", nil, errors.New("kerberos is not enabled on this listener")
	}
	mech, wrapped := token, false
	var st spnego.SPNEGOToken
	if st.Unmarshal(token) == nil {
		wrapped = true
		if !st.Init || len(st.NegTokenInit.MechTypes) == 0 || len(st.NegTokenInit.MechTokenBytes) == 0 {
			return "", "", nil, errors.New("negotiate token carries no Kerberos mechanism token")
		}
		if oid := st.NegTokenInit.MechTypes[0]; !oid.Equal(gssapi.OIDKRB5.OID()) && !oid.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
			return "", "", nil, fmt.Errorf("negotiate mechanism %v is not Kerberos", oid)
		}
		mech = st.NegTokenInit.MechTokenBytes
	}
	var k5 spnego.KRB5Token
	if err := k5.Unmarshal(mech); err != nil {
		return "", "", nil, fmt.Errorf("negotiate token is not a Kerberos token: %w", err)
	}
	if !k5.IsAPReq() {
		return "", "", nil, errors.New("negotiate token is not a Kerberos AP-REQ")
	}
	spn := "HTTP/" + strings.ToLower(s.cfg.FQDN)
	settings := service.NewSettings(k.Keytab, service.KeytabPrincipal(spn), service.DecodePAC(false))
	ok, creds, err := service.VerifyAPREQ(&k5.APReq, settings)
	if err != nil {
		return "", "", nil, fmt.Errorf("kerberos ticket for %s rejected: %w", spn, err)
	}
	if !ok || creds == nil {
		return "", "", nil, fmt.Errorf("kerberos ticket for %s rejected", spn)
	}
	if !strings.EqualFold(creds.Domain(), k.Realm) || !s.userMatches(creds.UserName(), "") {
		return "", "", nil, fmt.Errorf("kerberos client %s@%s is not the account this listener accepts", creds.UserName(), creds.Domain())
	}
	sessionKey := k5.APReq.Ticket.DecryptedEncPart.Key
	et, err := crypto.GetEtype(sessionKey.KeyType)
	if err != nil {
		return "", "", nil, fmt.Errorf("kerberos: session key: %w", err)
	}
	subkey, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return "", "", nil, fmt.Errorf("kerberos: acceptor subkey: %w", err)
	}
	seq, err := acceptorSeq()
	if err != nil {
		return "", "", nil, err
	}
	rep, err := apRep(k5.OID, sessionKey, k5.APReq.Authenticator, subkey, seq)
	if err != nil {
		return "", "", nil, fmt.Errorf("kerberos: building the AP-REP: %w", err)
	}
	// An RC4 session key authenticates but cannot seal (gsswrap): such a connection then only carries
	// requests where AllowUnencrypted permits clear text.
	sec, _ = gsswrap.NewAcceptor(gsswrap.Params{Key: subkey, AcceptorSubkey: true,
		InitiatorSeq: uint64(k5.APReq.Authenticator.SeqNumber), AcceptorSeq: uint64(seq)})
	user = s.cfg.Domain + `\` + s.cfg.User
	if !wrapped { // a raw Kerberos token gets a raw Kerberos answer (GSS-API's krb5 mechanism, not SPNEGO)
		return user, base64.StdEncoding.EncodeToString(rep), sec, nil
	}
	resp := spnego.NegTokenResp{NegState: gasn1.Enumerated(spnego.NegStateAcceptCompleted), SupportedMech: k5.OID, ResponseToken: rep}
	b, err := resp.Marshal()
	if err != nil {
		return "", "", nil, fmt.Errorf("kerberos: marshalling the SPNEGO reply: %w", err)
	}
	return user, base64.StdEncoding.EncodeToString(b), sec, nil
}

// acceptorSeq is a random initial sequence number, in the 30 bits MIT and gokrb5 use.
func acceptorSeq() (int64, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("kerberos: sequence number: %w", err)
	}
	return int64(binary.BigEndian.Uint32(b[:]) & 0x3fffffff), nil
}

// encAPRepPart is RFC 4120's EncAPRepPart ([APPLICATION 27]); gokrb5 only parses it.
type encAPRepPart struct {
	CTime     time.Time           `asn1:"generalized,explicit,tag:0"`
	Cusec     int                 `asn1:"explicit,tag:1"`
	Subkey    types.EncryptionKey `asn1:"explicit,optional,tag:2"`
	SeqNumber int64               `asn1:"explicit,optional,tag:3"`
}

// apRepMsg is RFC 4120's AP-REP ([APPLICATION 15]).
type apRepMsg struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

// apRep builds the GSS-API Kerberos token (RFC 1964 §1.1: OID, TOK_ID 02 00, AP-REP) answering an AP-REQ:
// its ctime and cusec, encrypted in the ticket's session key, prove that the server could read the ticket;
// subkey and seq start the acceptor's side of the security context.
func apRep(oid gasn1.ObjectIdentifier, key types.EncryptionKey, auth types.Authenticator, subkey types.EncryptionKey, seq int64) ([]byte, error) {
	part, err := gasn1.Marshal(encAPRepPart{CTime: auth.CTime.UTC(), Cusec: auth.Cusec, Subkey: subkey, SeqNumber: seq})
	if err != nil {
		return nil, err
	}
	enc, err := crypto.GetEncryptedData(asn1tools.AddASNAppTag(part, 27), key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	msg, err := gasn1.Marshal(apRepMsg{PVNO: 5, MsgType: 15, EncPart: enc})
	if err != nil {
		return nil, err
	}
	b, err := gasn1.Marshal(oid)
	if err != nil {
		return nil, err
	}
	b = append(b, 0x02, 0x00)
	b = append(b, asn1tools.AddASNAppTag(msg, 15)...)
	return asn1tools.AddASNAppTag(b, 0), nil
}
