package exchange_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/kdc"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/secret"
)

// kerberosSim starts a real MIT KDC for the demo scenario's realm and exchsim accepting its tickets.
func kerberosSim(tb testing.TB, https bool, profile ...cost.Profile) (*exchsim.Sim, *kdc.KDC) {
	tb.Helper()
	k, krb := simtest.StartKerberos(tb, "", map[string]string{"someone": "0ther-Pass"})
	o := simtest.Options{HTTPS: https, Kerberos: krb, RequireEncryption: true} // Windows' AllowUnencrypted=false
	if len(profile) > 0 {
		o.Cost = profile[0]
	}
	return simtest.Start(tb, o), k
}

func kerberosEndpoint(tb testing.TB, sim *exchsim.Sim, k *kdc.KDC, server string) exchange.Endpoint {
	tb.Helper()
	conf, err := os.ReadFile(k.Krb5Conf)
	if err != nil {
		tb.Fatal(err)
	}
	ep := endpoint(tb, sim, server, exchange.AuthKerberos)
	ep.User = sim.User()
	ep.Kerberos = &exchange.Kerberos{Realm: k.Realm, Krb5Conf: string(conf)}
	ep.AllowUnencrypted = false // Kerberos seals over HTTP: nothing to allow
	return ep
}

// TestKerberos: a domain account authenticates with a Kerberos ticket from a real KDC (SPNEGO), over HTTP
// (every message sealed: exchsim refuses clear text, as AllowUnencrypted=false does) and HTTPS, in session
// mode (a write and its read-back) and command mode.
func TestKerberos(t *testing.T) {
	for _, https := range []bool{false, true} {
		sim, k := kerberosSim(t, https)
		for _, mode := range []string{exchange.ModeSession, exchange.ModeCommand} {
			c := newClient(t, kerberosEndpoint(t, sim, k, "EX01"), exchange.Options{Mode: mode})
			if err := c.SetComponentState(t.Context(), "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
				t.Fatalf("https=%v %s: %v", https, mode, err)
			}
			if err := c.SetComponentState(t.Context(), "EX01", "HubTransport", "Active", "Maintenance"); err != nil {
				t.Fatalf("https=%v %s: %v", https, mode, err)
			}
			if _, err := c.Queues(t.Context(), "EX01"); err != nil {
				t.Fatalf("https=%v %s: %v", https, mode, err)
			}
		}
		req := sim.Requests()
		if https && req["sealed"] != 0 || !https && (req["sealed"] == 0 || req["unencrypted"] != 0) {
			t.Errorf("https=%v: %d sealed and %d refused clear-text requests", https, req["sealed"], req["unencrypted"])
		}
	}
}

// TestKerberosAuthenticatesConnections: in a session, a connection is authenticated once, not every
// request: over HTTPS one 401 and then a ticket per connection; over HTTP one context set-up (an empty POST
// with the ticket, as every sealing client sends) per channel, and every request after it sealed.
func TestKerberosAuthenticatesConnections(t *testing.T) {
	for _, https := range []bool{false, true} {
		sim, k := kerberosSim(t, https)
		c := newClient(t, kerberosEndpoint(t, sim, k, "EX01"), exchange.Options{})
		for range 20 {
			if _, err := c.Queues(t.Context(), "EX01"); err != nil {
				t.Fatal(err)
			}
		}
		req := sim.Requests()
		auths := req["unauthorized"]
		if !https {
			auths = req["context"]
			if req["unauthorized"] != 0 || req["sealed"] < 20 {
				t.Errorf("https=false: %d 401s and %d sealed requests (requests %v)", req["unauthorized"], req["sealed"], req)
			}
		}
		if auths < 1 || auths > 2 {
			t.Errorf("https=%v: %d authentications for 20 operations (requests %v); want one per connection", https, auths, req)
		}
	}
}

// TestKerberosKeytab: a service account logs in with its keytab; no password is configured.
func TestKerberosKeytab(t *testing.T) {
	sim, k := kerberosSim(t, true)
	kt, err := os.ReadFile(k.UserKeytabPath)
	if err != nil {
		t.Fatal(err)
	}
	ep := kerberosEndpoint(t, sim, k, "EX02")
	ep.Password = secret.Value{}
	ep.Kerberos.Keytab = kt
	if _, err := newClient(t, ep, exchange.Options{}).Queues(t.Context(), "EX02"); err != nil {
		t.Fatal(err)
	}
}

// TestKerberosRefusals: a wrong password, an account the listener does not accept, a ticket for another
// server and an unreachable KDC each end in a clear error, the first three without retries.
func TestKerberosRefusals(t *testing.T) {
	sim, k := kerberosSim(t, false)
	tests := []struct {
		name      string
		edit      func(*exchange.Endpoint)
		wantAuth  bool
		wantInErr string
	}{
		{"wrong password", func(ep *exchange.Endpoint) { ep.Password = secret.New("nope") }, true, "PREAUTH"},
		{"other account", func(ep *exchange.Endpoint) { ep.User, ep.Password = "someone", secret.New("0ther-Pass") }, true, "401"},
		{"ticket for another server", func(ep *exchange.Endpoint) { ep.Kerberos.SPN = "HTTP/ex02.exlab.local" }, true, "401"},
		{"user in another realm", func(ep *exchange.Endpoint) { ep.User = "administrator@OTHER.LOCAL" }, false, "not in realm"},
		{"KDC unreachable", func(ep *exchange.Endpoint) {
			ep.Kerberos.Krb5Conf = strings.ReplaceAll(ep.Kerberos.Krb5Conf, k.Addr, "127.0.0.1:1")
		}, false, "Networking_Error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := kerberosEndpoint(t, sim, k, "EX01")
			tc.edit(&ep)
			c, err := exchange.New(ep, exchange.Options{Attempts: 2})
			if err == nil {
				t.Cleanup(func() { _ = c.Close() })
				_, err = c.Queues(t.Context(), "EX01")
			}
			var ae *exchange.AuthError
			if err == nil || errors.As(err, &ae) != tc.wantAuth || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("err = %v; want auth error %v containing %q", err, tc.wantAuth, tc.wantInErr)
			}
			if c != nil && tc.wantAuth && c.Stats().Retries != 0 {
				t.Errorf("an authentication failure was retried %d times", c.Stats().Retries)
			}
			if strings.Contains(err.Error(), ep.Password.Reveal()) {
				t.Errorf("error contains the password: %v", err)
			}
		})
	}
}

// BenchmarkOperationKerberos: one operation in the persistent session with Kerberos, which authenticates
// each connection once (kerberosNegotiator); compare BenchmarkOperation (NTLM).
func BenchmarkOperationKerberos(b *testing.B) {
	for _, prof := range []struct {
		name string
		p    cost.Profile
	}{{"zero", cost.Profile{}}, {"realistic", cost.Realistic()}} {
		b.Run(prof.name, func(b *testing.B) {
			sim, k := kerberosSim(b, false, prof.p)
			measureOperation(b, sim, newClient(b, kerberosEndpoint(b, sim, k, "EX01"), exchange.Options{}), prof.p)
		})
	}
}

// TestKerberosMutualAuthentication: a listener that accepts the ticket without proving it could read it
// (no AP-REP, or one it could not have made) is an impostor: the client refuses its answer, over HTTPS
// (kerberosNegotiator, connAuthCheck) and over HTTP (kerberosSealer, which sends the ticket first).
func TestKerberosMutualAuthentication(t *testing.T) {
	sim, k := kerberosSim(t, false)
	for _, tc := range []struct {
		name, header string
		neverAsks    bool // answers the first, unauthenticated request with 200
		https        bool
		want         string
	}{
		{"no AP-REP", "", false, true, "mutual authentication"},
		{"forged reply", "Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==", false, true, "mutual authentication"}, // accept-completed, no token: what gokrb5's service sends
		{"never asks", "", true, true, "never authenticated"},
		{"no AP-REP over HTTP", "", false, false, "mutual authentication"},
		{"forged reply over HTTP", "Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==", false, false, "mutual authentication"},
		{"never asks over HTTP", "", true, false, "mutual authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := httptest.NewServer
			if tc.https {
				start = httptest.NewTLSServer
			}
			impostor := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") == "" && !tc.neverAsks {
					w.Header().Set("WWW-Authenticate", "Negotiate")
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				if tc.header != "" {
					w.Header().Set("WWW-Authenticate", tc.header)
				}
				w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
				_, _ = io.WriteString(w, "<s:Envelope/>")
			}))
			t.Cleanup(impostor.Close)
			ep := kerberosEndpoint(t, sim, k, "EX01")
			ep.Host, ep.Port = splitHostPort(t, impostor.Listener.Addr())
			ep.ExchangeURL = impostor.URL + "/PowerShell"
			ep.TLSServerName = "ex01.exlab.local"                // the ticket is for the name the impostor answers for
			ep.HTTPS, ep.InsecureSkipVerify = tc.https, tc.https // the impostor's certificate is not the point here
			c := newClient(t, ep, exchange.Options{Attempts: 2})
			for channel, call := range map[string]func() error{
				"exchange": func() error { _, err := c.Queues(t.Context(), "EX01"); return err },
				"winrs":    func() error { _, err := c.LastBootUpTime(t.Context()); return err },
			} {
				err := call()
				var ae *exchange.AuthError
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s channel: err = %v, want an AuthError containing %q", channel, err, tc.want)
				}
			}
			if c.Stats().Retries != 0 {
				t.Errorf("retried %d times", c.Stats().Retries)
			}
		})
	}
}
