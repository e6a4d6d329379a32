package main

import (
	"context"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
	"github.com/exmaintd/exmaintd/steps"
)

// TestEtcdClientTLS: [cluster] ca_file, cert_file and key_file reach an etcd that requires client
// certificates; without the certificate etcd refuses, and a CA file without a certificate in it is named.
func TestEtcdClientTLS(t *testing.T) {
	certs := etcdtest.NewTLS(t)
	cluster := etcdtest.StartTLS(t, 1, certs)
	c := config.Default()
	c.Cluster.Backend = config.BackendEtcd
	c.Cluster.Endpoints = cluster.URLs()
	c.Cluster.RequestTimeout = config.Duration{Duration: 2 * time.Second}
	c.Cluster.CAFile, c.Cluster.CertFile, c.Cluster.KeyFile = certs.CA, certs.ClientCert, certs.ClientKey
	put := func(c *config.Config) error {
		cl, err := etcdClient(c)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err = cl.Put(ctx, "/tls/probe", "ok")
		return err
	}
	if err := put(&c); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	noCert := c
	noCert.Cluster.CertFile, noCert.Cluster.KeyFile = "", ""
	if err := put(&noCert); err == nil {
		t.Error("etcd accepted a client without a certificate")
	}
	badCA := c
	badCA.Cluster.CAFile = certs.ClientKey
	if _, err := etcdClient(&badCA); err == nil {
		t.Error("a CA file without a certificate was accepted")
	}
}

// TestTakeoverWaitInSessionPatch: a new leader waits out the previous one's lease and last WinRM write —
// and, when the previous leader was inside a patch step, until every in-session patch command it may
// have sent has reached its timeout (it runs on in the server's WinRS session): TakeoverWait alone
// (lease + write_timeout) let the new leader reverse, and restart, a server under a running installer.
func TestTakeoverWaitInSessionPatch(t *testing.T) {
	c := config.Default()
	c.Cluster.LeaseTTL = config.Duration{Duration: 15 * time.Second}
	c.Patches = []config.Patch{
		{Name: "wu", Command: "x", Timeout: config.Duration{Duration: 90 * time.Minute}},
		{Name: "su", Command: "y"}, // in session, no timeout: the default 2 h
		{Name: "cu", Command: "z", Detached: true, Timeout: config.Duration{Duration: 3 * time.Hour}},
	}
	c.Windows = []config.Window{{Name: "w", Patches: []string{"wu", "su", "cu"}}, {Name: "detached", Patches: []string{"cu"}}}
	now := time.Date(2026, 12, 12, 23, 0, 0, 0, time.UTC)
	patchFrom := func(window string, started time.Time, done bool) *journal.ServerRun {
		return &journal.ServerRun{Run: "r", Window: window, Server: "EX01", Steps: []*journal.StepState{
			{Name: "hubtransport-draining", Started: true, Done: true},
			{Name: "patch", Started: true, StartedAt: started, Done: done},
		}}
	}
	base := c.TakeoverWait()
	bound := 90*time.Minute + steps.DefaultPatchTimeout + 15*time.Second // both in-session commands, and the lease
	for _, tc := range []struct {
		name string
		runs []*journal.ServerRun
		want time.Duration
		why  bool
	}{
		{"not in a patch step", []*journal.ServerRun{{Run: "r", Window: "w", Server: "EX01", Steps: []*journal.StepState{{Name: "move-active-databases", Started: true}}}}, base, false},
		{"patch step done", []*journal.ServerRun{patchFrom("w", now.Add(-time.Minute), true)}, base, false},
		{"in-session patch started a minute ago", []*journal.ServerRun{patchFrom("w", now.Add(-time.Minute), false)}, bound - time.Minute, true},
		{"in-session patch long over", []*journal.ServerRun{patchFrom("w", now.Add(-5*time.Hour), false)}, base, true},
		{"detached patches only", []*journal.ServerRun{patchFrom("detached", now.Add(-time.Minute), false)}, base, false},
		{"window removed since", []*journal.ServerRun{patchFrom("gone", now.Add(-time.Minute), false)}, bound - time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := takeoverWait(&c, tc.runs, now)
			if got != tc.want || (len(why) > 0) != tc.why {
				t.Errorf("takeoverWait = %v, %q; want %v (a reason: %v)", got, why, tc.want, tc.why)
			}
		})
	}
}
