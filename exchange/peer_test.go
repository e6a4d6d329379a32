package exchange_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
)

// TestThroughAPeer: EX01's Exchange cmdlets run on the first of its peers' endpoints that answers — one that
// refuses connections is passed over, one in maintenance is skipped — and act on EX01; its own endpoint
// receives nothing. A peer entering maintenance gives its session up (ReleaseVia) and the next cmdlet opens
// one on the next peer; releasing another server's endpoint changes nothing.
func TestThroughAPeer(t *testing.T) {
	t.Parallel()
	sim := startSim(t, simOptions{})
	ep := simtest.Via(t, sim, endpoint(t, sim, "EX01", exchange.AuthNTLM), "EX02", "EX03")
	var deadHits atomic.Int64 // EX09's IIS answers, its Exchange does not
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		deadHits.Add(1)
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	dead := ep.Exchange[0]
	dead.Server, dead.URL = "EX09", down.URL+"/PowerShell"
	ep.Exchange = append([]exchange.ExchangeEndpoint{dead}, ep.Exchange...)
	var busy atomic.Value
	busy.Store("")
	c := newClient(t, ep, exchange.Options{InMaintenance: func(s string) bool { return s == busy.Load().(string) }})
	sim.ResetRequests()
	read := func(want string) {
		t.Helper()
		states, err := c.ComponentStates(t.Context(), "EX01")
		if err != nil || len(states) == 0 {
			t.Fatalf("ComponentStates through a peer: %d states, %v", len(states), err)
		}
		if got := c.ExchangeVia(); got != want {
			t.Fatalf("cmdlets via %s; want %s", got, want)
		}
	}
	read("EX02")
	c.ReleaseVia("EX03")
	read("EX02")
	if n := c.Stats().PoolsOpened; n != 1 {
		t.Errorf("%d pools opened; releasing a server the pool is not on must keep it", n)
	}
	// A new pool is tried first where the last one was: the peer that failed is not asked again.
	hits := deadHits.Load()
	c.ReleaseVia("EX02")
	read("EX02")
	if n := deadHits.Load(); n != hits {
		t.Errorf("EX09 asked %d more times when the pool was opened again; want EX02 tried first", n-hits)
	}
	busy.Store("EX02")
	c.ReleaseVia("EX02")
	read("EX03")
	if n := c.Stats().PoolsOpened; n != 3 {
		t.Errorf("%d pools opened; want a third one, on EX03", n)
	}
	reqs := sim.ExchangeRequests()
	if reqs["EX01"] != 0 || reqs["EX02"] == 0 || reqs["EX03"] == 0 {
		t.Errorf("requests to /PowerShell %v; want none on EX01 and some on EX02 and EX03", reqs)
	}
	// EX01 restarts: a pool on a peer's endpoint outlives it (one on its own would go with its IIS).
	if err := c.RestartComputer(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExchangeServers(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().PoolsOpened; n != 3 {
		t.Errorf("%d pools opened after EX01's restart; the one on EX03 must be kept", n)
	}
}

// TestExchangeEndpointRefused: an Exchange endpoint that is not http(s)://host/… without user, query or
// fragment, or whose auth cannot be used, is refused when the client is built, naming the server.
func TestExchangeEndpointRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, auth, want string }{
		{"ftp://ex02/PowerShell", exchange.AuthKerberos, `server EX01: Exchange endpoint "ftp://ex02/PowerShell": want http(s)://host[:port]/PowerShell`},
		{"http:///PowerShell", exchange.AuthKerberos, "want http(s)://host[:port]/PowerShell"},
		{"http://%zz/PowerShell", exchange.AuthKerberos, "want http(s)://host[:port]/PowerShell"},
		{"http://u@ex02/PowerShell", exchange.AuthKerberos, "no user, query or fragment"},
		{"http://ex02/PowerShell?x=1", exchange.AuthKerberos, "no user, query or fragment"},
		{"http://ex02/PowerShell#f", exchange.AuthKerberos, "no user, query or fragment"},
		{"http://ex02/PowerShell", "digest", `server EX01 via EX02: unknown auth "digest"`},
		{"http://ex02/PowerShell", exchange.AuthNTLM, "server EX01 via EX02: auth \"ntlm\" over plain HTTP"},
	} {
		ep := exchange.Endpoint{Name: "EX01", Host: "ex01", Port: 5986, HTTPS: true, Auth: exchange.AuthBasic, User: "u",
			Exchange: []exchange.ExchangeEndpoint{{Server: "EX02", URL: tc.url, Auth: tc.auth, User: "u",
				Kerberos: &exchange.Kerberos{Realm: "EXLAB.LOCAL", Krb5Conf: "[libdefaults]\n"}}}}
		if _, err := exchange.New(ep, exchange.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s (%s): %v; want %q", tc.url, tc.auth, err, tc.want)
		}
	}
}

// TestNoPeerAnswers: when no endpoint answers, the error names every one and why; a peer in maintenance is
// passed over, the last endpoint is not.
func TestNoPeerAnswers(t *testing.T) {
	t.Parallel()
	sim := startSim(t, simOptions{})
	ep := endpoint(t, sim, "EX01", exchange.AuthNTLM)
	ep.Exchange = []exchange.ExchangeEndpoint{
		{Server: "EX08", URL: "http://127.0.0.1:1/PowerShell", Auth: exchange.AuthNTLM, User: ep.User, Password: ep.Password, AllowUnencrypted: true},
		{Server: "EX02", URL: "http://127.0.0.1:3/PowerShell", Auth: exchange.AuthNTLM, User: ep.User, Password: ep.Password, AllowUnencrypted: true},
		// The last one (the server's own, as the configuration lists them) is tried even in maintenance.
		{Server: "EX01", URL: "http://127.0.0.1:2/PowerShell", Auth: exchange.AuthNTLM, User: ep.User, Password: ep.Password, AllowUnencrypted: true},
	}
	c := newClient(t, ep, exchange.Options{Attempts: 1, InMaintenance: func(s string) bool { return s == "EX02" || s == "EX01" }})
	_, err := c.ComponentStates(t.Context(), "EX01")
	for _, want := range []string{"no Exchange endpoint for EX01 answered", "opening the runspace pool on http://127.0.0.1:1/PowerShell",
		"opening the runspace pool on http://127.0.0.1:2/PowerShell", "http://127.0.0.1:3/PowerShell: not used: EX02 is in maintenance itself"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want it to say %q", err, want)
		}
	}
}

// TestReleaseOwnEndpoint: a standalone server's pool on its own endpoint is closed before its update, and
// the next cmdlet opens one again.
func TestReleaseOwnEndpoint(t *testing.T) {
	t.Parallel()
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	if _, err := c.ComponentStates(t.Context(), "EX03"); err != nil {
		t.Fatal(err)
	}
	c.ReleaseOwnEndpoint()
	if n := sim.Org().ExchangeSessions("EX03"); n != 0 {
		t.Errorf("%d sessions open on EX03's endpoint after ReleaseOwnEndpoint", n)
	}
	if _, err := c.ComponentStates(t.Context(), "EX03"); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().PoolsOpened; n != 2 || c.ExchangeVia() != "EX03" {
		t.Errorf("%d pools opened via %s; want a second one on EX03's own endpoint", n, c.ExchangeVia())
	}
}
