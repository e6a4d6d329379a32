package exchange_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/exchsim/wsman"
	"github.com/exmaintd/exmaintd/secret"
)

// TestLongScriptOverStdin: a script whose command line would pass cmd.exe's 8191-character limit is sent
// over stdin in command mode (exchsim refuses longer command lines as Windows does), and as one request in
// session mode.
func TestLongScriptOverStdin(t *testing.T) {
	sim := startSim(t, simOptions{})
	long := strings.Repeat("x", 9000)
	op := exchange.Op{Cmdlet: "ConvertTo-Json", Script: "ConvertTo-Json -Compress -InputObject " + exchange.Quote(long)}
	for _, mode := range []string{exchange.ModeCommand, exchange.ModeSession} {
		c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{Mode: mode})
		out, err := c.Exec(t.Context(), op)
		if err != nil || out != `"`+long+`"` {
			t.Errorf("%s: long script: %.40q, %v", mode, out, err)
		}
	}
}

// TestJob starts the patch as a scheduled task and polls it to its end — in session mode and in command
// mode, where the WinRM shell that registered the task is deleted right away — then checks that a reboot
// while one runs is reported as a lost job naming the task's last result.
func TestJob(t *testing.T) {
	for _, mode := range []string{exchange.ModeSession, exchange.ModeCommand} {
		t.Run(mode, func(t *testing.T) {
			sim := startSim(t, simOptions{})
			c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{Mode: mode, ReadTimeout: 5 * time.Second, Attempts: 2})
			ctx := t.Context()
			job, err := c.StartJob(ctx, "cu-2026-11", `& 'D:\Setup.exe' /Mode:Upgrade /IAcceptExchangeServerLicenseTerms_DiagnosticDataON`, simAccount(sim, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !job.Running || job.Task != `\exmaintd\exmaintd-cu-2026-11` {
				t.Fatalf("job = %+v", job)
			}
			// The task runs at normal priority (4), not Task Scheduler's background default (7).
			settings, err := c.Exec(ctx, exchange.Op{Cmdlet: "Get-ScheduledTask", Script: `ConvertTo-Json -Compress -InputObject @((Get-ScheduledTask -TaskName 'exmaintd-cu-2026-11' -TaskPath '\exmaintd\').Settings | Select-Object Priority, ExecutionTimeLimit)`})
			if err != nil || settings != `[{"Priority":4,"ExecutionTimeLimit":"PT1H"}]` {
				t.Errorf("the task's settings: %s, %v; want priority 4 and the one-hour limit", settings, err)
			}
			done := jobDone(t, c, job)
			if done.ExitCode != 0 || !strings.Contains(done.Output, "Installed") || done.State != "Ready" || done.LastResult != 0 {
				t.Fatalf("finished job = %+v", done)
			}
			if err := c.RemoveJob(ctx, done); err != nil {
				t.Fatal(err)
			}

			lost, err := c.StartJob(ctx, "lost-1", "Start-Sleep 3600", exchange.TaskSpec{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.RestartComputer(ctx, 0); err != nil && !errors.Is(err, exchange.ErrSessionLost) {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() error {
				_, err := c.PollJob(ctx, lost)
				if errors.Is(err, exchange.ErrJobLost) {
					if !strings.Contains(err.Error(), "0x41306") {
						t.Errorf("lost job error %q does not name the task's last result (terminated)", err)
					}
					return nil
				}
				return errors.New("job not reported lost yet")
			})
		})
	}
	if _, err := exchange.OpStartJob("bad id", "x", exchange.TaskSpec{}); err == nil {
		t.Error("a job id with a space was accepted")
	}
}

// TestStartProcessDiesWithTheShell: a process started with Start-Process inside a WinRM shell belongs to
// the shell's job object and is killed when the shell is deleted (MicrosoftDocs/PowerShell-Docs#8020):
// started in command mode, where the shell goes right after the call, it never finishes — why patches run
// as scheduled tasks.
func TestStartProcessDiesWithTheShell(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{Mode: exchange.ModeCommand, ReadTimeout: 5 * time.Second})
	ctx := t.Context()
	job := "# exmaintd-job/1 old-path\n& 'D:\\Setup.exe'\n"
	u := utf16.Encode([]rune(job))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	start := "Start-Process -FilePath 'powershell.exe' -ArgumentList @('-NoProfile', '-EncodedCommand', '" + base64.StdEncoding.EncodeToString(b) + "') -PassThru | ForEach-Object { [string]$_.Id }"
	res, err := c.Run(ctx, start, 0)
	if err != nil || res.ExitCode != 0 || res.Output == "" {
		t.Fatalf("Start-Process: %+v, %v", res, err)
	}
	pid := strings.TrimSpace(res.Output)
	waitFor(t, 10*time.Second, func() error {
		res, err := c.Run(ctx, "@(Get-Process -Id "+pid+" -ErrorAction SilentlyContinue).Count", 0)
		if err != nil {
			return err
		}
		if strings.TrimSpace(res.Output) != "0" {
			return fmt.Errorf("process %s still runs after its shell was deleted", pid)
		}
		return nil
	})
	// It wrote no exit code: a poll would report the job lost.
	res, err = c.Run(ctx, "Test-Path -Path 'C:\\ProgramData\\exmaintd\\jobs\\old-path.exit'", 0)
	if err != nil || strings.TrimSpace(res.Output) != "False" {
		t.Fatalf("the killed process left an exit file: %+v, %v", res, err)
	}
}

func TestNewRefusesUnsafeSettings(t *testing.T) {
	base := exchange.Endpoint{Name: "EX01", Host: "127.0.0.1", Port: 5985, User: "u", Password: secret.New("p")}
	tests := []struct {
		name string
		edit func(*exchange.Endpoint)
		opts exchange.Options
		want string
	}{
		{"basic over http", func(e *exchange.Endpoint) { e.Auth = exchange.AuthBasic }, exchange.Options{}, "nothing would be encrypted"},
		{"ntlm over http", func(e *exchange.Endpoint) { e.Auth = exchange.AuthNTLM }, exchange.Options{}, "allow_unencrypted = true"},
		{"exchange endpoint over http", func(e *exchange.Endpoint) {
			e.Auth, e.HTTPS, e.CACertPEM, e.ExchangeURL = exchange.AuthNTLM, true, nil, "http://ex01.exlab.local/PowerShell"
		}, exchange.Options{}, "ex01.exlab.local"},
		{"exchange endpoint without host", func(e *exchange.Endpoint) {
			e.Auth, e.HTTPS, e.CACertPEM, e.ExchangeURL = exchange.AuthNTLM, true, nil, "https://:443/PowerShell"
		}, exchange.Options{}, `exchange_url "https://:443/PowerShell"`},
		{"certificate over http", func(e *exchange.Endpoint) { e.Auth = exchange.AuthCertificate }, exchange.Options{}, "https"},
		{"unknown auth", func(e *exchange.Endpoint) { e.Auth = "credssp" }, exchange.Options{}, `unknown auth "credssp"`},
		{"kerberos without realm", func(e *exchange.Endpoint) { e.Auth = exchange.AuthKerberos }, exchange.Options{}, "needs a realm"},
		{"kerberos without secret", func(e *exchange.Endpoint) {
			e.Auth, e.Password, e.AllowUnencrypted = exchange.AuthKerberos, secret.Value{}, true
			e.Kerberos = &exchange.Kerberos{Realm: "EXLAB.LOCAL", Krb5Conf: "[libdefaults]\n default_realm = EXLAB.LOCAL\n"}
		}, exchange.Options{}, "needs a password or a keytab"},
		{"bad name", func(e *exchange.Endpoint) { e.Auth = exchange.AuthNTLM; e.Name = "EX'01" }, exchange.Options{}, "server identity"},
		{"no port", func(e *exchange.Endpoint) { e.Auth = exchange.AuthNTLM; e.Port = 0 }, exchange.Options{}, "port"},
		{"bad mode", func(e *exchange.Endpoint) { e.Auth = exchange.AuthNTLM }, exchange.Options{Mode: "psrp"}, `mode "psrp"`},
		{"bad load", func(e *exchange.Endpoint) { e.Auth = exchange.AuthNTLM }, exchange.Options{Load: "module"}, `load "module"`},
		{"bad ca", func(e *exchange.Endpoint) { e.Auth = exchange.AuthNTLM; e.HTTPS = true; e.CACertPEM = []byte("junk") }, exchange.Options{}, "ca_file"},
	}
	for _, tt := range tests {
		ep := base
		tt.edit(&ep)
		_, err := exchange.New(ep, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestNTLMNeverFallsBackToClearBasic: a listener that offers only Basic over plain HTTP never sees the
// password (go-ntlmssp would fall back to Basic).
func TestNTLMNeverFallsBackToClearBasic(t *testing.T) {
	var sawBasic atomic.Bool
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
			sawBasic.Store(true)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	host, port := splitHostPort(t, srv.Listener.Addr())
	c := newClient(t, exchange.Endpoint{Name: "EX01", Host: host, Port: port, Auth: exchange.AuthNTLM, User: `EXLAB\Administrator`, Password: secret.New("s3cret-pw"),
		AllowUnencrypted: true, // the operator allowed plain HTTP; a Basic fallback must still never happen
		ExchangeURL:      srv.URL + "/PowerShell"},
		exchange.Options{ReadTimeout: 5 * time.Second})
	_, err := c.Queues(t.Context(), "EX01")
	if err == nil || sawBasic.Load() || requests.Load() == 0 {
		t.Fatalf("err = %v, server saw Basic = %v, requests %d (the listener must be asked)", err, sawBasic.Load(), requests.Load())
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error %q contains the password", err)
	}
}

// TestClientCertificate: with auth = certificate the client presents its certificate over TLS and the
// WS-Management mutual-auth header, and sends no password.
func TestClientCertificate(t *testing.T) {
	certPEM, keyPEM, cert := selfSigned(t, "exmaintd")
	var gotCert, gotHeader atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			gotCert.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		gotHeader.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized) // enough: the test looks at what arrived
	}))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	host, port := splitHostPort(t, srv.Listener.Addr())
	c := newClient(t, exchange.Endpoint{Name: "EX01", Host: host, Port: port, HTTPS: true, TLSServerName: "example.com", CACertPEM: caPEM,
		Auth: exchange.AuthCertificate, ClientCertPEM: certPEM, ClientKeyPEM: keyPEM, ExchangeURL: srv.URL + "/PowerShell"}, exchange.Options{ReadTimeout: 5 * time.Second})
	_, err := c.Queues(t.Context(), "EX01")
	var ae *exchange.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want the server's 401 as an AuthError", err)
	}
	if gotCert.Load() != "exmaintd" || gotHeader.Load() != "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual" {
		t.Errorf("server saw certificate %v and Authorization %v", gotCert.Load(), gotHeader.Load())
	}
}

// TestClientCertificateWithExchsim: the whole client (session mode, a write and its read-back) over HTTPS
// with certificate authentication against exchsim's WinRM certificate mapping; a certificate the listener
// has no mapping for is an AuthError, not retried.
func TestClientCertificateWithExchsim(t *testing.T) {
	certPEM, keyPEM, mapping, err := wsman.ClientCertificate("exmaintd@exlab.local", "exmaintd", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, otherKey, _, err := wsman.ClientCertificate("exmaintd@exlab.local", "exmaintd", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sim := simtest.Start(t, simtest.Options{HTTPS: true, CertMappings: []wsman.CertMapping{mapping}})
	ep := endpoint(t, sim, "EX01", exchange.AuthCertificate)
	ep.User, ep.Password = "", secret.Value{}
	ep.ClientCertPEM, ep.ClientKeyPEM = certPEM, keyPEM
	c := newClient(t, ep, exchange.Options{})
	if err := c.SetComponentState(t.Context(), "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatal(err)
	}
	states, err := c.ComponentStates(t.Context(), "EX01")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range states {
		found = found || (s.Component == "HubTransport" && s.State == "Draining")
	}
	if !found {
		t.Errorf("HubTransport not Draining after the write: %+v", states)
	}
	ep.ClientCertPEM, ep.ClientKeyPEM = otherPEM, otherKey
	bad := newClient(t, ep, exchange.Options{Attempts: 3})
	_, err = bad.Queues(t.Context(), "EX01")
	var ae *exchange.AuthError
	if !errors.As(err, &ae) || bad.Stats().Retries != 0 {
		t.Errorf("unmapped certificate: err = %v, retries %d; want an AuthError, no retry", err, bad.Stats().Retries)
	}
}

func splitHostPort(tb testing.TB, a net.Addr) (string, int) {
	tb.Helper()
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		tb.Fatal(err)
	}
	return h, n
}

func selfSigned(tb testing.TB, cn string) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), cert
}

// TestNTLMRefusesAnUnauthenticatedReply: go-ntlmssp sends each request anonymously first; a server that answers
// it with 200 never authenticated the connection, so its reply is refused — on both channels — instead of
// being believed.
func TestNTLMRefusesAnUnauthenticatedReply(t *testing.T) {
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = io.WriteString(w, "<s:Envelope/>")
	}))
	t.Cleanup(impostor.Close)
	host, port := splitHostPort(t, impostor.Listener.Addr())
	c := newClient(t, exchange.Endpoint{Name: "EX01", Host: host, Port: port, Auth: exchange.AuthNTLM, User: `EXLAB\Administrator`,
		Password: secret.New("s3cret-pw"), AllowUnencrypted: true, ExchangeURL: impostor.URL + "/PowerShell"}, exchange.Options{ReadTimeout: 5 * time.Second})
	for channel, call := range map[string]func() error{
		"exchange": func() error { _, err := c.Queues(t.Context(), "EX01"); return err },
		"winrs":    func() error { _, err := c.LastBootUpTime(t.Context()); return err },
	} {
		err := call()
		var ae *exchange.AuthError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "never authenticated") {
			t.Errorf("%s channel: err = %v, want an AuthError: the reply came on an unauthenticated connection", channel, err)
		}
	}
}

// TestRunHonoursItsTimeout: a configured command run in the session is bounded by the timeout it is given
// (the patch command's own), not by the client's WriteTimeout — which used to win silently.
func TestRunHonoursItsTimeout(t *testing.T) {
	sim := startSim(t, simOptions{cost: cost.Profile{RTT: 20 * time.Millisecond}})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{WriteTimeout: 30 * time.Millisecond, StartTimeout: 30 * time.Second})
	ctx := t.Context()
	if _, err := c.LastBootUpTime(ctx); err != nil { // start the session outside the measured calls
		t.Fatal(err)
	}
	if _, err := c.Run(ctx, "Get-Date", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run with the client's 30 ms write timeout and a 20 ms round trip: %v, want a deadline", err)
	}
	if res, err := c.Run(ctx, "Get-Date", 30*time.Second); err != nil || res.ExitCode != 0 {
		t.Fatalf("Run with its own 30 s timeout: %+v, %v", res, err)
	}
}

// TestPendingReboot: the four markers as Windows keeps them — none on a fresh server; an install leaves
// CBS, Windows Update and file renames pending; a reboot clears them; a reboot pending from outside any
// window is seen too.
func TestPendingReboot(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{ReadTimeout: 5 * time.Second, Attempts: 2})
	ctx := t.Context()
	p, err := c.PendingReboot(ctx)
	if err != nil || len(p.Reasons()) != 0 {
		t.Fatalf("fresh server: %+v, %v", p, err)
	}
	job, err := c.StartJob(ctx, "wu-1", "$s = New-Object -ComObject Microsoft.Update.Session; $s.CreateUpdateInstaller().Install()", exchange.TaskSpec{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() error {
		j, err := c.PollJob(ctx, job)
		if err == nil && j.Running {
			return errors.New("running")
		}
		return err
	})
	p, err = c.PendingReboot(ctx)
	if err != nil || !p.CBS || !p.WindowsUpdate || !p.FileRenames || p.Rename {
		t.Fatalf("after an install: %+v, %v", p, err)
	}
	if err := c.RestartComputer(ctx, 0); err != nil && !errors.Is(err, exchange.ErrSessionLost) {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() error {
		p, err := c.PendingReboot(ctx)
		if err != nil {
			return err
		}
		if len(p.Reasons()) != 0 {
			return fmt.Errorf("still pending after the reboot: %v", p.Reasons())
		}
		return nil
	})
	if err := sim.InjectFault(exchsim.Fault{Kind: "pending_reboot", Server: "EX03"}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.PendingReboot(ctx); err != nil || !p.CBS {
		t.Fatalf("a reboot pending from outside: %+v, %v", p, err)
	}
	// The markers CSS-Exchange's Get-ServerRebootPending and the community's checks read besides (issue 26):
	// each is found and named; on a server without a Configuration Manager client, its namespace's absence
	// is "no".
	for _, tc := range []struct {
		marker, reason string
		set            func(exchange.PendingReboot) bool
	}{
		{"updateexe", "UpdateExeVolatile", func(p exchange.PendingReboot) bool { return p.UpdateExeVolatile }},
		{"configmgr", "Configuration Manager client", func(p exchange.PendingReboot) bool { return p.ConfigMgr }},
	} {
		if err := sim.Org().Reset(); err != nil {
			t.Fatal(err)
		}
		if p, err := c.PendingReboot(ctx); err != nil || tc.set(p) || len(p.Reasons()) != 0 {
			t.Fatalf("%s before: %+v, %v", tc.marker, p, err)
		}
		if err := sim.InjectFault(exchsim.Fault{Kind: "pending_reboot", Server: "EX03", Target: tc.marker}); err != nil {
			t.Fatal(err)
		}
		p, err := c.PendingReboot(ctx)
		if err != nil || !tc.set(p) || len(p.Reasons()) != 1 || !strings.Contains(p.Reasons()[0], tc.reason) {
			t.Errorf("%s: %+v (%v), %v; want it alone, named %q", tc.marker, p, p.Reasons(), err, tc.reason)
		}
	}
}

// TestJobTaskDefinition: what exchsim cannot check because it does not run the job's body — the job
// script locks the jobs folder to Administrators and SYSTEM (inheritance from ProgramData cut) and removes
// stale files before the command runs, and exits with its code; SYSTEM runs it by default, a gMSA with a
// password logon, always at the highest run level.
func TestJobTaskDefinition(t *testing.T) {
	op, err := exchange.OpStartJob("run-7-1", `& 'D:\Updates\su.exe' /passive`, exchange.TaskSpec{TimeLimit: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	show := op.Text()
	for _, want := range []string{
		"New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest",
		"-ExecutionTimeLimit '0.02:00:00' -Priority 4 -MultipleInstances IgnoreNew",
		// the command runs under Continue: a native installer's stderr must not end the job (#26)
		"$ErrorActionPreference = 'Continue'",
		"$_.FullyQualifiedErrorId -notlike 'NativeCommandError*'",
		"$acl.SetAccessRuleProtection($true, $false)",
		"foreach ($sid in 'S-1-5-32-544', 'S-1-5-18')",
		"Set-Acl -Path $dir -AclObject $acl",
		"Remove-Item -Force -ErrorAction SilentlyContinue -Path 'C:\\ProgramData\\exmaintd\\jobs\\run-7-1.log', 'C:\\ProgramData\\exmaintd\\jobs\\run-7-1.exit'",
		"& 'D:\\Updates\\su.exe' /passive",
		"exit $code",
	} {
		if !strings.Contains(show, want) {
			t.Errorf("the task definition lacks %q:\n%s", want, show)
		}
	}
	if strings.Index(show, "Set-Acl") > strings.Index(show, "su.exe") {
		t.Error("the folder's ACL is set after the command runs")
	}
	if c := strings.Index(show, "$ErrorActionPreference = 'Continue'"); c < strings.Index(show, "Set-Acl") || c > strings.Index(show, "su.exe") {
		t.Error("the command does not run under 'Continue' (or the folder's ACL does not get 'Stop')")
	}
	if strings.Contains(op.Text(), op.Script) || !strings.Contains(op.Script, "-EncodedCommand ") {
		t.Error("Show must replace the base64 job, Script must carry it")
	}
	// Without a limit of its own, a task states 4 hours.
	if op, err := exchange.OpStartJob("run-7-2", "x", exchange.TaskSpec{}); err != nil || !strings.Contains(op.Script, "-ExecutionTimeLimit '0.04:00:00'") {
		t.Errorf("default limit: %v\n%.600s", err, op.Script)
	}
	op, err = exchange.OpStartJob("run-7-1", "x", exchange.TaskSpec{User: `EXLAB\gmsa-patch$`})
	if err != nil || !strings.Contains(op.Script, `New-ScheduledTaskPrincipal -UserId 'EXLAB\gmsa-patch$' -LogonType Password -RunLevel Highest`) {
		t.Errorf("gMSA principal: %v\n%s", err, op.Script)
	}
}

// TestDatabaseMountedOnServer: after a switchover Get-MailboxDatabase's Server (the owning server in AD)
// still names the old host; MountedOnServer (-Status) names where the database is mounted, and that is
// what Database.Server holds.
func TestDatabaseMountedOnServer(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{ReadTimeout: 10 * time.Second, Attempts: 2})
	ctx := t.Context()
	if err := c.MoveActiveDatabases(ctx, "EX01"); err != nil {
		t.Fatal(err)
	}
	var dbs []exchange.Database
	waitFor(t, 20*time.Second, func() error {
		var err error
		if dbs, err = c.Databases(ctx, "EX02"); err != nil {
			return err
		}
		for _, d := range dbs {
			if d.Server != "EX02" {
				return fmt.Errorf("%s is mounted on %q", d.Name, d.Server)
			}
		}
		return nil
	})
	owners := 0
	for _, d := range dbs {
		if d.Owner == "EX01" {
			owners++
		}
	}
	if owners == 0 {
		t.Errorf("no database still names its old owning server after the move: %+v", dbs)
	}
}

// TestNativeStderrDoesNotEndTheJob: an installer that writes to stderr (exchsim's patch_stderr; Exchange
// setup prints warnings there) does not end exmaintd's job: the command runs under 'Continue' and the
// installer's exit code decides. A command that sets 'Stop' itself still ends at the first line — the
// job records exit 1 while the installer runs on — and Installers sees that installer at work.
func TestNativeStderrDoesNotEndTheJob(t *testing.T) {
	sim := startSim(t, simOptions{})
	if err := sim.InjectFault(exchsim.Fault{Kind: "patch_stderr", Server: "EX03"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	ctx := t.Context()
	const setup = `& 'D:\CU\Setup.exe' /Mode:Upgrade /IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF`
	job, err := c.StartJob(ctx, "stderr-1", setup, simAccount(sim, 0))
	if err != nil {
		t.Fatal(err)
	}
	if done := jobDone(t, c, job); done.ExitCode != 0 || strings.Contains(done.Output, "NativeCommandError") {
		t.Errorf("exmaintd's wrapper: exit %d, output %q; want the installer's own 0", done.ExitCode, done.Output)
	}
	if in, err := c.Installers(ctx); err != nil || len(in.Active()) != 0 {
		t.Errorf("after the job: installers %v, %v; want none", in.Active(), err)
	}

	// On EX02, which has no restart pending from that update (setup would refuse to start), with an
	// installer that runs until told.
	for _, kind := range []string{"patch_stderr", "patch_hangs"} {
		if err := sim.InjectFault(exchsim.Fault{Kind: kind, Server: "EX02"}); err != nil {
			t.Fatal(err)
		}
	}
	c = newClient(t, endpoint(t, sim, "EX02", exchange.AuthNTLM), exchange.Options{})
	job, err = c.StartJob(ctx, "stderr-2", "$ErrorActionPreference = 'Stop'\n"+setup, simAccount(sim, 0))
	if err != nil {
		t.Fatal(err)
	}
	done := jobDone(t, c, job)
	if done.ExitCode != 1 || !strings.Contains(done.Output, "NativeCommandError") {
		t.Errorf("a command under 'Stop': exit %d, output %q; want 1 with the NativeCommandError", done.ExitCode, done.Output)
	}
	if in, err := c.Installers(ctx); err != nil || !slices.Contains(in.Processes, "ExSetup") {
		t.Errorf("the job has ended, its setup has not: installers %+v, %v; want ExSetup", in, err)
	}
}

// TestInstallers: the installers at work on a host, as OpInstallers reads them — Windows Installer's
// mutex for an .msp, the servicing worker and wusa for an .msu — and none once they end.
func TestInstallers(t *testing.T) {
	sim := startSim(t, simOptions{})
	if err := sim.InjectFault(exchsim.Fault{Kind: "patch_hangs", Server: "EX03"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	ctx := t.Context()
	for _, tc := range []struct {
		id, command string
		want        []string
	}{
		{"msp", `Start-Process -FilePath 'msiexec.exe' -ArgumentList '/update "D:\SU\Exchange-KB5049233.msp" /qn /norestart' -Wait`, []string{"Windows Installer (the _MSIExecute mutex is held)"}},
		{"msu", `& wusa.exe 'D:\WU\windows10.0-kb5048661-x64.msu' /quiet /norestart`, []string{"TiWorker.exe", "wusa.exe"}},
	} {
		if _, err := c.StartJob(ctx, tc.id, tc.command, exchange.TaskSpec{}); err != nil {
			t.Fatal(err)
		}
		in, err := c.Installers(ctx)
		if err != nil || !slices.Equal(in.Active(), tc.want) {
			t.Errorf("%s: installers %q, %v; want %q", tc.id, in.Active(), err, tc.want)
		}
		if err := sim.ClearFaults(); err != nil { // the installer ends
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, func() error {
			in, err := c.Installers(ctx)
			if err == nil && len(in.Active()) > 0 {
				err = fmt.Errorf("still at work: %v", in.Active())
			}
			return err
		})
		if err := sim.InjectFault(exchsim.Fault{Kind: "patch_hangs", Server: "EX03"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJobAsNamedAccount: a task for a named account carries its password in a variable on a line of its
// own (an error record quotes only the failing command's line), never in what plan shows; Task Scheduler
// checks the password when the task is registered, and a wrong one fails the start without the password in
// the error. Exchange setup refuses SYSTEM, and runs as the scenario's account (Organization Management).
func TestJobAsNamedAccount(t *testing.T) {
	const pw = "S3cret'pa55"
	op, err := exchange.OpStartJob("cu-1", "Get-Date", exchange.TaskSpec{User: `EXLAB\svc-exupdate`, Password: secret.New(pw)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(op.Script, "$exmPw = 'S3cret''pa55'\n") || !strings.Contains(op.Script, `-User 'EXLAB\svc-exupdate' -Password $exmPw -RunLevel Highest`) ||
		strings.Contains(op.Text(), "S3cret") || !strings.Contains(op.Text(), "<run_as_password>") {
		t.Errorf("script %.200q / shown %.200q", op.Script, op.Text())
	}
	for _, bad := range []exchange.TaskSpec{{User: `EXLAB\svc`}, {Password: secret.New("x")}, {User: `EXLAB\gmsa$`, Password: secret.New("x")}} {
		if _, err := exchange.OpStartJob("x", "Get-Date", bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}

	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	ctx := t.Context()
	wrong := simAccount(sim, 0)
	wrong.Password = secret.New(pw)
	if _, err := c.StartJob(ctx, "wrong-pw", "Get-Date", wrong); err == nil || !strings.Contains(err.Error(), "0x8007052E") || strings.Contains(err.Error(), "S3cret") {
		t.Errorf("a wrong password: %v; want the logon failure, without the password", err)
	}
	for _, tc := range []struct {
		spec exchange.TaskSpec
		exit int
		out  string
	}{
		{exchange.TaskSpec{}, 1, "'Organization Management' role group"},
		{simAccount(sim, 0), 0, "Installed"},
	} {
		job, err := c.StartJob(ctx, "cu-as-"+strconv.Itoa(tc.exit), `& 'D:\CU\Setup.exe' /Mode:Upgrade /IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF`, tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, func() error {
			j, err := c.PollJob(ctx, job)
			if err == nil && j.Running {
				err = errors.New("still running")
			}
			if err == nil && (j.ExitCode != tc.exit || !strings.Contains(j.Output, tc.out)) {
				t.Errorf("setup as %q: exit %d, output %q; want %d with %q", tc.spec.User, j.ExitCode, j.Output, tc.exit, tc.out)
			}
			return err
		})
	}
}

// TestExamplePatches: config.example.toml's patches run as exchsim's Windows runs them — the Windows
// updates through Windows' own Update Agent API (PSWindowsUpdate, a Gallery module on no server by
// default, failed there), the security update from its .msp and the cumulative update through setup, as
// a named account — each to exit code 0 with the installer seen at work while it ran.
func TestExamplePatches(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, simOptions{})
	if err := sim.InjectFault(exchsim.Fault{Kind: "patch_hangs"}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, tc := range []struct{ patch, server, installer string }{
		{"windows-updates", "EX01", "TiWorker.exe"},
		{"exchange-su", "EX02", "Windows Installer (the _MSIExecute mutex is held)"},
		{"exchange-cu", "EX03", "ExSetup.exe"},
	} {
		i := slices.IndexFunc(c.Patches, func(p config.Patch) bool { return p.Name == tc.patch })
		if i < 0 {
			t.Fatalf("no patch %s in the example", tc.patch)
		}
		p := c.Patches[i]
		spec := exchange.TaskSpec{}
		if p.RunAs != "" { // the example's account is the admin's; exchsim knows its own
			spec = simAccount(sim, 0)
		}
		cl := newClient(t, endpoint(t, sim, tc.server, exchange.AuthNTLM), exchange.Options{})
		job, err := cl.StartJob(ctx, tc.patch, p.Command, spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.patch, err)
		}
		if in, err := cl.Installers(ctx); err != nil || !slices.Contains(in.Active(), tc.installer) {
			t.Errorf("%s: installers %q, %v; want %s at work", tc.patch, in.Active(), err, tc.installer)
		}
		_ = sim.ClearFaults()
		waitFor(t, 20*time.Second, func() error {
			j, err := cl.PollJob(ctx, job)
			if err == nil && j.Running {
				err = errors.New("still running")
			}
			if err == nil && j.ExitCode != 0 {
				t.Errorf("%s: exit %d, output %q", tc.patch, j.ExitCode, j.Output)
			}
			return err
		})
		if err := sim.InjectFault(exchsim.Fault{Kind: "patch_hangs"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServerTime: the host's clock as it reports it, in UTC — off by what exchsim's clock_skew fault sets.
func TestServerTime(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	before := time.Now()
	now, err := c.ServerTime(t.Context())
	if err != nil || now.Location() != time.UTC || now.Before(before.Add(-time.Second)) || now.After(time.Now().Add(time.Second)) {
		t.Fatalf("server time %v, %v; want about %v in UTC", now, err, before)
	}
	if err := sim.InjectFault(exchsim.Fault{Kind: "clock_skew", Server: "EX03", Target: "-7m"}); err != nil {
		t.Fatal(err)
	}
	skewed, err := c.ServerTime(t.Context())
	if d := time.Since(skewed); err != nil || d < 7*time.Minute-time.Second || d > 7*time.Minute+5*time.Second {
		t.Errorf("with the clock 7 minutes behind: %v, %v", skewed, err)
	}
}
