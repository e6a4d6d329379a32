package wsman

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/exmaintd/exmaintd/gsswrap"
)

// ntlmBase64Prefix starts every base64-encoded NTLM message ("NTLMSSP\x00"): a Negotiate token that starts
// otherwise is Kerberos (SPNEGO).
const ntlmBase64Prefix = "TlRMTVNT"

// connState is per TCP connection: HTTP.sys binds NTLM authentication to the connection, so a client that
// authenticated once sends later requests on that connection without an Authorization header.
type connState struct {
	mu        sync.Mutex
	challenge []byte // the server challenge of an NTLM handshake in progress
	user      string // set once NTLM or Kerberos succeeded on this connection
	// seal is the Kerberos security context of the connection (nil before Kerberos, or with an RC4 key):
	// sealed requests are opened and their replies sealed with it.
	seal *gsswrap.Context
}

// connStateOf is the request's connection state (a fresh one when the server runs without ConnContext).
func connStateOf(r *http.Request) *connState {
	if cs, ok := r.Context().Value(connKey{}).(*connState); ok {
		return cs
	}
	return &connState{}
}

// sealing returns the connection's Kerberos security context, if any.
func (cs *connState) sealing() *gsswrap.Context {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.seal
}

type connKey struct{}

// ConnContext attaches per-connection auth state; use it as http.Server.ConnContext.
func (s *Server) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// ConnectionAuth counts, for tests of connection-bound authentication (HTTP.sys binds NTLM and Kerberos to
// the TCP connection): requests served without an Authorization header on a connection that had
// authenticated, and challenges (401) answered on such a connection — which a bound connection never needs.
func (s *Server) ConnectionAuth() (bound, rechallenged int64) {
	return s.bound.Load(), s.rechallenged.Load()
}

// authenticate returns the authenticated user, or writes a 401 and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	cs := connStateOf(r) // without ConnContext, NTLM needs one request per handshake leg
	encrypted := r.TLS != nil
	authz := r.Header.Get("Authorization")
	scheme, payload, _ := strings.Cut(authz, " ")
	switch {
	case authz == "":
		cs.mu.Lock()
		user := cs.user
		cs.mu.Unlock()
		if user != "" { // only Kerberos binds a user to a plain-HTTP connection without AllowUnencrypted (sealing)
			s.bound.Add(1)
			return user, true
		}
	case strings.EqualFold(scheme, "Basic") && !s.cfg.DisableBasic:
		if !encrypted && !s.cfg.AllowUnencrypted {
			s.logger.Info("refused Basic over plain HTTP (AllowUnencrypted is false)")
			break
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			break
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if ok && s.userMatches(user, "") && subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password)) == 1 {
			return user, true
		}
		s.logger.Info("Basic authentication failed", "user", user)
	case authz == MutualAuthHeader:
		user, err := s.certAuthenticate(r)
		if err == nil {
			return user, true
		}
		s.logger.Info("certificate authentication failed", "err", err)
	case strings.EqualFold(scheme, "Negotiate") && s.cfg.Kerberos != nil && !strings.HasPrefix(strings.TrimSpace(payload), ntlmBase64Prefix):
		// Kerberos over plain HTTP is allowed to authenticate: the AP-REQ reveals nothing, and the
		// context it sets up seals the messages. ServeHTTP refuses clear-text bodies (AllowUnencrypted).
		token, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			break
		}
		user, reply, sec, err := s.kerberosAuthenticate(token)
		if err != nil {
			s.logger.Info("Kerberos authentication failed", "err", err)
			break
		}
		w.Header().Set("WWW-Authenticate", "Negotiate "+reply) // mutual authentication
		cs.mu.Lock()
		cs.user, cs.seal = user, sec // HTTP.sys binds Kerberos authentication and its context to the connection
		cs.mu.Unlock()
		return user, true
	case (strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM")) && !s.cfg.DisableNTLM:
		if user, ok := s.ntlmStep(w, cs, scheme, strings.TrimSpace(payload), encrypted); ok {
			return user, true
		}
		return "", false // ntlmStep answered
	}
	cs.mu.Lock()
	if cs.user != "" {
		s.rechallenged.Add(1)
	}
	cs.mu.Unlock()
	s.challenge(w)
	return "", false
}

// ntlmStep handles one leg of the NTLM handshake. On NEGOTIATE it answers the CHALLENGE (401); on a
// valid AUTHENTICATE it binds the user to the connection and lets the request through.
func (s *Server) ntlmStep(w http.ResponseWriter, cs *connState, scheme, payload string, encrypted bool) (string, bool) {
	msg, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		s.challenge(w)
		return "", false
	}
	t, err := ntlmMessageType(msg)
	if err != nil {
		s.challenge(w)
		return "", false
	}
	switch t {
	case 1:
		id := ntlmIdentity{NetBIOSDomain: s.cfg.Domain, NetBIOSComputer: s.cfg.Host, DNSDomain: s.cfg.DNSDomain, DNSComputer: s.cfg.FQDN}
		chal, serverChallenge, err := ntlmChallenge(msg, id, s.cfg.Now())
		if err != nil {
			s.challenge(w)
			return "", false
		}
		cs.mu.Lock()
		cs.challenge, cs.user = serverChallenge, ""
		cs.mu.Unlock()
		if s.takeFault(FaultNTLMSplit) {
			// The client's AUTHENTICATE must now take a new connection, which holds no challenge: the
			// handshake split across connections of winrm-protocol.md §1.4, made to happen.
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(chal))
		w.WriteHeader(http.StatusUnauthorized)
		return "", false
	case 3:
		cs.mu.Lock()
		serverChallenge := cs.challenge
		cs.challenge = nil
		cs.mu.Unlock()
		a, err := parseNTLMAuthenticate(msg)
		if err != nil || serverChallenge == nil || !s.userMatches(a.User, a.Domain) || !verifyNTLMv2(a, s.cfg.Password, serverChallenge) {
			if a != nil {
				s.logger.Info("NTLM authentication failed", "user", a.User, "domain", a.Domain)
			}
			s.challenge(w)
			return "", false
		}
		if !encrypted && !s.cfg.AllowUnencrypted {
			// A Windows listener would now expect a sealed message; exchsim does not implement sealing.
			s.logger.Info("refused unencrypted NTLM request (AllowUnencrypted is false)")
			s.challenge(w)
			return "", false
		}
		user := s.cfg.Domain + `\` + s.cfg.User
		cs.mu.Lock()
		cs.user = user
		cs.mu.Unlock()
		return user, true
	}
	s.challenge(w)
	return "", false
}

// userMatches accepts the configured account as "user", "DOMAIN\user", "user@dns.domain", or (NTLM) user
// with a domain field naming this domain, this computer or nothing — case-insensitively, as Windows does.
func (s *Server) userMatches(user, domain string) bool {
	if d, u, ok := strings.Cut(user, `\`); ok {
		user, domain = u, d
	} else if u, d, ok := strings.Cut(user, "@"); ok {
		user, domain = u, d
	}
	if !strings.EqualFold(user, s.cfg.User) {
		return false
	}
	switch {
	case domain == "", strings.EqualFold(domain, s.cfg.Domain), strings.EqualFold(domain, s.cfg.DNSDomain),
		strings.EqualFold(domain, s.cfg.Host), strings.EqualFold(domain, "."):
		return true
	}
	return false
}

// challenge answers 401 with the schemes this listener offers, like WinRM does (empty body).
func (s *Server) challenge(w http.ResponseWriter) {
	if !s.cfg.DisableNTLM || s.cfg.Kerberos != nil {
		w.Header().Add("WWW-Authenticate", "Negotiate")
	}
	if !s.cfg.DisableBasic {
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}
