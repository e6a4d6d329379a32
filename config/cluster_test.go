package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/config"
)

// TestCluster: [cluster] is checked only for the etcd backend, and then every key names its problem.
func TestCluster(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	etcd := setKey(t, string(base), "cluster", "backend", `"etcd"`)
	for _, tc := range []struct {
		name, key, value string
		want             string // "" when valid
	}{
		{"etcd as in the example", "backend", `"etcd"`, ""},
		{"unknown backend", "backend", `"consul"`, `cluster.backend: "consul": want file or etcd`},
		{"no endpoints", "endpoints", `[]`, "cluster.endpoints: required"},
		{"endpoint without scheme", "endpoints", `["etcd1:2379"]`, `cluster.endpoints[0]: "etcd1:2379": want http(s)://host:port`},
		{"endpoint without port", "endpoints", `["https://etcd1"]`, `cluster.endpoints[0]`},
		{"endpoint without host", "endpoints", `["https://:2379"]`, `cluster.endpoints[0]`},
		{"endpoint over ftp", "endpoints", `["ftp://etcd1:2379"]`, `cluster.endpoints[0]: "ftp://etcd1:2379"`},
		{"endpoint unparsable", "endpoints", `["https://[::1:2379"]`, `cluster.endpoints[0]`},
		{"endpoint over plain http", "endpoints", `["http://127.0.0.1:2379"]`, ""},
		{"prefix without the final /", "prefix", `"/exmaintd"`, `cluster.prefix: "/exmaintd"`},
		{"prefix /", "prefix", `"/"`, `cluster.prefix: "/"`},
		{"prefix //", "prefix", `"//"`, `cluster.prefix: "//"`},
		{"prefix /a/", "prefix", `"/a/"`, ""},
		{"lease 2s", "lease_ttl", `"2s"`, `cluster.request_timeout: 5s: want more than 0 and less than lease_ttl`},
		{"lease 1s", "lease_ttl", `"1s"`, "cluster.lease_ttl: 1s: want whole seconds from 2s to 1m"},
		{"lease 1m", "lease_ttl", `"1m"`, ""},
		{"lease 61s", "lease_ttl", `"61s"`, "cluster.lease_ttl: 1m1s"},
		{"lease 2.5s", "lease_ttl", `"2500ms"`, "cluster.lease_ttl: 2.5s"},
		{"request timeout = lease", "request_timeout", `"15s"`, "cluster.request_timeout: 15s"},
		{"request timeout 0", "request_timeout", `"0s"`, "cluster.request_timeout: 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := setKey(t, etcd, "cluster", tc.key, tc.value)
			if tc.key == "endpoints" { // an array with spaces: setKey replaces one word
				src = regexp.MustCompile(`(?m)^endpoints = .*$`).ReplaceAllString(etcd, "endpoints = "+tc.value)
			}
			_, err := config.Parse("c.toml", src)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
	// The file backend ignores the etcd keys, however wrong.
	if _, err := config.Parse("c.toml", setKey(t, string(base), "cluster", "prefix", `"bad"`)); err != nil {
		t.Errorf("file backend refused an etcd key: %v", err)
	}
	// The lease at its lower bound, with a request timeout under it.
	if _, err := config.Parse("c.toml", setKey(t, setKey(t, etcd, "cluster", "lease_ttl", `"2s"`), "cluster", "request_timeout", `"1s"`)); err != nil {
		t.Errorf("lease_ttl 2s, request_timeout 1s refused: %v", err)
	}
	// Advertise, and the certificate without its key, need lines the example leaves commented out.
	for _, tc := range []struct{ add, want string }{
		{`advertise = "exm1:9105"`, `cluster.advertise: "exm1:9105"`},
		{`advertise = "ftp://exm1:9105"`, `cluster.advertise: "ftp://exm1:9105"`},
		{`advertise = "https://"`, `cluster.advertise: "https://"`},
		{`advertise = "https://:9105"`, `cluster.advertise: "https://:9105"`},
		{`advertise = "https://[::1:9105"`, `cluster.advertise: "https://[::1:9105"`},
		{`advertise = "https://exm1.exlab.local:9105"`, ""},
		{`advertise = "http://127.0.0.1:9105"`, ""},
		{`cert_file = "/etc/hosts"`, "cluster.cert_file: cert_file and key_file go together"},
		{"ca_file = \"/nonexistent/ca.pem\"", "cluster.ca_file:"},
	} {
		src := strings.Replace(etcd, "\nprefix = ", "\n"+tc.add+"\nprefix = ", 1)
		_, err := config.Parse("c.toml", src)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("with %s: refused: %v", tc.add, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("with %s: %v; want %q", tc.add, err, tc.want)
		}
	}
}

// TestTakeoverWait: the lease plus the longest write_timeout of any server (reads change nothing).
func TestTakeoverWait(t *testing.T) {
	c := config.Default()
	c.Cluster.LeaseTTL.Duration = 15 * time.Second
	c.WinRM.WriteTimeout.Duration = 10 * time.Minute
	c.WinRM.ReadTimeout.Duration = time.Hour
	if got := c.TakeoverWait(); got != 10*time.Minute+15*time.Second {
		t.Errorf("TakeoverWait = %v; want 10m15s", got)
	}
	c.Servers = []config.Server{{Name: "EX01"}, {Name: "EX02", WinRM: config.WinRM{WriteTimeout: config.Duration{Duration: 20 * time.Minute}}}}
	if got := c.TakeoverWait(); got != 20*time.Minute+15*time.Second {
		t.Errorf("TakeoverWait with a server's own write_timeout = %v; want 20m15s", got)
	}
}

func TestInstanceName(t *testing.T) {
	c := config.Default()
	host, _ := os.Hostname()
	if got := c.InstanceName(); got != host || got == "" {
		t.Errorf("InstanceName without a name = %q; want the host name %q", got, host)
	}
	c.Cluster.Name = "exm1"
	if got := c.InstanceName(); got != "exm1" {
		t.Errorf("InstanceName = %q; want exm1", got)
	}
}

// TestClusterProblemLine: a key missing from a [table] is reported at the table's header line.
func TestClusterProblemLine(t *testing.T) {
	src := `[daemon]
state_dir = "/var/lib/exmaintd"

[winrm]
auth = "ntlm"
user = 'EXLAB\svc'
password = { env = "PW" }

[[server]]
name = "EX01"
host = "ex01.exlab.local"

[[window]]
name = "w"
schedule = "monthly 2nd tuesday +4d 22:00"
duration = "4h"
servers = ["EX01"]

[cluster]
backend = "etcd"
`
	if _, err := config.Parse("c.toml", src); err == nil || !strings.Contains(err.Error(), "c.toml:19: cluster.endpoints: required") {
		t.Errorf("err = %v; want the missing key at [cluster]'s line, 19", err)
	}
}
