package wsman

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // WinRM names an issuer by its SHA-1 thumbprint; not used for security here
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// MutualAuthHeader is the Authorization value a client sends to authenticate with its TLS client
// certificate (WS-Management's https/mutual security profile).
const MutualAuthHeader = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

// CertMapping is a WinRM client-certificate mapping (MS-WSMV 2.2.4.3, what `New-Item
// WSMan:\localhost\ClientCertificate` creates): a certificate issued by Issuer whose subject matches Subject
// authenticates as the local account UserName. Windows maps certificates to local accounts only.
type CertMapping struct {
	// Subject is matched, case-insensitively, against the certificate's UPN (the subjectAltName otherName
	// Windows puts user certificates' identity in); one "*" at its start or end matches any prefix or suffix.
	Subject string
	// Issuer is the SHA-1 thumbprint (40 hex digits) of the certificate that signed the client's certificate.
	Issuer string
	// IssuerCert is that certificate; the signature is checked against it (Windows finds it in its store).
	IssuerCert *x509.Certificate
	// UserName is the local account the request runs as.
	UserName string
}

// certAuthenticate handles a request that asked for certificate authentication. Like WinRM it needs HTTPS,
// a mapping (Auth/Certificate on), and a client certificate that is valid now, meant for client
// authentication, signed by the mapping's issuer and naming a matching subject.
func (s *Server) certAuthenticate(r *http.Request) (string, error) {
	if r.TLS == nil {
		return "", errors.New("certificate authentication over plain HTTP")
	}
	if len(s.cfg.CertMappings) == 0 {
		return "", errors.New("certificate authentication is not enabled (no client certificate mapping)")
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return "", errors.New("no client certificate presented")
	}
	cert := r.TLS.PeerCertificates[0]
	now := s.cfg.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return "", fmt.Errorf("client certificate %q is not valid now (valid %s to %s)", cert.Subject, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	clientAuth := len(cert.ExtKeyUsage) == 0
	for _, u := range cert.ExtKeyUsage {
		clientAuth = clientAuth || u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny
	}
	if !clientAuth {
		return "", fmt.Errorf("client certificate %q is not for client authentication", cert.Subject)
	}
	upn, err := CertificateUPN(cert)
	if err != nil {
		return "", err
	}
	for _, m := range s.cfg.CertMappings {
		if m.IssuerCert == nil || !strings.EqualFold(m.Issuer, Thumbprint(m.IssuerCert)) || !subjectMatches(m.Subject, upn) {
			continue
		}
		if err := cert.CheckSignatureFrom(m.IssuerCert); err != nil {
			continue
		}
		return s.cfg.Host + `\` + m.UserName, nil
	}
	return "", fmt.Errorf("no certificate mapping for subject %q issued by %q", upn, cert.Issuer)
}

// subjectMatches applies a mapping's Subject pattern.
func subjectMatches(pattern, upn string) bool {
	p, u := strings.ToLower(pattern), strings.ToLower(upn)
	switch {
	case p == "*":
		return true
	case strings.HasPrefix(p, "*"):
		return strings.HasSuffix(u, p[1:])
	case strings.HasSuffix(p, "*"):
		return strings.HasPrefix(u, p[:len(p)-1])
	}
	return p == u
}

// Thumbprint is a certificate's SHA-1 thumbprint as Windows shows it (upper-case hex).
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // a thumbprint, not a security decision
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// oidUPN is szOID_NT_PRINCIPAL_NAME, the otherName type of a user principal name in subjectAltName.
func oidUPN() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3} }

func oidSubjectAltName() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{2, 5, 29, 17} }

// CertificateUPN returns the user principal name in the certificate's subjectAltName (Go's x509 does not
// parse otherName entries).
func CertificateUPN(c *x509.Certificate) (string, error) {
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSubjectAltName()) {
			continue
		}
		var names []asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &names); err != nil || len(rest) > 0 {
			return "", fmt.Errorf("client certificate %q: malformed subjectAltName", c.Subject)
		}
		for _, n := range names {
			if n.Class != asn1.ClassContextSpecific || n.Tag != 0 { // [0] otherName
				continue
			}
			var id asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(n.Bytes, &id)
			if err != nil || !id.Equal(oidUPN()) {
				continue
			}
			var explicit asn1.RawValue
			if _, err := asn1.Unmarshal(rest, &explicit); err != nil || explicit.Class != asn1.ClassContextSpecific || explicit.Tag != 0 {
				continue
			}
			var upn string
			if _, err := asn1.Unmarshal(explicit.Bytes, &upn); err == nil && upn != "" {
				return upn, nil
			}
		}
	}
	return "", fmt.Errorf("client certificate %q has no user principal name in its subjectAltName", c.Subject)
}

// ClientCertificate makes what an administrator sets up for certificate authentication: an issuing CA, a
// client certificate for upn signed by it (clientAuth, UPN in subjectAltName), and the mapping of that
// subject to the local account user. The certificate and key are PEM.
func ClientCertificate(upn, user string, now time.Time) (certPEM, keyPEM []byte, m CertMapping, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, m, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exchsim client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, m, fmt.Errorf("creating the client CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, m, err
	}
	san, err := upnSAN(upn)
	if err != nil {
		return nil, nil, m, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, m, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: user},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: oidSubjectAltName(), Value: san}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, m, fmt.Errorf("creating the client certificate: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, m, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
		CertMapping{Subject: upn, Issuer: Thumbprint(ca), IssuerCert: ca, UserName: user}, nil
}

// upnSAN encodes a subjectAltName holding one otherName UPN: [0] IMPLICIT SEQUENCE { OID, [0] EXPLICIT UTF8String }.
func upnSAN(upn string) ([]byte, error) {
	val, err := asn1.MarshalWithParams(upn, "utf8")
	if err != nil {
		return nil, err
	}
	id, err := asn1.Marshal(oidUPN())
	if err != nil {
		return nil, err
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: val})
	if err != nil {
		return nil, err
	}
	other := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(id, explicit...)}
	return asn1.Marshal([]asn1.RawValue{other})
}
