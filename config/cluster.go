package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Cluster is [cluster]: where the journal lives and, with etcd, how instances elect the one that acts
// (docs/ha.md).
type Cluster struct {
	// Backend is "file" (the default: the journal in state_dir, one instance) or "etcd".
	Backend string `toml:"backend"`
	// Name identifies this instance to the others and in metrics (default: the host name).
	Name string `toml:"name"`
	// Advertise is the API's URL as the other instances and operators reach it; a standby names the
	// leader's when it refuses a write action.
	Advertise string `toml:"advertise"`
	// Endpoints are the etcd members' client URLs.
	Endpoints []string `toml:"endpoints"`
	// Prefix is this organisation's key prefix in etcd (several organisations may share a cluster).
	Prefix string `toml:"prefix"`
	// LeaseTTL is how long a leader that stops answering etcd stays leader.
	LeaseTTL Duration `toml:"lease_ttl"`
	// RequestTimeout bounds each request to etcd.
	RequestTimeout Duration `toml:"request_timeout"`
	// CAFile, CertFile and KeyFile (PEM) are etcd's CA and this instance's client certificate.
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Journal backends.
const (
	BackendFile = "file"
	BackendEtcd = "etcd"
)

func defaultCluster() Cluster {
	return Cluster{Backend: BackendFile, Prefix: "/exmaintd/", LeaseTTL: Duration{15 * time.Second}, RequestTimeout: Duration{5 * time.Second}}
}

func (c *Config) validateCluster(col *collector) {
	k := c.Cluster
	switch k.Backend {
	case BackendFile:
		return
	case BackendEtcd:
	default:
		col.add("cluster.backend", "%q: want %s or %s", k.Backend, BackendFile, BackendEtcd)
		return
	}
	if len(k.Endpoints) == 0 {
		col.add("cluster.endpoints", "required with backend = \"etcd\" (the etcd members' client URLs)")
	}
	for i, e := range k.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" {
			col.add(fmt.Sprintf("cluster.endpoints[%d]", i), "%q: want http(s)://host:port", e)
		}
	}
	// A prefix of slashes alone would put the keys at etcd's root, among other users' keys.
	if !strings.HasPrefix(k.Prefix, "/") || !strings.HasSuffix(k.Prefix, "/") || strings.Trim(k.Prefix, "/") == "" {
		col.add("cluster.prefix", "%q: want a key prefix that starts and ends with / (\"/exmaintd/\")", k.Prefix)
	}
	// At most a minute: a leader whose journal write waits for etcd holds its scheduling loop that long,
	// and the systemd watchdog (WatchdogSec=60s, the loop's 2-minute beat) must not kill it for that.
	if k.LeaseTTL.Duration < 2*time.Second || k.LeaseTTL.Duration > time.Minute || k.LeaseTTL.Duration%time.Second != 0 {
		col.add("cluster.lease_ttl", "%s: want whole seconds from 2s to 1m", k.LeaseTTL.Duration)
	}
	if k.RequestTimeout.Duration <= 0 || k.RequestTimeout.Duration >= k.LeaseTTL.Duration {
		col.add("cluster.request_timeout", "%s: want more than 0 and less than lease_ttl (%s)", k.RequestTimeout.Duration, k.LeaseTTL.Duration)
	}
	if k.Advertise != "" {
		if u, err := url.Parse(k.Advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			col.add("cluster.advertise", "%q: want the API's URL, http(s)://host:port", k.Advertise)
		}
	}
	if (k.CertFile == "") != (k.KeyFile == "") {
		col.add("cluster.cert_file", "cert_file and key_file go together (got only one)")
	}
	for key, f := range map[string]string{"cluster.ca_file": k.CAFile, "cluster.cert_file": k.CertFile, "cluster.key_file": k.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			col.add(key, "%v", err)
		}
	}
}

// InstanceName is [cluster].name, else the host name.
func (c *Config) InstanceName() string {
	if c.Cluster.Name != "" {
		return c.Cluster.Name
	}
	h, err := os.Hostname()
	if err != nil {
		return "exmaintd"
	}
	return h
}

// OperationBound is the longest one state-changing WinRM operation may take (the largest write_timeout of
// any server): a leader that lost its lease may be inside one such operation, so a new leader waits this
// long (plus the lease) before it touches the servers. Reads change nothing and do not count. In-session
// patch commands are writes with deadlines of their own: the takeover adds them where the journal shows a
// patch step in progress (cmd/exmaintd takeoverWait); a detached installer the old leader started runs on
// the server whatever exmaintd does, and the recovery of the patch step waits for it (steps.patch_grace).
func (c *Config) OperationBound() time.Duration {
	longest := c.WinRM.WriteTimeout.Duration
	for _, s := range c.Servers {
		longest = max(longest, s.WinRM.WriteTimeout.Duration)
	}
	return longest
}

// TakeoverWait is how long a new leader waits after winning before it acts: the old leader's lease may
// still have run (LeaseTTL) and it may be in the middle of its last operation (OperationBound).
func (c *Config) TakeoverWait() time.Duration {
	return c.Cluster.LeaseTTL.Duration + c.OperationBound()
}

// JournalPath is the file journal: journal.jsonl in daemon.state_dir (the backend without [cluster]).
func (c *Config) JournalPath() string { return filepath.Join(c.Daemon.StateDir, "journal.jsonl") }
