package exchange_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/psrp"
)

// TestFaultMatrix injects each transport fault into an established session and checks that a read ends in
// the expected kind of error (or a transparent recovery) by itself, that retries happen only for transient
// faults, and that the client recovers once the fault is gone — with NTLM on net/http's connections and
// with Kerberos sealing on its own (kerberosSealer), whose connection and context must be rebuilt.
func TestFaultMatrix(t *testing.T) {
	t.Run("ntlm", func(t *testing.T) {
		faultMatrix(t, false, func(t *testing.T) (*exchsim.Sim, exchange.Endpoint) {
			t.Helper()
			sim := startSim(t, simOptions{})
			return sim, endpoint(t, sim, "EX01", exchange.AuthNTLM)
		})
	})
	t.Run("kerberos sealed", func(t *testing.T) {
		faultMatrix(t, true, func(t *testing.T) (*exchsim.Sim, exchange.Endpoint) {
			t.Helper()
			sim, k := kerberosSim(t, false)
			return sim, kerberosEndpoint(t, sim, k, "EX01")
		})
	})
}

// faultMatrix runs the matrix on the channel start gives; sealed says it seals its messages, where a clear
// 401 or 500 is not the server's word (anyone on the path can write one) but a protocol failure.
func faultMatrix(t *testing.T, sealed bool, start func(t *testing.T) (*exchsim.Sim, exchange.Endpoint)) {
	t.Helper()
	tests := []struct {
		name     string
		fault    exchsim.Fault
		wantErr  func(error) bool
		retried  bool   // transient: the client tries Attempts times
		recovers bool   // the read succeeds despite the fault
		class    string // the request result the metrics see for the failed request (RequestObserver)
	}{
		{"connection refused", exchsim.Fault{Kind: "unreachable"}, isTransport, true, false, "transport"},
		{"reset", exchsim.Fault{Kind: "reset"}, isTransport, true, false, "transport"},
		{"reset on Receive only", exchsim.Fault{Kind: "reset", Actions: []string{"Receive"}}, isTransport, true, false, "transport"},
		{"401", exchsim.Fault{Kind: "auth_failure"}, isAuth, false, false, "auth"},
		{"500", exchsim.Fault{Kind: "http_500"}, isHTTP500, true, false, "fault"},
		{"malformed xml", exchsim.Fault{Kind: "malformed_xml"}, isProtocol, true, false, "protocol"},
		{"truncated xml", exchsim.Fault{Kind: "truncated_xml"}, isProtocol, true, false, "protocol"},
		{"slow replies", exchsim.Fault{Kind: "slow", Delay: 5 * time.Second}, isDeadline, false, false, "deadline"},
	}
	for _, tt := range tests {
		if sealed && (tt.fault.Kind == "auth_failure" || tt.fault.Kind == "http_500") {
			tt.wantErr, tt.retried, tt.class = isProtocol, true, "protocol"
		}
		t.Run(tt.name, func(t *testing.T) {
			sim, ep := start(t)
			var mu sync.Mutex
			var results []string
			c := newClient(t, ep, exchange.Options{ReadTimeout: 2 * time.Second, Attempts: 3, Observer: func(_, _, result string, _ time.Duration) {
				mu.Lock()
				results = append(results, result)
				mu.Unlock()
			}})
			ctx := t.Context()
			if _, err := c.Queues(ctx, "EX01"); err != nil {
				t.Fatal(err)
			}
			tt.fault.Server = "EX01"
			if err := sim.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			before := c.Stats()
			mu.Lock()
			results = nil
			mu.Unlock()
			var err error
			within(t, 10*time.Second, func() { _, err = c.Queues(ctx, "EX01") })
			mu.Lock()
			if !slices.Contains(results, tt.class) {
				t.Errorf("request results %v; want %s among them", results, tt.class)
			}
			mu.Unlock()
			if tt.recovers != (err == nil) {
				t.Fatalf("Queues under %s: err = %v, want recovery %v", tt.name, err, tt.recovers)
			}
			if err != nil && !tt.wantErr(err) {
				t.Errorf("Queues under %s: error %T %v is not the expected kind", tt.name, err, err)
			}
			if err != nil && (!strings.Contains(err.Error(), "EX01") || !strings.Contains(err.Error(), "Get-Queue")) {
				t.Errorf("error %q does not name the server and the cmdlet", err)
			}
			if err != nil && strings.Contains(err.Error(), sim.Password()) {
				t.Errorf("error %q contains the password", err)
			}
			retries := c.Stats().Retries - before.Retries
			if tt.retried && retries != 2 || !tt.retried && retries != 0 {
				t.Errorf("retries = %d, want transient=%v with 3 attempts", retries, tt.retried)
			}
			if err := sim.ClearFaults(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, func() error { _, err := c.Queues(ctx, "EX01"); return err })
		})
	}
}

func isTransport(err error) bool {
	var te *exchange.TransportError
	return errors.As(err, &te)
}

func isAuth(err error) bool {
	var ae *exchange.AuthError
	return errors.As(err, &ae)
}

func isHTTP500(err error) bool {
	var f *exchange.Fault
	return errors.As(err, &f) && f.HTTPStatus == 500
}

func isProtocol(err error) bool {
	var pe *exchange.ProtocolError
	return errors.As(err, &pe)
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// waitFor polls f until it succeeds or the deadline passes.
func waitFor(tb testing.TB, limit time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("still failing after %v: %v", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOperationTimeoutFault: a cmdlet slower than the WS-Management OperationTimeout makes the first
// Receive of its pipeline answer fault 2150858793; the client polls again and gets the reply, transparently.
func TestOperationTimeoutFault(t *testing.T) {
	sim := startSim(t, simOptions{cost: cost.Profile{Cmdlet: 2500 * time.Millisecond}})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{OperationTimeout: time.Second, ReadTimeout: 20 * time.Second})
	if _, err := c.Queues(t.Context(), "EX01"); err != nil {
		t.Fatal(err)
	}
	if n := sim.Requests()["Receive"]; n < 3 {
		t.Errorf("%d Receives: want the timeout fault answered at least twice before the reply", n)
	}
	if st := c.Stats(); st.Retries != 0 || st.PoolsOpened != 1 || st.PoolsLost != 0 {
		t.Errorf("stats %+v: a timeout fault is not a failure", st)
	}
}

// TestShellExpiry: the shell vanishes between operations (idle expiry, WinRM or IIS restart). On both channels
// a read re-opens its session transparently; so does a write, because the request itself was refused with
// 2150858843 and so never reached PowerShell.
func TestShellExpiry(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{})
	ctx := t.Context()
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Fatal(err)
	}
	if err := sim.ExpireShells("EX01"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Fatalf("read after shell expiry: %v", err)
	}
	if err := sim.ExpireShells("EX01"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetComponentState(ctx, "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatalf("write after shell expiry: %v", err)
	}
	if st := c.Stats(); st.PoolsOpened != 3 || st.PoolsLost != 2 || st.SessionsStarted != 0 {
		t.Errorf("stats %+v: want 3 runspace pools, 2 lost, and no WinRS session for Exchange cmdlets", st)
	}
	// The operating-system channel: a WinRS session, re-bootstrapped the same way.
	if _, err := c.Services(ctx, "MSExchangeTransport"); err != nil {
		t.Fatal(err)
	}
	if err := sim.ExpireShells("EX01"); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartService(ctx, "MSExchangeTransport"); err != nil {
		t.Fatalf("write after shell expiry: %v", err)
	}
	if st := c.Stats(); st.SessionsStarted != 2 || st.SessionsLost != 1 {
		t.Errorf("stats %+v: want 2 WinRS sessions, 1 lost", st)
	}
}

// TestWriteLostAfterSend: when the session dies after a state-changing request was sent, the client does
// not retry it and says the outcome is unknown.
func TestWriteLostAfterSend(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{WriteTimeout: 5 * time.Second})
	ctx := t.Context()
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Fatal(err)
	}
	if err := sim.InjectFault(exchsim.Fault{Kind: "reset", Server: "EX01", Actions: []string{"Receive"}}); err != nil {
		t.Fatal(err)
	}
	var err error
	within(t, 15*time.Second, func() { err = c.SetComponentState(ctx, "EX01", "HubTransport", "Draining", "Maintenance") })
	if !errors.Is(err, exchange.ErrSessionLost) || !strings.Contains(err.Error(), "Set-ServerComponentState on EX01") {
		t.Fatalf("err = %v, want ErrSessionLost naming the cmdlet and server", err)
	}
	if st := c.Stats(); st.Retries != 0 {
		t.Errorf("a write whose outcome is unknown was retried %d times", st.Retries)
	}
	if err := sim.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	// The caller verifies by reading back: the Send had arrived, so the change happened.
	comps, err := c.ComponentStates(ctx, "EX01")
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range comps {
		if cs.Component == "HubTransport" && cs.State != "Draining" {
			t.Errorf("HubTransport = %s after the lost write, want Draining (the request had been delivered)", cs.State)
		}
	}
}

// TestWriteReplyNeverComes: a state-changing request whose reply does not come before its deadline — what a
// host going down does to a restart's reply — is ErrSessionLost too, not a plain deadline error: the caller
// (the reboot step) must take the change as possibly made and read the state back.
func TestWriteReplyNeverComes(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{WriteTimeout: time.Second})
	ctx := t.Context()
	if _, err := c.LastBootUpTime(ctx); err != nil { // the WinRS session is up
		t.Fatal(err)
	}
	if err := sim.InjectFault(exchsim.Fault{Kind: "slow", Server: "EX03", Delay: 5 * time.Second, Actions: []string{"Receive"}}); err != nil {
		t.Fatal(err)
	}
	var err error
	within(t, 15*time.Second, func() { err = c.RestartService(ctx, "MSExchangeTransport") })
	if !errors.Is(err, exchange.ErrSessionLost) || !strings.Contains(err.Error(), "Restart-Service on EX03") {
		t.Fatalf("err = %v, want ErrSessionLost naming the cmdlet and server", err)
	}
	if st := c.Stats(); st.Retries != 0 {
		t.Errorf("a write whose outcome is unknown was retried %d times", st.Retries)
	}
}

// TestRebootMidSession: Restart-Computer ends the session; reads fail (bounded) while the host is down and
// work again, on a new session, with a later LastBootUpTime once it is back.
func TestRebootMidSession(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{ReadTimeout: 2 * time.Second, Attempts: 2})
	ctx := t.Context()
	boot, err := c.LastBootUpTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	within(t, 70*time.Second, func() { err = c.RestartComputer(ctx, 0) })
	if err != nil && !errors.Is(err, exchange.ErrSessionLost) {
		t.Fatalf("RestartComputer: %v", err)
	}
	var after time.Time
	waitFor(t, 30*time.Second, func() error {
		var err error
		within(t, 10*time.Second, func() { after, err = c.LastBootUpTime(ctx) })
		if err == nil && !after.After(boot) {
			return errors.New("LastBootUpTime has not changed yet")
		}
		return err
	})
	if st := c.Stats(); st.SessionsStarted < 2 {
		t.Errorf("stats %+v: want a new session after the reboot", st)
	}
}

// TestSlowStartNotChargedToTheOperation: opening a session slower than the read deadline does not fail the
// first read (the start has its own bound); a start longer than that bound does. Exchange's runspace pool
// is bounded by PoolTimeout, the WinRS session by StartTimeout.
func TestSlowStartNotChargedToTheOperation(t *testing.T) {
	sim := startSim(t, simOptions{cost: cost.Profile{RunspaceOpen: 1500 * time.Millisecond, PowerShellStart: 1500 * time.Millisecond}})
	ep := endpoint(t, sim, "EX01", exchange.AuthNTLM)
	c := newClient(t, ep, exchange.Options{ReadTimeout: time.Second, StartTimeout: 10 * time.Second, PoolTimeout: 10 * time.Second})
	if _, err := c.Queues(t.Context(), "EX01"); err != nil {
		t.Fatalf("first Exchange read with a 1.5 s pool open and a 1 s read deadline: %v", err)
	}
	if _, err := c.LastBootUpTime(t.Context()); err != nil {
		t.Fatalf("first WinRS read with a 1.5 s start and a 1 s read deadline: %v", err)
	}
	short := newClient(t, ep, exchange.Options{ReadTimeout: 10 * time.Second, StartTimeout: 500 * time.Millisecond, PoolTimeout: 500 * time.Millisecond, Attempts: 1})
	_, err := short.Queues(t.Context(), "EX01")
	if err == nil || !strings.Contains(err.Error(), "opening the runspace pool") {
		t.Errorf("pool open beyond PoolTimeout: %v", err)
	}
	_, err = short.LastBootUpTime(t.Context())
	if err == nil || !strings.Contains(err.Error(), "starting the session") {
		t.Errorf("start beyond StartTimeout: %v", err)
	}
}

// TestOSWriteLostAfterSend: on the WinRS session a connection reset while a state-changing command is
// being sent is not a refused connection: the command may have reached the process, so it is not sent
// again. Only a failure to connect at all proves it was not delivered.
func TestOSWriteLostAfterSend(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{WriteTimeout: 5 * time.Second, Attempts: 3})
	ctx := t.Context()
	if _, err := c.Services(ctx, "MSExchangeTransport"); err != nil {
		t.Fatal(err)
	}
	if err := sim.InjectFault(exchsim.Fault{Kind: "reset", Server: "EX01", Actions: []string{"Send"}}); err != nil {
		t.Fatal(err)
	}
	before := c.Stats()
	var err error
	within(t, 15*time.Second, func() { err = c.RestartService(ctx, "MSExchangeTransport") })
	if err == nil {
		t.Fatal("Restart-Service succeeded through a reset connection")
	}
	if st := c.Stats(); st.Retries != before.Retries {
		t.Errorf("a write that may have been delivered was retried %d times: %v", st.Retries-before.Retries, err)
	}
}

// TestNTLMHandshakeSplitOnce: when an NTLM handshake splits across two connections (the server closed the
// one that holds its challenge; winrm-protocol.md §1.4), the AUTHENTICATE is refused with 401 though the
// password is right. The transport repeats the handshake once, on a fresh connection, and the request
// succeeds; the caller sees no error.
func TestNTLMHandshakeSplitOnce(t *testing.T) {
	sim := startSim(t, simOptions{})
	var mu sync.Mutex
	var results []string
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{Attempts: 1, Observer: func(_, _, result string, _ time.Duration) {
		mu.Lock()
		results = append(results, result)
		mu.Unlock()
	}})
	if err := sim.InjectFault(exchsim.Fault{Kind: "ntlm_split", Server: "EX01"}); err != nil {
		t.Fatal(err)
	}
	before := sim.Requests()["unauthorized"]
	if _, err := c.Queues(t.Context(), "EX01"); err != nil {
		t.Fatalf("Queues after a split handshake: %v", err)
	}
	if got := sim.Requests()["unauthorized"] - before; got < 3 {
		t.Errorf("%d 401 answers; a split handshake and its repeat take at least 3 (challenge, refused AUTHENTICATE, challenge)", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(results, "auth") {
		t.Errorf("request results %v: the repeated handshake must not surface as an auth failure", results)
	}
}

// TestLongRequests: requests far longer than a console's 254-character line (Console.ReadLine) arrive whole:
// the session's stdin is a pipe (WINRS_CONSOLEMODE_STDIN=FALSE) read as a stream. exchsim cuts lines at
// 254 characters on a console, as Windows PowerShell 5.1 does, so with masterzen's console mode these fail.
// A configured command of 12,000 characters is a request line of about 43,000 (it travels to a child
// powershell.exe as base64 of UTF-16, inside the request's base64); one of 13,000 is refused before it is
// sent, naming the limit (CreateProcess's 32,767-character command line).
func TestLongRequests(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	for _, n := range []int{200, 254, 255, 5636, 12000} {
		res, err := c.Run(t.Context(), "$exmLong = '"+strings.Repeat("x", n)+"'; Write-Output $exmLong.Length", time.Minute)
		if err != nil {
			t.Fatalf("a command of %d characters: %v", n, err)
		}
		if res.Output != strconv.Itoa(n) || res.ExitCode != 0 {
			t.Errorf("a command of %d characters: %+v", n, res)
		}
	}
	before := sim.Requests()["Send"]
	if _, err := c.Run(t.Context(), "$exmLong = '"+strings.Repeat("x", 13000)+"'", time.Minute); err == nil || !strings.Contains(err.Error(), "32767") {
		t.Errorf("a command of 13,000 characters: %v; want it refused with the limit", err)
	}
	if after := sim.Requests()["Send"]; after != before {
		t.Errorf("the refused command was sent (%d Sends)", after-before)
	}
}

// TestRunContainsConfiguredCommands: a configured command cannot end the session loop — exit, break and
// continue end only the child powershell.exe it runs in (exit's code is the command's exit code), and
// output it leaves without a line break comes back as a line. The session survives each: one WinRS session
// for all of them.
func TestRunContainsConfiguredCommands(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{})
	ctx := t.Context()
	for _, tc := range []struct {
		command, output string
		code            int
	}{
		{"Write-Output 'a'; exit 7; Write-Output 'b'", "a", 7},
		{"Write-Output 'a'; break; Write-Output 'b'", "a", 0},
		{"continue", "", 0},
		{"Write-Host -NoNewline 'partial'", "partial", 0},
		{"Write-Output 'ok'", "ok", 0},
	} {
		res, err := c.Run(ctx, tc.command, time.Minute)
		if err != nil || res.Output != tc.output || res.ExitCode != tc.code {
			t.Errorf("Run(%q) = %+v, %v; want output %q, exit code %d", tc.command, res, err, tc.output, tc.code)
		}
	}
	if _, err := c.LastBootUpTime(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.SessionsStarted != 1 || st.SessionsLost != 0 {
		t.Errorf("stats %+v: want one session, never lost", st)
	}
}

// TestOpRestartComputer: the restart's delay is whole seconds from 0 to 10 minutes, and the operation has a
// minute of its own (the answer comes at once, or never).
func TestOpRestartComputer(t *testing.T) {
	for _, tc := range []struct {
		delay time.Duration
		ok    bool
		t     string
	}{{0, true, "/t 0 "}, {5 * time.Second, true, "/t 5 "}, {10 * time.Minute, true, "/t 600 "}, {10*time.Minute + time.Second, false, ""}, {-time.Second, false, ""}} {
		op, err := exchange.OpRestartComputer(tc.delay)
		if (err == nil) != tc.ok {
			t.Errorf("delay %v: %v; want ok %v", tc.delay, err, tc.ok)
			continue
		}
		if tc.ok && (op.Timeout != time.Minute || !op.Write || !strings.Contains(op.Script, "shutdown.exe /r "+tc.t+"/d p:2:17")) {
			t.Errorf("delay %v: %+v", tc.delay, op)
		}
	}
}

// TestRestartWithShutdown: the restart goes through shutdown.exe, which answers before the host goes down:
// the call returns, and the host restarts restart_delay later. A restart already scheduled (1190: here one
// of 10 minutes) is aborted and scheduled again with exmaintd's delay, as Ansible's win_reboot does. When
// the host goes down under the command and no answer comes (exchsim's restart_reply_lost), the error is
// ErrSessionLost — the restart may have been requested — and the boot time shows that it was.
func TestRestartWithShutdown(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX03", exchange.AuthNTLM), exchange.Options{ReadTimeout: 2 * time.Second, Attempts: 2})
	ctx := t.Context()
	boot, err := c.LastBootUpTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RestartComputer(ctx, 10*time.Minute); err != nil {
		t.Fatalf("scheduling a restart in 10 minutes: %v", err)
	}
	if err := c.RestartComputer(ctx, time.Second); err != nil {
		t.Fatalf("a restart over one already scheduled: %v", err)
	}
	var shutdowns []string
	for _, ch := range sim.Org().Changes() {
		if strings.HasPrefix(ch.Cmdlet, "shutdown.exe") {
			shutdowns = append(shutdowns, ch.Cmdlet)
		}
	}
	if want := []string{"shutdown.exe /r", "shutdown.exe /a", "shutdown.exe /r"}; !slices.Equal(shutdowns, want) {
		t.Errorf("shutdown.exe calls %v, want %v", shutdowns, want)
	}
	rebooted := func(after time.Time) func() error {
		return func() error {
			var b time.Time
			var err error
			within(t, 10*time.Second, func() { b, err = c.LastBootUpTime(ctx) })
			if err == nil && !b.After(after) {
				return errors.New("LastBootUpTime has not changed yet")
			}
			if err == nil {
				boot = b
			}
			return err
		}
	}
	waitFor(t, 30*time.Second, rebooted(boot)) // a second later, not ten minutes
	if err := sim.InjectFault(exchsim.Fault{Kind: "restart_reply_lost", Server: "EX03"}); err != nil {
		t.Fatal(err)
	}
	within(t, 30*time.Second, func() { err = c.RestartComputer(ctx, 5*time.Second) })
	if !errors.Is(err, exchange.ErrSessionLost) {
		t.Fatalf("a restart whose answer never came: %v, want ErrSessionLost", err)
	}
	if err := sim.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, rebooted(boot))
}

// TestDecodeBudget: what an Exchange command's replies decode to is bounded; past the budget the command
// fails with a protocol error naming the cmdlet and the server, and the next command has a budget of its
// own. (The default budget is sized in BENCHMARKS.md; here it is made small enough for one Get-Queue.)
func TestDecodeBudget(t *testing.T) {
	sim := startSim(t, simOptions{})
	values := 0
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{Attempts: 1,
		DecodeBudget: func() *psrp.Budget { return &psrp.Budget{MaxValues: values, MaxBytes: 1 << 20} }})
	ctx := t.Context()
	values = 1 << 20
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Fatalf("within the budget: %v", err)
	}
	values = 10
	_, err := c.Queues(ctx, "EX01")
	var pe *exchange.ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "Get-Queue") || !strings.Contains(err.Error(), "EX01") || !strings.Contains(err.Error(), "10 values") {
		t.Fatalf("over the budget: %v; want a protocol error naming Get-Queue, EX01 and the limit", err)
	}
	values = 1 << 20
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Errorf("the next command, within its own budget: %v", err)
	}
}

// TestErrorRecordMessage: a cmdlet that writes an error and goes on (WriteError: an ERROR_RECORD message
// before a Completed pipeline, MS-PSRP 2.2.2.20 — exchsim's cmdlet_writes_error) fails the operation with
// that error, as a thrown one does; an Exchange cmdlet's error never passes for success.
func TestErrorRecordMessage(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{})
	if err := sim.InjectFault(exchsim.Fault{Kind: "cmdlet_writes_error", Server: "EX01", Target: "Get-Queue", Message: "The queue viewer could not reach the transport service."}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Queues(t.Context(), "EX01")
	var pe *exchange.PSError
	if !errors.As(err, &pe) || pe.Cmdlet != "Get-Queue" || pe.Server != "EX01" || !strings.Contains(pe.Message, "could not reach the transport service") {
		t.Fatalf("Queues with a written error: %v; want a PSError naming Get-Queue, EX01 and the message", err)
	}
}
