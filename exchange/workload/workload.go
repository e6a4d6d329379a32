// Package workload is the operation mix of one DAG member's maintenance window, for benchmarks of the
// exchange client: the pre-gates, entering maintenance, a poll-heavy drain, the patch and reboot checks,
// and the exit with its post-gates, as exmaintd's dag procedure issues them (exchange-maintenance.md §1).
package workload

import (
	"context"
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/exchange"
)

// Window describes the mix: Polls is the number of drain polls (each reads the queues and the copy status),
// e.g. 180 for a 30-minute drain polled every 10 s.
type Window struct {
	Server string // the DAG member under maintenance
	Peer   string // another member's FQDN: the redirect target and (its host name) the PAM's
	DAG    string
	Polls  int
}

// Ops returns how many operations Run performs.
func (w Window) Ops() int { return 27 + 2*w.Polls }

// Run performs the window's operations on c and leaves the server's state as it found it (every change is
// reversed), so that it can run again.
func (w Window) Run(ctx context.Context, c *exchange.Client) error {
	blocked := "Blocked"
	yes, no := true, false
	var before exchange.MailboxServer
	steps := []func() error{
		// pre-gates
		func() error { _, err := c.ExchangeServers(ctx); return err },
		func() error { _, err := c.DAG(ctx, w.DAG); return err },
		func() error { _, err := c.ClusterNodes(ctx); return err },
		func() error { _, err := c.ComponentStates(ctx, w.Server); return err },
		func() error { _, err := c.Databases(ctx, w.Server); return err },
		func() error { _, err := c.CopyStatus(ctx, w.Server); return err },
		func() error { _, err := c.Installers(ctx); return err },
		func() error { var err error; before, err = c.MailboxServer(ctx, w.Server); return err },
		// enter
		func() error { return c.SetComponentState(ctx, w.Server, "HubTransport", "Draining", "Maintenance") },
		func() error { return c.RedirectMessage(ctx, w.Server, w.Peer) },
		func() error { return c.SuspendClusterNode(ctx, w.Server) },
		func() error {
			return c.SetMailboxServer(ctx, w.Server, exchange.MailboxServerSettings{DatabaseCopyActivationDisabledAndMoveNow: &yes, DatabaseCopyAutoActivationPolicy: &blocked})
		},
		// the PAM off the server (the first member holds it in exchsim's scenarios)
		func() error { _, err := c.CoreClusterGroup(ctx); return err },
		func() error { node, _, _ := strings.Cut(w.Peer, "."); return c.MoveCoreClusterGroup(ctx, node) },
	}
	for range w.Polls {
		steps = append(steps,
			func() error { _, err := c.Queues(ctx, w.Server); return err },
			func() error { _, err := c.CopyStatus(ctx, w.Server); return err })
	}
	steps = append(steps,
		func() error {
			return c.SetComponentState(ctx, w.Server, "ServerWideOffline", "Inactive", "Maintenance")
		},
		func() error { _, err := c.LastBootUpTime(ctx); return err },
		func() error { _, err := c.ServiceHealth(ctx, w.Server); return err },
		// exit
		func() error { return c.SetComponentState(ctx, w.Server, "ServerWideOffline", "Active", "Maintenance") },
		func() error { return c.ResumeClusterNode(ctx, w.Server) },
		func() error {
			return c.SetMailboxServer(ctx, w.Server, exchange.MailboxServerSettings{DatabaseCopyActivationDisabledAndMoveNow: &no, DatabaseCopyAutoActivationPolicy: &before.DatabaseCopyAutoActivationPolicy})
		},
		func() error { return c.SetComponentState(ctx, w.Server, "HubTransport", "Active", "Maintenance") },
		func() error { _, err := c.ComponentStates(ctx, w.Server); return err },
		func() error { _, err := c.Queues(ctx, w.Server); return err },
		func() error { _, err := c.CopyStatus(ctx, w.Server); return err },
		func() error { _, err := c.ServiceHealth(ctx, w.Server); return err },
		func() error { _, err := c.ClusterNodes(ctx); return err },
		// the procedure leaves the PAM where it is; the workload moves it back so that it can run again
		func() error { return c.MoveCoreClusterGroup(ctx, w.Server) },
	)
	for i, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("window operation %d of %d: %w", i+1, len(steps), err)
		}
	}
	return nil
}
