package config

import (
	"fmt"
	"net/url"
	"os"

	"github.com/exmaintd/exmaintd/exchange"
)

// SecretProblems reads every secret and file server s needs — for its listener and for its own Exchange
// endpoint, which its peers use — and returns one line per one that cannot be read, each naming the server
// and the setting: `check` reports them all at once, not the first per server as building the endpoint would.
func (c *Config) SecretProblems(s Server, getenv func(string) string) []string {
	w := c.Merged(s)
	var out []string
	fail := func(key string, err error) {
		if err != nil {
			out = append(out, fmt.Sprintf("server %s: winrm.%s: %v", s.Name, key, err))
		}
	}
	file := func(key, path string) {
		if path != "" {
			_, err := os.ReadFile(path)
			fail(key, err)
		}
	}
	xurl, xauth := c.ExchangeChannel(s)
	u, err := url.Parse(xurl)
	xhttps := err == nil && u.Scheme == "https"
	if boolOr(w.HTTPS, true) || xhttps {
		file("ca_file", w.CAFile)
	}
	if w.Auth == exchange.AuthCertificate {
		file("client_cert_file", w.ClientCertFile)
		file("client_key_file", w.ClientKeyFile)
	}
	kerberos := w.Auth == exchange.AuthKerberos || xauth == exchange.AuthKerberos
	if kerberos {
		path := w.Krb5Conf
		if path == "" {
			path = DefaultKrb5Conf
		}
		file("krb5_conf", path)
	}
	if kerberos && w.Keytab != (Secret{}) {
		_, err := loadBytes(w.Keytab, getenv)
		fail("keytab", err)
	}
	// A password is needed unless every channel that needs one authenticates otherwise: a certificate
	// (the listener only) or a keytab (Kerberos).
	listenerPassword := w.Auth != exchange.AuthCertificate && (w.Auth != exchange.AuthKerberos || w.Keytab == (Secret{}))
	exchangePassword := xauth != exchange.AuthKerberos || w.Keytab == (Secret{})
	if listenerPassword || exchangePassword {
		_, err := LoadSecret(w.Password, getenv)
		fail("password", err)
	}
	return out
}
