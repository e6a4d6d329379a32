package wsman

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestCertificateAuth: masterzen's ClientAuthRequest authenticates with a mapped client certificate over
// HTTPS and runs as the mapped local account; everything a Windows listener refuses is refused with 401.
func TestCertificateAuth(t *testing.T) {
	now := time.Now()
	certPEM, keyPEM, mapping, err := ClientCertificate("exmaintd@exlab.local", "exmaintd", now)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, otherKey, otherMapping, err := ClientCertificate("exmaintd@exlab.local", "exmaintd", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		https      bool
		mappings   []CertMapping
		cert, key  []byte
		wantOutput string // "" → want a 401
	}{
		{"mapped", true, []CertMapping{mapping}, certPEM, keyPEM, `ex01\exmaintd`},
		{"wildcard subject", true, []CertMapping{{Subject: "*@exlab.local", Issuer: mapping.Issuer, IssuerCert: mapping.IssuerCert, UserName: "svc"}}, certPEM, keyPEM, `ex01\svc`},
		{"second mapping", true, []CertMapping{otherMapping, mapping}, certPEM, keyPEM, `ex01\exmaintd`},
		{"another issuer", true, []CertMapping{mapping}, otherPEM, otherKey, ""},
		{"issuer thumbprint and certificate disagree", true, []CertMapping{{Subject: mapping.Subject, Issuer: otherMapping.Issuer, IssuerCert: mapping.IssuerCert, UserName: "x"}}, certPEM, keyPEM, ""},
		{"subject does not match", true, []CertMapping{{Subject: "admin@exlab.local", Issuer: mapping.Issuer, IssuerCert: mapping.IssuerCert, UserName: "x"}}, certPEM, keyPEM, ""},
		{"certificate auth not enabled", true, nil, certPEM, keyPEM, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startServer(t, tc.https, func(c *Config) { c.CertMappings = tc.mappings })
			stdout, _, _, err := run(t, l.client(t, clientOpts{cert: tc.cert, certKey: tc.key}), "whoami")
			if tc.wantOutput == "" {
				if err == nil || !strings.Contains(err.Error(), "401") {
					t.Fatalf("err = %v (stdout %q), want 401", err, stdout)
				}
				return
			}
			if err != nil || strings.TrimSpace(stdout) != tc.wantOutput {
				t.Fatalf("whoami = %q, %v; want %q", stdout, err, tc.wantOutput)
			}
		})
	}
}

// TestCertificateAuthRefusals: the mutual-auth header without a certificate, or a certificate
// without client authentication, or one that expired, is refused.
func TestCertificateAuthRefusals(t *testing.T) {
	now := time.Now()
	_, _, mapping, err := ClientCertificate("exmaintd@exlab.local", "exmaintd", now)
	if err != nil {
		t.Fatal(err)
	}
	expiredPEM, _, _, err := ClientCertificate("exmaintd@exlab.local", "exmaintd", now.Add(-2*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired := parsePEM(t, expiredPEM)
	s := New(Config{Host: "EX01", User: testUser, Password: testPassword, CertMappings: []CertMapping{mapping}, Launcher: testLauncher{}})
	t.Cleanup(s.Close)
	if _, err := s.certAuthenticate(reqWithPeer(nil, true)); err == nil || !strings.Contains(err.Error(), "no client certificate") {
		t.Errorf("no certificate: err = %v", err)
	}
	if _, err := s.certAuthenticate(reqWithPeer(nil, false)); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("plain HTTP: err = %v", err)
	}
	if _, err := s.certAuthenticate(reqWithPeer(expired, true)); err == nil || !strings.Contains(err.Error(), "not valid now") {
		t.Errorf("expired: err = %v", err)
	}
	serverOnly := *mapping.IssuerCert // a CA certificate: no UPN, not for client authentication
	serverOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := s.certAuthenticate(reqWithPeer(&serverOnly, true)); err == nil || !strings.Contains(err.Error(), "not for client authentication") {
		t.Errorf("server-auth certificate: err = %v", err)
	}
	if _, err := s.certAuthenticate(reqWithPeer(mapping.IssuerCert, true)); err == nil || !strings.Contains(err.Error(), "no user principal name") {
		t.Errorf("certificate without UPN: err = %v", err)
	}
}

func TestCertificateUPN(t *testing.T) {
	for _, upn := range []string{"exmaintd@exlab.local", "Ädmin@exlab.local", "x"} {
		certPEM, _, _, err := ClientCertificate(upn, "u", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := CertificateUPN(parsePEM(t, certPEM)); err != nil || got != upn {
			t.Errorf("CertificateUPN = %q, %v; want %q", got, err, upn)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, upn string
		want         bool
	}{
		{"exmaintd@exlab.local", "EXMAINTD@EXLAB.LOCAL", true},
		{"*@exlab.local", "a@exlab.local", true},
		{"*@exlab.local", "a@evil.local", false},
		{"exmaintd@*", "exmaintd@anything", true},
		{"*", "anyone", true},
		{"exmaintd@exlab.local", "exmaintd@exlab.local.evil", false},
	} {
		if got := subjectMatches(tc.pattern, tc.upn); got != tc.want {
			t.Errorf("subjectMatches(%q, %q) = %v", tc.pattern, tc.upn, got)
		}
	}
}

func parsePEM(tb testing.TB, b []byte) *x509.Certificate {
	tb.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		tb.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// reqWithPeer is a request as the handler sees it: over TLS with peer's certificate, or over plain HTTP.
func reqWithPeer(peer *x509.Certificate, tlsConn bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/wsman", nil)
	r.Header.Set("Authorization", MutualAuthHeader)
	if !tlsConn {
		r.TLS = nil
		return r
	}
	r.TLS = &tls.ConnectionState{}
	if peer != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{peer}
	}
	return r
}

// FuzzCertificateUPN: any subjectAltName bytes are parsed without panicking, and any UTF-8 UPN encoded as
// Windows encodes it reads back unchanged.
func FuzzCertificateUPN(f *testing.F) {
	for _, s := range []string{"exmaintd@exlab.local", "", "Ädmin@exlab.local"} {
		f.Add(s, []byte(nil))
	}
	f.Add("", []byte{0x30, 0x03, 0xa0, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, upn string, raw []byte) {
		c := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName(), Value: raw}}}
		_, _ = CertificateUPN(c)
		if !utf8.ValidString(upn) || upn == "" {
			return
		}
		san, err := upnSAN(upn)
		if err != nil {
			t.Fatal(err)
		}
		c.Extensions[0].Value = san
		if got, err := CertificateUPN(c); err != nil || got != upn {
			t.Fatalf("CertificateUPN(upnSAN(%q)) = %q, %v", upn, got, err)
		}
	})
}
