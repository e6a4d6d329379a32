package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/election"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore"
	"github.com/exmaintd/exmaintd/sdnotify"
	"github.com/exmaintd/exmaintd/steps"
)

// cluster is the etcd side of a daemon with [cluster] backend = "etcd".
type cluster struct {
	client  *clientv3.Client
	store   *etcdstore.Store
	elector *election.Elector
	self    election.Identity
	// leading is set once this instance won and until it stops; opening while it takes over (the wait and
	// the recovery), when the scheduling loop does not beat yet.
	leading, opening atomic.Bool
}

// etcdClient connects to [cluster].endpoints with its TLS settings.
func etcdClient(c *config.Config) (*clientv3.Client, error) {
	k := c.Cluster
	cfg := clientv3.Config{Endpoints: k.Endpoints, DialTimeout: k.RequestTimeout.Duration, Logger: zap.NewNop()}
	if k.CAFile != "" || k.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.CAFile != "" {
			pem, err := os.ReadFile(k.CAFile)
			if err != nil {
				return nil, fmt.Errorf("cluster.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cluster.ca_file %s: no PEM certificate in it", k.CAFile)
			}
		}
		if k.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(k.CertFile, k.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("cluster.cert_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.TLS = tc
	}
	cl, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster.endpoints: %w", err)
	}
	return cl, nil
}

// journalStore is the cluster's journal in etcd, under [cluster] prefix.
func journalStore(cl *clientv3.Client, k config.Cluster) (*etcdstore.Store, error) {
	return etcdstore.New(cl, etcdstore.Options{Prefix: k.Prefix, Timeout: k.RequestTimeout.Duration})
}

// newCluster builds the store and the elector; onLeader is told who leads.
func newCluster(c *config.Config, logger *slog.Logger, onLeader func(election.Identity)) (*cluster, error) {
	cl, err := etcdClient(c)
	if err != nil {
		return nil, err
	}
	store, err := journalStore(cl, c.Cluster)
	if err != nil {
		_ = cl.Close()
		return nil, err
	}
	self := election.Identity{Name: c.InstanceName(), Advertise: c.Cluster.Advertise}
	el, err := election.New(election.Options{Client: cl, Prefix: c.Cluster.Prefix, TTL: int(c.Cluster.LeaseTTL.Duration / time.Second),
		Self: self, Logger: logger, OnLeader: onLeader})
	if err != nil {
		_ = cl.Close()
		return nil, err
	}
	return &cluster{client: cl, store: store, elector: el, self: self}, nil
}

// lead is what the leader does: fence the journal, wait out the previous leader when it left runs
// unfinished, recover them and schedule until leadership or ctx ends.
func (k *cluster) lead(ctx context.Context, l election.Leadership, d *daemon.Daemon, c *config.Config, logger *slog.Logger, notify *sdnotify.Notifier) error {
	k.store.SetFence(&l.Fence, l.Done)
	k.opening.Store(true)
	k.leading.Store(true)
	defer k.leading.Store(false)
	d.SetLeader(true, k.self.Name, k.self.Advertise)
	recs, _, err := k.store.Load()
	if err != nil {
		k.opening.Store(false)
		return err
	}
	if unfinished := journal.Unfinished(recs); len(unfinished) > 0 {
		// The previous leader may have lost its lease in the middle of an operation whose record it wrote:
		// it finishes that one at most (its next write is fenced). Wait for it before reading the servers.
		n := len(unfinished)
		wait, why := takeoverWait(c, unfinished, time.Now())
		logger.Warn("taking over unfinished runs: waiting out the previous leader's lease and last operation", "runs", n, "wait", wait, "in_session_patches", why)
		_ = notify.Status(fmt.Sprintf("leader: waiting %s before recovering %d unfinished server runs", wait, n))
		select {
		case <-ctx.Done():
			k.opening.Store(false)
			return nil
		case <-time.After(wait):
		}
	}
	_ = notify.Status("leader: recovering interrupted runs from the journal")
	err = d.Open(ctx)
	k.opening.Store(false)
	if err != nil {
		return err
	}
	_ = notify.Status("leader: scheduling")
	return d.Schedule(ctx)
}

// takeoverWait is how long a new leader waits before it recovers the unfinished server runs: the previous
// leader's lease and its last state-changing WinRM operation (Config.TakeoverWait) — and, where it was in a
// patch step, until every in-session patch command it may have sent has reached its timeout, counted from
// the step's start: such a command runs in the server's WinRS session whatever became of the process that
// sent it, and the recovery would otherwise restart the server under the installer. why names each such
// server and the time it waits for.
func takeoverWait(c *config.Config, unfinished []*journal.ServerRun, now time.Time) (time.Duration, []string) {
	wait := c.TakeoverWait()
	var why []string
	for _, sr := range unfinished {
		w, ok := c.Window(sr.Window)
		if !ok {
			// A window since removed from the configuration: which commands it ran is unknown, so every
			// configured patch counts, and at least one command of the default timeout.
			w = config.Window{Name: sr.Window}
			for _, p := range c.Patches {
				w.Patches = append(w.Patches, p.Name)
			}
		}
		bound := c.Settings(w, sr.Server).InSessionBound()
		if !ok {
			bound = max(bound, steps.DefaultPatchTimeout)
		}
		for _, st := range sr.Steps {
			if st.Name != "patch" || !st.Started || st.Done || bound == 0 {
				continue
			}
			until := st.StartedAt.Add(bound + c.Cluster.LeaseTTL.Duration)
			if d := until.Sub(now); d > wait {
				wait = d
			}
			why = append(why, fmt.Sprintf("%s until %s", sr.Server, until.UTC().Format(time.RFC3339)))
		}
	}
	return wait, why
}

// alive is the watchdog's test in a cluster: a standby, or a leader taking over, is alive while its
// process runs; a leader's scheduling loop must beat.
func (k *cluster) alive(d *daemon.Daemon) bool {
	return !k.leading.Load() || k.opening.Load() || d.Alive(2*time.Minute)
}
