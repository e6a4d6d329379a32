// Package etcdtest starts a real etcd cluster (Debian's etcd-server) for tests: members talk to each other
// over unix sockets in the test's directory and serve clients on 127.0.0.1 at a port each member binds
// itself (":0", read back from its log), so no port is chosen by the test and released for another
// process to take. Without etcd the test is skipped, or fails when $CI is set (CI must run it).
package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Cluster is a running etcd cluster.
type Cluster struct {
	dir     string
	members []*member
	tls     *TLS
}

type member struct {
	name, dataDir, peer, log string
	cmd                      *exec.Cmd
	exited                   chan struct{} // closed when the process has ended and been waited for
	endpoint                 string
}

// Start runs members etcd processes as one new cluster and waits until it has a leader.
func Start(tb testing.TB, members int) *Cluster {
	tb.Helper()
	return StartTLS(tb, members, nil)
}

// StartTLS is Start with clients served over TLS with client certificates (t's CA, server certificate and
// key) when t is set; Client and Endpoints then use t's client certificate and https.
func StartTLS(tb testing.TB, members int, t *TLS) *Cluster {
	tb.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		msg := "etcd is not installed (Debian package etcd-server)"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	c := &Cluster{dir: dir, tls: t}
	scheme, tlsArgs := "http", []string(nil)
	if t != nil {
		scheme = "https"
		tlsArgs = []string{"--cert-file", t.ServerCert, "--key-file", t.ServerKey, "--client-cert-auth", "--trusted-ca-file", t.CA}
	}
	var initial []string
	for i := range members {
		m := &member{name: fmt.Sprintf("m%d", i+1)}
		m.dataDir = filepath.Join(dir, m.name)
		// etcd wants host:port after unix://; the socket file of that name is made in its working directory.
		m.peer = "unix://" + m.name + "-peer:1"
		m.log = filepath.Join(dir, m.name+".log")
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	for _, m := range c.members {
		m.cmd = exec.Command(bin, append([]string{"--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", scheme + "://127.0.0.1:0", "--advertise-client-urls", scheme + "://127.0.0.1:0",
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", filepath.Base(dir),
			// Fast elections, so that losing a member or quorum is seen within a test's patience.
			"--heartbeat-interval", "50", "--election-timeout", "500"}, tlsArgs...)...)
		f, err := os.Create(m.log)
		if err != nil {
			tb.Fatal(err)
		}
		m.cmd.Dir = dir
		m.cmd.Stdout, m.cmd.Stderr = f, f
		if err := m.cmd.Start(); err != nil {
			_ = f.Close()
			tb.Fatalf("starting etcd %s: %v", m.name, err)
		}
		_ = f.Close()
		m.exited = make(chan struct{})
		go func() { // owned by the test: Cleanup kills the process, which ends this goroutine
			_ = m.cmd.Wait()
			close(m.exited)
		}()
		tb.Cleanup(func() {
			_ = m.cmd.Process.Signal(syscall.SIGCONT)
			_ = m.cmd.Process.Kill()
			<-m.exited
		})
	}
	re := regexp.MustCompile(`serving (?:insecure )?client requests on (127\.0\.0\.1:\d+)`)
	for _, m := range c.members {
		deadline := time.Now().Add(30 * time.Second)
		for m.endpoint == "" {
			b, _ := os.ReadFile(m.log)
			if s := re.FindSubmatch(b); s != nil {
				m.endpoint = string(s[1])
				break
			}
			select {
			case <-m.exited:
				tb.Fatalf("etcd %s exited before serving clients; its log:\n%s", m.name, b)
			default:
			}
			if time.Now().After(deadline) {
				tb.Fatalf("etcd %s did not report its client address within 30 s; its log:\n%s", m.name, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLeader(tb, c)
	return c
}

// waitLeader polls every member until it reports a leader.
func waitLeader(tb testing.TB, c *Cluster) {
	tb.Helper()
	cl := c.Client(tb)
	deadline := time.Now().Add(30 * time.Second)
	for _, ep := range c.URLs() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cl.Status(ctx, ep)
			cancel()
			if err == nil && st.Leader != 0 {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("etcd at %s has no leader after 30 s (last error %v)", ep, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// URLs are the members' client URLs (http or https).
func (c *Cluster) URLs() []string {
	scheme := "http://"
	if c.tls != nil {
		scheme = "https://"
	}
	var urls []string
	for _, ep := range c.Endpoints() {
		urls = append(urls, scheme+ep)
	}
	return urls
}

// Endpoints are the members' client addresses.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.endpoint)
	}
	return eps
}

// Client returns a client of every member, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	return c.client(tb, c.URLs())
}

// MemberClient returns a client of member i alone: what that member answers, even once it is cut off
// from the others, is what the client sees.
func (c *Cluster) MemberClient(tb testing.TB, i int) *clientv3.Client {
	tb.Helper()
	return c.client(tb, c.URLs()[i:i+1])
}

func (c *Cluster) client(tb testing.TB, urls []string) *clientv3.Client {
	tb.Helper()
	cfg := clientv3.Config{Endpoints: urls, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if c.tls != nil {
		cert, err := tls.LoadX509KeyPair(c.tls.ClientCert, c.tls.ClientKey)
		if err != nil {
			tb.Fatal(err)
		}
		pool := x509.NewCertPool()
		ca, err := os.ReadFile(c.tls.CA)
		if err != nil || !pool.AppendCertsFromPEM(ca) {
			tb.Fatalf("reading the test CA: %v", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cl, err := clientv3.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Kill ends member i (from 0) with SIGKILL.
func (c *Cluster) Kill(i int) error {
	m := c.members[i]
	if err := m.cmd.Process.Kill(); err != nil {
		return err
	}
	<-m.exited
	return nil
}

// Stop pauses member i with SIGSTOP (a hung host: its connections stay open, nothing answers); Cont
// resumes it.
func (c *Cluster) Stop(i int) error { return c.members[i].cmd.Process.Signal(syscall.SIGSTOP) }

// Cont resumes a member paused by Stop.
func (c *Cluster) Cont(i int) error { return c.members[i].cmd.Process.Signal(syscall.SIGCONT) }
