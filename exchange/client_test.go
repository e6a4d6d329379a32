package exchange_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// TestOperations runs every typed operation against exchsim over real HTTP, in both modes and with each
// auth scheme exchsim serves, and checks the results against the demo scenario and by reading writes back.
func TestOperations(t *testing.T) {
	tests := []struct {
		name  string
		https bool
		auth  string
		mode  string
	}{
		{"session/ntlm-http", false, exchange.AuthNTLM, exchange.ModeSession},
		{"session/basic-https", true, exchange.AuthBasic, exchange.ModeSession},
		{"session/ntlm-https", true, exchange.AuthNTLM, exchange.ModeSession},
		{"command/ntlm-http", false, exchange.AuthNTLM, exchange.ModeCommand},
		{"command/basic-https", true, exchange.AuthBasic, exchange.ModeCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, simOptions{https: tt.https})
			c := newClient(t, endpoint(t, sim, "EX01", tt.auth), exchange.Options{Mode: tt.mode})
			ctx := t.Context()
			exerciseReads(t, ctx, c)
			exerciseWrites(t, ctx, c)
			st := c.Stats()
			if tt.mode == exchange.ModeSession && st.SessionsStarted != 1 {
				t.Errorf("sessions started = %d, want 1 for the whole test", st.SessionsStarted)
			}
			if st.PoolsOpened != 1 || st.PoolsLost != 0 {
				t.Errorf("runspace pools opened %d, lost %d; want one for the whole test", st.PoolsOpened, st.PoolsLost)
			}
			if tt.mode == exchange.ModeCommand && st.SessionsStarted != 0 {
				t.Errorf("command mode started %d sessions", st.SessionsStarted)
			}
		})
	}
}

func exerciseReads(t *testing.T, ctx context.Context, c *exchange.Client) {
	t.Helper()
	comps, err := c.ComponentStates(ctx, "EX01")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(comps, func(cs exchange.ComponentState) bool { return cs.Component == "HubTransport" })
	if i < 0 || comps[i].State != "Active" || comps[i].Server != "ex01.exlab.local" {
		t.Errorf("HubTransport = %+v, want Active on ex01.exlab.local", comps)
	}
	qs, err := c.Queues(ctx, "EX01")
	if err != nil {
		t.Fatal(err)
	}
	sum := exchange.SummarizeQueues(qs)
	if !sum.Queues || sum.Active != 42 || sum.Shadow != 6 {
		t.Errorf("queue summary = %+v from %+v, want Active 42 (Submission 2 + 40), Shadow 6", sum, qs)
	}
	copies, err := c.CopyStatus(ctx, "EX01")
	if err != nil {
		t.Fatal(err)
	}
	if len(copies) != 3 {
		t.Fatalf("EX01 copies = %+v, want DB01..DB03", copies)
	}
	for _, cp := range copies {
		if cp.MailboxServer != "EX01" || cp.ActivationPreference == 0 || cp.ContentIndexState != "NotApplicable" { // SE: the index lives in the database
			t.Errorf("copy %+v: want EX01, a preference and content index NotApplicable", cp)
		}
	}
	all, err := c.DatabaseCopies(ctx, "DB01")
	if err != nil || len(all) != 2 {
		t.Fatalf("DB01 copies = %+v, %v; want 2", all, err)
	}
	dbs, err := c.Databases(ctx, "EX01")
	if err != nil {
		t.Fatal(err)
	}
	if len(dbs) != 3 || dbs[0].ReplicationType != "Remote" || !dbs[0].Mounted || dbs[0].Mailboxes == 0 || dbs[0].LastFullBackup.IsZero() || len(dbs[0].Servers) != 2 {
		t.Errorf("EX01 databases = %+v", dbs)
	}
	ms, err := c.MailboxServer(ctx, "EX02")
	if err != nil || ms.DatabaseCopyAutoActivationPolicy != "IntrasiteOnly" || ms.DatabaseAvailabilityGroup != "DAG01" {
		t.Errorf("EX02 = %+v, %v; want IntrasiteOnly in DAG01", ms, err)
	}
	nodes, err := c.ClusterNodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].State != "Up" {
		t.Errorf("cluster nodes = %+v, %v", nodes, err)
	}
	dag, err := c.DAG(ctx, "DAG01")
	if err != nil || len(dag.Servers) != 2 || dag.WitnessShareInUse != "Primary" {
		t.Errorf("DAG01 = %+v, %v", dag, err)
	}
	srvs, err := c.ExchangeServers(ctx)
	if err != nil || len(srvs) != 3 || srvs[0].AdminDisplayVersion != "Version 15.2 (Build 2562.17)" || srvs[0].Fqdn != "ex01.exlab.local" || srvs[0].ServerRole != "Mailbox" {
		t.Errorf("servers = %+v, %v; want three, EX01 at ex01.exlab.local running Version 15.2 (Build 2562.17)", srvs, err)
	}
	sh, err := c.ServiceHealth(ctx, "EX01")
	if err != nil || len(sh) != 1 || !sh[0].RequiredServicesRunning {
		t.Errorf("service health = %+v, %v", sh, err)
	}
	svcs, err := c.Services(ctx, "MSExchangeTransport", "MSExchangeIS")
	if err != nil || len(svcs) != 2 || svcs[0].Status != "Running" {
		t.Errorf("services = %+v, %v", svcs, err)
	}
	if in, err := c.Installers(ctx); err != nil || len(in.Active()) != 0 {
		t.Errorf("installers = %+v, %v; want none at work", in, err)
	}
	boot, err := c.LastBootUpTime(ctx)
	if err != nil || boot.IsZero() || boot.Location() != time.UTC {
		t.Errorf("LastBootUpTime = %v, %v", boot, err)
	}
}

func exerciseWrites(t *testing.T, ctx context.Context, c *exchange.Client) {
	t.Helper()
	if err := c.SetComponentState(ctx, "EX01", "HubTransport", "Draining", "Maintenance"); err != nil {
		t.Fatal(err)
	}
	comps, err := c.ComponentStates(ctx, "EX01")
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range comps {
		if cs.Component != "HubTransport" {
			continue
		}
		if cs.State != "Draining" || !slices.ContainsFunc(cs.LocalStates, func(r exchange.RequesterState) bool {
			return r.Requester == "Maintenance" && r.State == "Draining" && !r.Timestamp.IsZero()
		}) {
			t.Errorf("after Set-ServerComponentState: %+v", cs)
		}
	}
	blocked := "Blocked"
	if err := c.SetMailboxServer(ctx, "EX01", exchange.MailboxServerSettings{DatabaseCopyAutoActivationPolicy: &blocked}); err != nil {
		t.Fatal(err)
	}
	if ms, err := c.MailboxServer(ctx, "EX01"); err != nil || ms.DatabaseCopyAutoActivationPolicy != "Blocked" {
		t.Errorf("after Set-MailboxServer: %+v, %v", ms, err)
	}
	if err := c.SuspendClusterNode(ctx, "EX01"); err != nil {
		t.Fatal(err)
	}
	if err := c.ResumeClusterNode(ctx, "EX01"); err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, "Get-Service -Name 'W3SVC' | ForEach-Object { [string]$_.Status }", 0)
	if err != nil || res.ExitCode != 0 || res.Output != "Running" {
		t.Errorf("Run = %+v, %v; want output Running", res, err)
	}
	// A PowerShell error is a *PSError naming the cmdlet and server, and the session survives it.
	err = c.SetComponentState(ctx, "EX09", "HubTransport", "Draining", "Maintenance")
	var pe *exchange.PSError
	if !errorsAs(err, &pe) || pe.Cmdlet != "Set-ServerComponentState" || pe.Server != "EX01" || !strings.Contains(pe.Message, "EX09") {
		t.Errorf("error for an unknown server = %#v", err)
	}
	if _, err := c.Queues(ctx, "EX01"); err != nil {
		t.Errorf("read after a PowerShell error: %v", err)
	}
}
