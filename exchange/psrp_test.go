package exchange_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/psrp"
)

// TestExchangeOpsAreCommandObjects: every Exchange cmdlet goes to Exchange's endpoint as a command object
// (no script text: the endpoint is NoLanguage and a value must never become code), and every
// operating-system operation goes over WinRS as a script.
func TestExchangeOpsAreCommandObjects(t *testing.T) {
	must := func(op exchange.Op, err error) exchange.Op {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	policy, moveNow := "Blocked", true
	exchangeOps := []exchange.Op{
		must(exchange.OpComponentStates("EX01")), must(exchange.OpSetComponentState("EX01", "HubTransport", "draining", "maintenance")),
		must(exchange.OpQueues("EX01")), must(exchange.OpRedirectMessage("EX01", "ex02.exlab.local")), must(exchange.OpResumeQueue(`EX01\Submission`)),
		must(exchange.OpRetryQueue(`EX01\7`)), must(exchange.OpCopyStatus("EX01")), must(exchange.OpDatabaseCopies("DB01")),
		must(exchange.OpDatabaseSettings("server", "EX01")), must(exchange.OpDatabases("EX01")), must(exchange.OpMailboxSample("DB01", true)),
		must(exchange.OpSuspendDatabaseCopy(`DB01\EX01`, true)), must(exchange.OpResumeDatabaseCopy(`DB01\EX01`)), must(exchange.OpMountDatabase("DB01")),
		must(exchange.OpDismountDatabase("DB01")), must(exchange.OpMoveActiveDatabases("EX01")), must(exchange.OpMoveActiveDatabase("DB01", "EX02")),
		must(exchange.OpMailboxServer("EX01")), must(exchange.OpSetMailboxServer("EX01", exchange.MailboxServerSettings{DatabaseCopyAutoActivationPolicy: &policy, DatabaseCopyActivationDisabledAndMoveNow: &moveNow})),
		must(exchange.OpDAG("DAG01")), exchange.OpExchangeServers(), must(exchange.OpServiceHealth("EX01")),
	}
	for _, op := range exchangeOps {
		if op.Channel() != exchange.ChannelExchange || op.Command == nil || op.Script != "" || op.Command.IsScript || op.Command.Name != op.Cmdlet {
			t.Errorf("%s: channel %s, command %+v, script %q: want a command object on the Exchange channel", op.Cmdlet, op.Channel(), op.Command, op.Script)
		}
	}
	osOps := []exchange.Op{exchange.OpClusterNodes(), must(exchange.OpSuspendClusterNode("EX01")), must(exchange.OpResumeClusterNode("EX01")),
		must(exchange.OpServices("MSExchangeTransport")), must(exchange.OpRestartService("MSExchangeTransport")), exchange.OpInstallers(),
		exchange.OpLastBootUpTime(), must(exchange.OpRestartComputer(5 * time.Second))}
	for _, op := range osOps {
		if op.Channel() != exchange.ChannelWinRS || op.Command != nil || op.Script == "" {
			t.Errorf("%s: channel %s: want a script on WinRS", op.Cmdlet, op.Channel())
		}
	}
	// Values are canonicalised and typed, never quoted into text.
	op := must(exchange.OpSetComponentState("EX01", "HubTransport", "draining", "maintenance"))
	if got := op.Text(); got != "Set-ServerComponentState -Identity 'EX01' -Component 'HubTransport' -State 'Draining' -Requester 'Maintenance'" {
		t.Errorf("Text() = %s", got)
	}
	op = must(exchange.OpSetMailboxServer("EX01", exchange.MailboxServerSettings{DatabaseCopyActivationDisabledAndMoveNow: &moveNow}))
	if v := op.Command.Params[1].Value; v != true {
		t.Errorf("MoveNow travels as %T %v, want the boolean true", v, v)
	}
}

// TestEndpointRefusals: what Exchange's NoLanguage, RBAC-trimmed endpoint refuses reaches the caller as a
// *PSError with the endpoint's FullyQualifiedErrorId, is not retried, and leaves the pool usable.
func TestEndpointRefusals(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{})
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		cmd  psrp.Command
		want string
	}{
		{"script", psrp.Command{Name: "Get-Queue | Measure-Object", IsScript: true}, "ScriptsNotAllowed"},
		{"windows cmdlet", psrp.Command{Name: "Get-Service"}, "CommandNotFoundException"},
		{"unknown parameter", psrp.Command{Name: "Get-Queue", Params: []psrp.Parameter{{Name: "Nonsense", Value: "x"}}}, "NamedParameterNotFound,Get-Queue"},
		{"missing mandatory", psrp.Command{Name: "Set-ServerComponentState", Params: []psrp.Parameter{{Name: "Identity", Value: "EX01"}}}, "MissingMandatoryParameter,Set-ServerComponentState"},
		{"unknown server", psrp.Command{Name: "Get-MailboxServer", Params: []psrp.Parameter{{Name: "Identity", Value: "EX99"}}}, "Get-MailboxServer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Invoke(ctx, exchange.Op{Cmdlet: tc.cmd.Name, Command: &tc.cmd})
			var pe *exchange.PSError
			if !errors.As(err, &pe) || !strings.Contains(pe.ErrorID+" "+pe.Message, tc.want) {
				t.Fatalf("err = %v (%+v), want a PSError with %q", err, pe, tc.want)
			}
		})
	}
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Fatalf("the pool after refusals: %v", err)
	}
	if st := c.Stats(); st.PoolsOpened != 1 || st.Retries != 0 {
		t.Errorf("stats %+v: refusals are answers, not failures", st)
	}
}

// TestLargeParameterCrossesFragments: a CREATE_PIPELINE larger than one fragment goes as the Command's first
// fragment and Sends of the rest (MS-PSRP 3.1.5.3.3), and is reassembled whole.
func TestLargeParameterCrossesFragments(t *testing.T) {
	sim := startSim(t, simOptions{})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{})
	long := strings.Repeat("x", 100_000)
	cmd := psrp.Command{Name: "Get-MailboxServer", Params: []psrp.Parameter{{Name: "Identity", Value: long}}}
	sim.ResetRequests()
	_, err := c.Invoke(t.Context(), exchange.Op{Cmdlet: cmd.Name, Command: &cmd})
	var pe *exchange.PSError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, long) {
		t.Fatalf("err = %.200v: want the server's not-found error quoting the whole 100,000-character identity", err)
	}
	if n := sim.Requests()["Send"]; n < 3 {
		t.Errorf("%d Sends: a 100 kB pipeline must travel in several fragments", n)
	}
}

// TestCancelStopsThePipeline: when the caller's deadline ends while a cmdlet runs, the client stops the
// pipeline on the server (Signal crtl_c) instead of leaving it running, and the next operation works.
func TestCancelStopsThePipeline(t *testing.T) {
	sim := startSim(t, simOptions{cost: cost.Profile{Cmdlet: 3 * time.Second}})
	c := newClient(t, endpoint(t, sim, "EX01", exchange.AuthNTLM), exchange.Options{OperationTimeout: time.Second, Attempts: 1})
	if _, err := c.Queues(t.Context(), "EX01"); err != nil { // the pool is open before the deadline test
		t.Fatal(err)
	}
	sim.ResetRequests()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Queues(ctx, "EX01")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if n := sim.Requests()["Signal"]; n != 1 {
		t.Errorf("%d Signals: the running pipeline must be stopped", n)
	}
	if _, err := c.Queues(t.Context(), "EX01"); err != nil {
		t.Fatalf("after a stopped pipeline: %v", err)
	}
}
