package wsman

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

const (
	testUser     = "Administrator"
	testPassword = "Exch@ngeSim1"
)

// testLauncher runs a tiny command language, enough to exercise the protocol:
//
//	echo TEXT        writes TEXT\r\n to stdout, exit 0
//	whoami           writes the authenticated user (lower case), as whoami.exe does
//	fail N TEXT      writes TEXT to stderr, exit N
//	cat              copies stdin to stdout until EOF, exit 0
//	lines N          writes N numbered lines (long output), exit 0
//	sleep D TEXT     waits D (Go duration), then writes TEXT, exit 0 (ctx cancel: exit 1)
//	hang             waits for ctx cancel, exit 1
type testLauncher struct{}

func (testLauncher) Run(ctx context.Context, req CommandRequest, stdin io.Reader, stdout, stderr io.Writer) int {
	line := strings.TrimSpace(strings.Join(append([]string{req.Command}, req.Arguments...), " "))
	verb, rest, _ := strings.Cut(line, " ")
	switch verb {
	case "echo":
		fmt.Fprintf(stdout, "%s\r\n", rest)
	case "whoami":
		fmt.Fprintf(stdout, "%s\r\n", strings.ToLower(req.User))
	case "fail":
		var n int
		var text string
		_, _ = fmt.Sscanf(rest, "%d %s", &n, &text)
		fmt.Fprint(stderr, text)
		return n
	case "cat":
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			fmt.Fprintf(stdout, "got:%s\r\n", sc.Text())
		}
	case "lines":
		var n int
		_, _ = fmt.Sscanf(rest, "%d", &n)
		for i := range n {
			fmt.Fprintf(stdout, "line %07d %s\r\n", i, strings.Repeat("x", 40))
		}
	case "sleep":
		ds, text, _ := strings.Cut(rest, " ")
		d, _ := time.ParseDuration(ds)
		select {
		case <-time.After(d):
			fmt.Fprint(stdout, text)
		case <-ctx.Done():
			return 1
		}
	case "hang":
		<-ctx.Done()
		return 1
	default:
		fmt.Fprintf(stderr, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", verb)
		return 1
	}
	return 0
}

type listener struct {
	srv   *Server
	host  string
	port  int
	https bool
	caPEM []byte
}

func startServer(t *testing.T, https bool, mutate func(*Config)) *listener {
	t.Helper()
	cfg := Config{Host: "EX01", FQDN: "ex01.exlab.local", Domain: "EXLAB", DNSDomain: "exlab.local",
		User: testUser, Password: testPassword, AllowUnencrypted: true, Launcher: testLauncher{}}
	if mutate != nil {
		mutate(&cfg)
	}
	srv := New(cfg)
	hs := srv.HTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{srv: srv, host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port, https: https}
	if https {
		cert, caPEM, err := SelfSignedCertificate([]string{"ex01.exlab.local", "127.0.0.1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l.caPEM = caPEM
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if len(cfg.CertMappings) > 0 {
			hs.TLSConfig.ClientAuth = tls.RequestClientCert
		}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		<-done
		srv.Close()
	})
	return l
}

type clientOpts struct {
	ntlm          bool
	password      string
	timeout       string // OperationTimeout
	cert, certKey []byte // PEM: certificate authentication (masterzen's ClientAuthRequest)
}

func (l *listener) client(t *testing.T, o clientOpts) *winrm.Client {
	t.Helper()
	if o.password == "" {
		o.password = testPassword
	}
	if o.timeout == "" {
		o.timeout = "PT20S"
	}
	ep := winrm.NewEndpoint(l.host, l.port, l.https, false, l.caPEM, o.cert, o.certKey, 30*time.Second)
	params := winrm.NewParameters(o.timeout, "en-US", 153600)
	user := testUser
	switch {
	case o.ntlm:
		user = `EXLAB\` + testUser
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	case o.cert != nil:
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientAuthRequest{} }
	}
	c, err := winrm.NewClientWithParameters(ep, user, o.password, params)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c *winrm.Client, cmd string) (string, string, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return c.RunWithContextWithString(ctx, cmd, "")
}

// runNTLM is run for masterzen's ClientNTLM, repeated once after a 401. On a loaded machine go-ntlmssp's
// AUTHENTICATE can leave on a new TCP connection (net/http had not yet returned the first one to its pool),
// where HTTP.sys — and exchsim, faithfully — hold no challenge (winrm-protocol.md §1.4). exmaintd's own
// transport repeats such a handshake once for the same reason; a listener that really refuses NTLM fails
// the second time too.
// repeats, when not nil, counts the repetitions (each costs 401s a test may be counting).
func runNTLM(t *testing.T, c *winrm.Client, cmd string, repeats *int) (string, string, int, error) {
	t.Helper()
	stdout, stderr, code, err := run(t, c, cmd)
	if err != nil && strings.Contains(err.Error(), "401") {
		t.Logf("NTLM handshake refused once (split across connections?), repeating: %v", err)
		if repeats != nil {
			*repeats++
		}
		return run(t, c, cmd)
	}
	return stdout, stderr, code, err
}

func TestRunAcrossAuthAndTransport(t *testing.T) {
	tests := []struct {
		name  string
		https bool
		ntlm  bool
	}{
		{"basic http", false, false},
		{"basic https", true, false},
		{"ntlm http", false, true},
		{"ntlm https", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startServer(t, tt.https, nil)
			c := l.client(t, clientOpts{ntlm: tt.ntlm})
			runner := run
			if tt.ntlm {
				runner = func(t *testing.T, c *winrm.Client, cmd string) (string, string, int, error) {
					t.Helper()
					return runNTLM(t, c, cmd, nil)
				}
			}
			stdout, stderr, code, err := runner(t, c, "echo hello exchange")
			if err != nil {
				t.Fatal(err)
			}
			if stdout != "hello exchange\r\n" || stderr != "" || code != 0 {
				t.Errorf("got stdout %q stderr %q code %d", stdout, stderr, code)
			}
			stdout, stderr, code, err = runner(t, c, "fail 3 boom")
			if err != nil {
				t.Fatal(err)
			}
			if stdout != "" || stderr != "boom" || code != 3 {
				t.Errorf("got stdout %q stderr %q code %d", stdout, stderr, code)
			}
			if got := l.srv.Shells(); got != 0 {
				t.Errorf("%d shells left after Run (Delete not handled?)", got)
			}
			reqs := l.srv.Requests()
			for _, a := range []string{"Create", "Command", "Receive", "Signal", "Delete"} {
				if reqs[a] < 2 {
					t.Errorf("requests[%s] = %d, want >= 2 (%v)", a, reqs[a], reqs)
				}
			}
		})
	}
}

// TestNTLMBoundToConnection checks HTTP.sys behaviour: after one handshake, later requests on the same
// connection need no Authorization header — the listener serves them as the connection's user and never
// challenges an authenticated connection again. Counted by connection, not by 401s in all: how many
// connections masterzen's client opens (each with a handshake of its own) depends on how soon net/http
// returns one to its pool, which load changes — the count of 401s failed 3 runs in 100 on an idle machine.
func TestNTLMBoundToConnection(t *testing.T) {
	l := startServer(t, false, nil)
	c := l.client(t, clientOpts{ntlm: true})
	if _, _, _, err := runNTLM(t, c, "echo one", nil); err != nil {
		t.Fatal(err)
	}
	if l.srv.Requests()["unauthorized"] == 0 {
		t.Fatal("no 401 during the first NTLM handshake")
	}
	bound, _ := l.srv.ConnectionAuth()
	for range 3 {
		if _, _, _, err := runNTLM(t, c, "echo again", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Three Runs are 15 requests: most go on a connection that has authenticated, with no header.
	after, rechallenged := l.srv.ConnectionAuth()
	if rechallenged != 0 {
		t.Errorf("%d challenges on connections that had authenticated: auth is not bound to the connection", rechallenged)
	}
	if after-bound < 5 {
		t.Errorf("%d of 15 warm requests were served on an authenticated connection without a header; want most", after-bound)
	}
}

func TestBadPasswordIs401(t *testing.T) {
	for _, ntlm := range []bool{false, true} {
		t.Run(fmt.Sprintf("ntlm=%v", ntlm), func(t *testing.T) {
			l := startServer(t, false, nil)
			c := l.client(t, clientOpts{ntlm: ntlm, password: "wrong"})
			_, _, _, err := run(t, c, "echo x")
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("err = %v, want a 401", err)
			}
		})
	}
}

func TestAllowUnencryptedOff(t *testing.T) {
	l := startServer(t, false, func(c *Config) { c.AllowUnencrypted = false })
	_, _, _, err := run(t, l.client(t, clientOpts{}), "echo x")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Basic over HTTP with AllowUnencrypted=false: err = %v, want 401", err)
	}
	ls := startServer(t, true, func(c *Config) { c.AllowUnencrypted = false })
	if _, _, _, err := run(t, ls.client(t, clientOpts{}), "echo x"); err != nil {
		t.Fatalf("Basic over HTTPS must work with AllowUnencrypted=false: %v", err)
	}
}

func TestHTTPSVerifiesCertificate(t *testing.T) {
	l := startServer(t, true, nil)
	l.caPEM = nil // trust nothing but the system roots
	_, _, _, err := run(t, l.client(t, clientOpts{}), "echo x")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
}

func TestStdinStreaming(t *testing.T) {
	l := startServer(t, false, nil)
	c := l.client(t, clientOpts{})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	shell, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer shell.Close()
	cmd, err := shell.ExecuteWithContext(ctx, "cat")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(&stdout, cmd.Stdout) }()
	go func() { defer wg.Done(); _, _ = io.Copy(&stderr, cmd.Stderr) }()
	for i := range 3 {
		if _, err := fmt.Fprintf(cmd.Stdin, "request %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Stdin.Close(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	want := "got:request 0\r\ngot:request 1\r\ngot:request 2\r\n"
	if stdout.String() != want || cmd.ExitCode() != 0 {
		t.Errorf("stdout %q exit %d, want %q", stdout.String(), cmd.ExitCode(), want)
	}
}

// TestLongOutputIsSplit sends ~1.6 MiB; every Receive reply must stay under MaxEnvelopeSize.
func TestLongOutputIsSplit(t *testing.T) {
	l := startServer(t, false, nil)
	stdout, _, code, err := run(t, l.client(t, clientOpts{}), "lines 30000")
	if err != nil || code != 0 {
		t.Fatalf("err %v code %d", err, code)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\r\n"), "\r\n")
	if len(lines) != 30000 || !strings.HasPrefix(lines[29999], "line 0029999 ") {
		t.Fatalf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if n := l.srv.Requests()["Receive"]; n < 10 {
		t.Errorf("only %d Receives for %d bytes: output not split by MaxEnvelopeSize", n, len(stdout))
	}
}

// TestOperationTimeoutFaultIsRetried: a command that answers after longer than OperationTimeout makes the
// server answer the w:TimedOut fault, which the client must retry transparently.
func TestOperationTimeoutFaultIsRetried(t *testing.T) {
	l := startServer(t, false, nil)
	stdout, _, code, err := run(t, l.client(t, clientOpts{timeout: "PT1S"}), "sleep 2500ms done")
	if err != nil || code != 0 || stdout != "done" {
		t.Fatalf("stdout %q code %d err %v", stdout, code, err)
	}
	if n := l.srv.Requests()["fault"]; n < 1 {
		t.Errorf("no timeout fault was answered (faults %d)", n)
	}
}

// soapPost sends a raw request envelope with Basic auth and returns status and body.
func soapPost(t *testing.T, l *listener, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, fmt.Sprintf("http://%s:%d/wsman", l.host, l.port), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPassword)
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 401 && !strings.HasPrefix(ct, "application/soap+xml") {
		t.Errorf("Content-Type %q on a %d reply", ct, resp.StatusCode)
	}
	return resp.StatusCode, string(b)
}

func envelopeFor(action, shellID, body string) string {
	sel := ""
	if shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + shellID + `</w:Selector></w:SelectorSet>`
	}
	// Deliberately unusual prefixes: the server must match namespaces, not prefixes.
	return `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:sh="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><e:Header>` +
		`<wsa:Action>` + action + `</wsa:Action><wsa:MessageID>uuid:11111111-2222-3333-4444-555555555555</wsa:MessageID>` +
		`<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><w:OperationTimeout>PT1.500S</w:OperationTimeout>` + sel +
		`</e:Header><e:Body>` + body + `</e:Body></e:Envelope>`
}

func TestFaultShapes(t *testing.T) {
	l := startServer(t, false, func(c *Config) { c.MaxShellsPerUser = 1 })
	status, body := soapPost(t, l, envelopeFor(actionCreate, "", `<sh:Shell><sh:InputStreams>stdin</sh:InputStreams><sh:OutputStreams>stdout stderr</sh:OutputStreams></sh:Shell>`))
	if status != 200 || !strings.Contains(body, `<w:Selector Name="ShellId">`) || !strings.Contains(body, "<a:RelatesTo>uuid:11111111-2222-3333-4444-555555555555</a:RelatesTo>") {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body = soapPost(t, l, envelopeFor(actionCreate, "", `<sh:Shell/>`))
	if status != 500 || !strings.Contains(body, `Code="2150859173"`) || !strings.Contains(body, "w:QuotaLimit") {
		t.Errorf("quota: %d %s", status, body)
	}
	status, body = soapPost(t, l, envelopeFor(actionReceive, "NOPE", `<sh:Receive><sh:DesiredStream CommandId="X">stdout stderr</sh:DesiredStream></sh:Receive>`))
	if status != 500 || !strings.Contains(body, `Code="2150858843"`) || !strings.Contains(body, "<a:RelatesTo>") {
		t.Errorf("unknown shell: %d %s", status, body)
	}
	status, body = soapPost(t, l, "<not-xml")
	if status != 500 || !strings.Contains(body, "s:Fault") {
		t.Errorf("garbage: %d %s", status, body)
	}
}

func TestReceiveTimesOutWithFault(t *testing.T) {
	l := startServer(t, false, nil)
	_, body := soapPost(t, l, envelopeFor(actionCreate, "", `<sh:Shell/>`))
	shellID := between(body, `<w:Selector Name="ShellId">`, `<`)
	_, body = soapPost(t, l, envelopeFor(actionCommand, shellID, `<sh:CommandLine><sh:Command>hang</sh:Command></sh:CommandLine>`))
	cmdID := between(body, `<rsp:CommandId>`, `<`)
	status, body := soapPost(t, l, envelopeFor(actionReceive, shellID, `<sh:Receive><sh:DesiredStream CommandId="`+cmdID+`">stdout stderr</sh:DesiredStream></sh:Receive>`))
	if status != 500 || !strings.Contains(body, `Code="2150858793"`) || !strings.Contains(body, "OperationTimeout") || !strings.Contains(body, "w:TimedOut") {
		t.Errorf("receive timeout: %d %s", status, body)
	}
}

func TestShellIdleExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := startServer(t, false, func(c *Config) { c.Now = clock; c.IdleTimeout = time.Minute })
	_, body := soapPost(t, l, envelopeFor(actionCreate, "", `<sh:Shell/>`))
	shellID := between(body, `<w:Selector Name="ShellId">`, `<`)
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	status, body := soapPost(t, l, envelopeFor(actionCommand, shellID, `<sh:CommandLine><sh:Command>echo x</sh:Command></sh:CommandLine>`))
	if status != 500 || !strings.Contains(body, `Code="2150858843"`) {
		t.Errorf("expired shell: %d %s", status, body)
	}
}

func TestInjectedFaults(t *testing.T) {
	tests := []struct {
		fault Fault
		want  string
	}{
		{Fault{Kind: FaultHTTP500}, "500"},
		{Fault{Kind: FaultMalformedXML}, "XML"},
		{Fault{Kind: FaultTruncatedXML}, "XML"},
		{Fault{Kind: FaultAuthFailure}, "401"},
		{Fault{Kind: FaultReset}, "EOF"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault.Kind), func(t *testing.T) {
			l := startServer(t, false, nil)
			l.srv.SetFault(tt.fault)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, _, _, err := l.client(t, clientOpts{}).RunWithContextWithString(ctx, "echo x", "")
			if err == nil {
				t.Fatal("no error with an injected fault")
			}
			if !strings.Contains(err.Error(), tt.want) && !errors.Is(err, io.EOF) {
				t.Logf("error (accepted, any error is a pass if not a hang): %v", err)
			}
			l.srv.ClearFault()
			if _, _, _, err := run(t, l.client(t, clientOpts{}), "echo x"); err != nil {
				t.Fatalf("after ClearFault: %v", err)
			}
		})
	}
}

// TestDropShellsKillsProcesses is a reboot or a WinRM service restart: running processes are cancelled and
// the shell is gone, so the next request for it answers fault 2150858843.
func TestDropShellsKillsProcesses(t *testing.T) {
	cancelled := make(chan struct{})
	l := startServer(t, false, func(c *Config) {
		c.Launcher = LauncherFunc(func(ctx context.Context, _ CommandRequest, _ io.Reader, _, _ io.Writer) int {
			<-ctx.Done()
			close(cancelled)
			return 1
		})
	})
	_, body := soapPost(t, l, envelopeFor(actionCreate, "", `<sh:Shell/>`))
	shellID := between(body, `<w:Selector Name="ShellId">`, `<`)
	_, body = soapPost(t, l, envelopeFor(actionCommand, shellID, `<sh:CommandLine><sh:Command>hang</sh:Command></sh:CommandLine>`))
	cmdID := between(body, `<rsp:CommandId>`, `<`)
	l.srv.DropShells()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the process was not cancelled when its shell was dropped")
	}
	status, body := soapPost(t, l, envelopeFor(actionReceive, shellID, `<sh:Receive><sh:DesiredStream CommandId="`+cmdID+`">stdout stderr</sh:DesiredStream></sh:Receive>`))
	if status != 500 || !strings.Contains(body, `Code="2150858843"`) {
		t.Errorf("receive on a dropped shell: %d %s", status, body)
	}
}

// TestMasterzenSwallowsFaults pins a bug of masterzen/winrm 3fad6e1 that exmaintd's client must work
// around: clientRequest.Post means to turn non-200 replies into errors in a deferred func, but its results
// are unnamed, so the assignment is lost and every SOAP fault (HTTP 500, soap+xml) comes back as a
// successful, empty reply. A Receive on a shell that vanished (reboot, expiry) then loops forever. If this
// test fails after a masterzen upgrade, the bug is fixed: revisit exchange's own Transporter.
func TestMasterzenSwallowsFaults(t *testing.T) {
	l := startServer(t, false, nil)
	c := l.client(t, clientOpts{})
	shell, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	// The shell vanishes before the command's first Receive is handled: every Receive is held 500 ms
	// before the server looks at it, and the shell is dropped in that time. Each Receive then gets fault
	// 2150858843, which masterzen turns into an empty success and asks again. (Without the hold, a Receive
	// the server already waited on when the shell went saw its process killed and reported Done — the race
	// that made a time-boxed version of this test flaky.)
	l.srv.SetFault(Fault{Kind: FaultSlow, Delay: 500 * time.Millisecond, Actions: []string{"Receive"}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd, err := shell.ExecuteWithContext(ctx, "hang")
	if err != nil {
		t.Fatal(err)
	}
	l.srv.DropShells()
	go func() { _, _ = io.Copy(io.Discard, cmd.Stdout) }()
	go func() { _, _ = io.Copy(io.Discard, cmd.Stderr) }()
	// However long the machine takes: 10 Receives on a shell that no longer exists, within a generous 60 s.
	for deadline := time.Now().Add(60 * time.Second); l.srv.Requests()["Receive"] < 10; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d Receives on the vanished shell: masterzen now surfaces faults?", l.srv.Requests()["Receive"])
		}
	}
	cancel()
	cmd.Wait()
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
