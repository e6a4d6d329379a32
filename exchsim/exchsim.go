// Package exchsim is a simulated Exchange organisation that speaks real WS-Management: each server of a
// scenario gets its own WinRM listener (exchsim/wsman) whose commands run in a PowerShell 5.1 front end
// (exchsim/ps) over an Exchange model (exchsim/org). exmaintd's real WinRM client runs against it
// unchanged, and admins rehearse maintenance windows on it (`exmaintd demo`, `exchsim`).
//
// What is modelled and what is not is documented in each sub-package and in exchsim/README.md. The control
// API under /sim/v1/ on every listener (state, request counters, fault injection, reset) is not behind WinRM
// authentication: exchsim is meant for loopback tests and rehearsals, never for a network.
package exchsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/ps"
	"github.com/exmaintd/exmaintd/exchsim/wsman"
)

// Options configure a simulation.
type Options struct {
	Scenario *org.Scenario
	// Listen is the first server's address; the others take the following ports. A port of 0 gives every
	// server its own free port. Default 127.0.0.1:0.
	Listen string
	// HTTPS serves TLS with a generated certificate (CACertPEM) valid for 127.0.0.1 and the servers' names,
	// or with Certificate if set (CACertPEM is then nil: the caller knows its CA).
	HTTPS       bool
	Certificate *tls.Certificate
	// RequireEncryption models AllowUnencrypted=false: Basic and NTLM over plain HTTP are refused, and
	// Kerberos only carries sealed messages there.
	RequireEncryption bool
	// CertMappings turn on certificate authentication (HTTPS only) with these client-certificate
	// mappings on every server (wsman.ClientCertificate makes a certificate and its mapping).
	CertMappings []wsman.CertMapping
	// Kerberos turns on Kerberos on every server; its keytab must hold each server's HTTP/<fqdn> key
	// (exchsim/kdc makes one with a real KDC).
	Kerberos *wsman.Kerberos
	// DisableNTLM refuses NTLM, as a domain that has turned NTLM off does (Kerberos then is the way in).
	DisableNTLM bool
	// Cost overrides the scenario's [cost] profile when not zero.
	Cost cost.Profile
	// Clock drives the model (queues draining, reboots, jobs); default the wall clock. With an
	// *org.ManualClock, POST /sim/v1/clock advances it. A rebooting listener's downtime is always wall time.
	Clock  org.Clock
	Logger *slog.Logger
}

// Endpoint is where one simulated server listens.
type Endpoint struct {
	Name  string
	Fqdn  string
	Host  string
	Port  int
	HTTPS bool
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// ExchangeURL is the server's Exchange remote PowerShell endpoint (served on the same listener as WinRM:
// IIS's /PowerShell on port 80/443 in a real organisation).
func (e Endpoint) ExchangeURL() string {
	scheme := "http"
	if e.HTTPS {
		scheme = "https"
	}
	return scheme + "://" + e.Addr() + "/PowerShell"
}

// Sim is a running simulated organisation.
type Sim struct {
	opts   Options
	org    *org.Org
	rt     *ps.Runtime
	logger *slog.Logger
	tlsCfg *tls.Config
	caPEM  []byte
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	hosts []*host
}

// host is one server's listener.
type host struct {
	sim   *Sim
	ep    Endpoint
	wsman *wsman.Server
	// exchangeRequests counts the requests to /PowerShell (ExchangeRequests).
	exchangeRequests atomic.Int64

	mu      sync.Mutex
	srv     *http.Server
	serving chan struct{} // closed when the current Serve returned
	down    bool          // refusing connections (reboot or the unreachable fault)
}

// Start builds the organisation and starts a listener per server.
func Start(ctx context.Context, o Options) (*Sim, error) {
	if o.Scenario == nil {
		return nil, errors.New("exchsim: no scenario")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Clock == nil {
		o.Clock = org.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cost == (cost.Profile{}) {
		c := o.Scenario.Cost
		o.Cost = cost.Profile{RTT: c.RTT.Duration, ShellCreate: c.ShellCreate.Duration, PowerShellStart: c.PowerShellStart.Duration,
			SnapinLoad: c.SnapinLoad.Duration, Cmdlet: c.Cmdlet.Duration, RunspaceOpen: c.RunspaceOpen.Duration}
	}
	bindHost, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("exchsim: listen address %q: %w", o.Listen, err)
	}
	basePort, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("exchsim: listen port %q: %w", portStr, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Sim{opts: o, logger: o.Logger.With("component", "exchsim"), ctx: sctx, cancel: cancel}
	s.org, err = org.New(o.Scenario, org.Options{Clock: o.Clock, Logger: o.Logger, OnReboot: s.reboot, ExchangeSessions: s.exchangeSessions})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("exchsim: %w", err)
	}
	s.rt = ps.NewRuntime(ps.Options{Cmdlets: s.org.Cmdlets(), Natives: s.org.Natives(), Cost: o.Cost, Now: o.Clock.Now, Mutex: s.org.Mutex, Logger: o.Logger})
	rem := newRemoting(s.org.Cmdlets(), o.Cost, o.Clock)
	servers := s.org.Servers()
	if o.HTTPS && o.Certificate != nil {
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{*o.Certificate}, MinVersion: tls.VersionTLS12}
	} else if o.HTTPS {
		names := []string{"127.0.0.1", "localhost", bindHost}
		for _, sv := range servers {
			names = append(names, sv.Fqdn, sv.Name)
		}
		cert, caPEM, err := wsman.SelfSignedCertificate(names, time.Now())
		if err != nil {
			cancel()
			return nil, fmt.Errorf("exchsim: %w", err)
		}
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.caPEM = caPEM
	}
	if s.tlsCfg != nil && len(o.CertMappings) > 0 {
		s.tlsCfg.ClientAuth = tls.RequestClientCert // checked per request against the mappings, as WinRM does
	}
	user, password := s.org.Credentials()
	domain, dnsDomain := s.org.Domain()
	for i, sv := range servers {
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		h := &host{sim: s, ep: Endpoint{Name: sv.Name, Fqdn: sv.Fqdn, Host: bindHost, Port: port, HTTPS: o.HTTPS}}
		h.wsman = wsman.New(wsman.Config{Host: sv.Name, FQDN: sv.Fqdn, Domain: domain, DNSDomain: dnsDomain, User: user, Password: password,
			AllowUnencrypted: !o.RequireEncryption, CertMappings: o.CertMappings, Kerberos: o.Kerberos, DisableNTLM: o.DisableNTLM, RTT: o.Cost.RTT, ShellCreate: o.Cost.ShellCreate, Logger: o.Logger,
			Remoting: rem, RunspaceOpen: o.Cost.RunspaceOpen,
			Launcher: wsman.LauncherFunc(func(ctx context.Context, req wsman.CommandRequest, stdin io.Reader, stdout, stderr io.Writer) int {
				return s.rt.RunCommand(ctx, ps.Process{Host: req.Host, User: req.User, Command: req.Command, Args: req.Arguments, Codepage: req.Codepage, ConsoleStdin: req.ConsoleStdin, Stdin: stdin, Stdout: stdout, Stderr: stderr})
			})})
		ln, err := net.Listen("tcp", h.ep.Addr())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("exchsim: server %s: %w", sv.Name, err)
		}
		h.ep.Port = ln.Addr().(*net.TCPAddr).Port
		s.hosts = append(s.hosts, h)
		h.serve(ln)
	}
	return s, nil
}

func (h *host) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/wsman", h.wsman)
	exch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.exchangeRequests.Add(1)
		if !h.sim.org.RemotePowerShellUp(h.ep.Name) {
			// Exchange's services stopped (a failed update leaves them so): the PowerShell application
			// cannot serve. The exact answer is not documented — exchsim refuses every request (REALITIES.md).
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		h.wsman.ServeHTTP(w, r)
	})
	mux.Handle("/PowerShell", exch) // Exchange's remote PowerShell (IIS); the path is case-insensitive on IIS
	mux.Handle("/powershell", exch)
	mux.Handle("/sim/v1/", h.sim.controlAPI())
	return mux
}

// serve starts serving ln; callers must not hold h.mu.
func (h *host) serve(ln net.Listener) {
	srv := h.wsman.HTTPServer()
	srv.Handler = h.handler()
	if h.sim.tlsCfg != nil {
		ln = tls.NewListener(ln, h.sim.tlsCfg)
	}
	done := make(chan struct{})
	h.mu.Lock()
	h.srv, h.serving, h.down = srv, done, false
	h.mu.Unlock()
	h.sim.wg.Add(1)
	go func() {
		defer h.sim.wg.Done()
		defer close(done)
		_ = srv.Serve(ln) // returns when stopped
	}()
}

// stop closes the listener and every connection: clients see connection refused/reset.
func (h *host) stop() {
	h.mu.Lock()
	srv, done := h.srv, h.serving
	h.down = true
	h.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// restart listens again on the same port after a reboot or when the unreachable fault is cleared.
func (h *host) restart() error {
	h.mu.Lock()
	down := h.down
	h.mu.Unlock()
	if !down || h.sim.ctx.Err() != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may sit in a short TIME_WAIT-like state right after Close
		if ln, err = net.Listen("tcp", h.ep.Addr()); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("exchsim: server %s: listening again: %w", h.ep.Name, err)
	}
	h.serve(ln)
	return nil
}

// rebootGrace is how long a rebooting host keeps answering after Restart-Computer returned.
const rebootGrace = time.Second

// reboot is the model's OnReboot: the server's shells die and its listener refuses connections for down.
func (s *Sim) reboot(server string, down time.Duration) {
	h := s.host(server)
	if h == nil {
		return
	}
	s.logger.Info("server rebooting", "server", server, "down", down)
	// Let the reply to the command that asked for the reboot leave before shells and listener go away, as
	// the real Restart-Computer returns before Windows shuts down.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-time.After(rebootGrace):
		case <-s.ctx.Done():
			return
		}
		h.wsman.DropShells()
		h.stop()
		select {
		case <-time.After(down):
		case <-s.ctx.Done():
			return
		}
		if err := h.restart(); err != nil {
			s.logger.Error("server did not come back", "server", server, "err", err)
		}
	}()
}

// exchangeSessions is the model's ExchangeSessions: the runspace pools open on the server's /PowerShell.
func (s *Sim) exchangeSessions(server string, now time.Time) int {
	h := s.host(server)
	if h == nil {
		return 0
	}
	return h.wsman.ExchangePools(now)
}

// ExchangeRequests returns the requests each server's /PowerShell received, by server name: a test
// sees which endpoints ran a server's Exchange cmdlets.
func (s *Sim) ExchangeRequests() map[string]int64 {
	out := map[string]int64{}
	for _, h := range s.snapshotHosts() {
		out[h.ep.Name] = h.exchangeRequests.Load()
	}
	return out
}

func (s *Sim) host(name string) *host {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hosts {
		if strings.EqualFold(h.ep.Name, name) {
			return h
		}
	}
	return nil
}

// Servers lists the endpoints in scenario order.
func (s *Sim) Servers() []Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Endpoint, len(s.hosts))
	for i, h := range s.hosts {
		out[i] = h.ep
	}
	return out
}

// CACertPEM is the certificate HTTPS clients must trust (nil without HTTPS).
func (s *Sim) CACertPEM() []byte { return s.caPEM }

// User is the account the listeners accept (bare name; NTLM clients may send DOMAIN\user).
func (s *Sim) User() string { u, _ := s.org.Credentials(); return u }

// Password is the account's password.
func (s *Sim) Password() string { _, p := s.org.Credentials(); return p }

// Domain is the NetBIOS domain (for NTLM user names).
func (s *Sim) Domain() string { d, _ := s.org.Domain(); return d }

// Org is the model, for tests that inspect or change state directly.
func (s *Sim) Org() *org.Org { return s.org }

// Requests returns WinRM requests by action, summed over all servers.
func (s *Sim) Requests() map[string]int64 {
	out := map[string]int64{}
	for _, h := range s.snapshotHosts() {
		for k, v := range h.wsman.Requests() {
			out[k] += v
		}
	}
	return out
}

// ResetRequests zeroes the request counters.
func (s *Sim) ResetRequests() {
	for _, h := range s.snapshotHosts() {
		h.wsman.ResetRequests()
	}
}

func (s *Sim) snapshotHosts() []*host {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*host(nil), s.hosts...)
}

// Close stops every listener and process.
func (s *Sim) Close() error {
	s.cancel()
	for _, h := range s.snapshotHosts() {
		h.stop()
		h.wsman.Close()
	}
	s.wg.Wait()
	return nil
}

// ExpireShells ends every WinRM shell on server as an idle-timeout expiry or a WinRM service restart does:
// the listener stays up and clients get fault 2150858843 (shell not found) on their next request.
func (s *Sim) ExpireShells(server string) error {
	h := s.host(server)
	if h == nil {
		return fmt.Errorf("exchsim: expire shells: unknown server %q", server)
	}
	h.wsman.DropShells()
	return nil
}
