// Package kdc starts a real MIT Kerberos KDC (Debian's krb5-kdc and krb5-admin-server) on loopback for
// tests: a throw-away realm with user principals and the HTTP/<fqdn> service principals of exchsim's
// listeners, a keytab for those services, and a krb5.conf that points clients at it. Kerberos is how domain
// accounts authenticate to WinRM; no Go KDC exists, so the tests use the one administrators run.
package kdc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Options describe the realm.
type Options struct {
	Realm    string            // e.g. EXLAB.LOCAL
	Users    map[string]string // principal name (without realm) → password
	Services []string          // service principals (without realm), e.g. HTTP/ex01.exlab.local
	// KeytabUsers are users whose keys also go into a keytab of their own (UserKeytabPath), as a service
	// account's keytab does, with their passwords unchanged.
	KeytabUsers []string
}

// KDC is a running KDC.
type KDC struct {
	Realm      string
	Addr       string // 127.0.0.1:port, TCP and UDP
	Krb5Conf   string // path of a krb5.conf for clients of this realm
	KeytabPath string // keytab with every service principal's keys
	// UserKeytabPath holds the keys of Options.KeytabUsers.
	UserKeytabPath string
}

// Programs are the MIT tools the KDC needs.
func Programs() []string { return []string{"krb5kdc", "kdb5_util", "kadmin.local"} }

// Available reports which of Programs are missing from PATH or /usr/sbin.
func Available() (missing []string) {
	for _, p := range Programs() {
		if _, err := lookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	return missing
}

func lookPath(p string) (string, error) {
	if path, err := exec.LookPath(p); err == nil {
		return path, nil
	}
	sbin := filepath.Join("/usr/sbin", p)
	if _, err := os.Stat(sbin); err != nil {
		return "", fmt.Errorf("%s not found (Debian packages krb5-kdc and krb5-admin-server)", p)
	}
	return sbin, nil
}

// Start creates the realm in a temporary directory (users require pre-authentication, as in Active
// Directory) and runs krb5kdc until the test ends. Without the MIT
// tools the test is skipped, or fails when $CI is set (CI must run it).
func Start(tb testing.TB, o Options) *KDC {
	tb.Helper()
	if missing := Available(); len(missing) > 0 {
		msg := fmt.Sprintf("MIT Kerberos KDC tools missing: %s (Debian packages krb5-kdc and krb5-admin-server)", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	var lastErr error
	for range 3 { // the free port may be taken between choosing it and krb5kdc binding it
		k, err := start(tb, o)
		if err == nil {
			return k
		}
		lastErr = err
	}
	tb.Fatalf("starting the KDC: %v", lastErr)
	return nil
}

func start(tb testing.TB, o Options) (*KDC, error) {
	tb.Helper()
	dir := tb.TempDir()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	k := &KDC{Realm: o.Realm, Addr: addr, Krb5Conf: filepath.Join(dir, "krb5.conf"), KeytabPath: filepath.Join(dir, "services.keytab"), UserKeytabPath: filepath.Join(dir, "users.keytab")}
	kdcConf := filepath.Join(dir, "kdc.conf")
	files := map[string]string{
		kdcConf: fmt.Sprintf(`[kdcdefaults]
 kdc_ports = %[2]d
 kdc_tcp_ports = %[2]d
[realms]
 %[1]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  kdc_listen = 127.0.0.1:%[2]d
  kdc_tcp_listen = 127.0.0.1:%[2]d
  max_life = 10h
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:%[3]s/kdc.log
`, o.Realm, port, dir),
		k.Krb5Conf: fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 udp_preference_limit = 1
 default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
 default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
 permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
 %[1]s = {
  kdc = %[2]s
 }
[domain_realm]
 .%[3]s = %[1]s
`, o.Realm, addr, strings.ToLower(o.Realm)),
		filepath.Join(dir, "kadm5.acl"): "",
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	env := append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+kdcConf)
	run := func(name string, args ...string) error {
		path, err := lookPath(name)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(tb.Context(), path, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("kdb5_util", "create", "-s", "-r", o.Realm, "-P", "kdc-master-"+strconv.Itoa(port)); err != nil {
		return nil, err
	}
	for user, pw := range o.Users {
		if err := run("kadmin.local", "-r", o.Realm, "-q", fmt.Sprintf("addprinc +requires_preauth -pw %s %s", pw, user)); err != nil {
			return nil, err
		}
	}
	for _, svc := range o.Services {
		if err := run("kadmin.local", "-r", o.Realm, "-q", "addprinc -randkey "+svc); err != nil {
			return nil, err
		}
		if err := run("kadmin.local", "-r", o.Realm, "-q", fmt.Sprintf("ktadd -k %s %s", k.KeytabPath, svc)); err != nil {
			return nil, err
		}
	}
	for _, user := range o.KeytabUsers {
		if err := run("kadmin.local", "-r", o.Realm, "-q", fmt.Sprintf("ktadd -norandkey -k %s %s", k.UserKeytabPath, user)); err != nil {
			return nil, err
		}
	}
	path, err := lookPath("krb5kdc")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, "-n", "-r", o.Realm, "-P", filepath.Join(dir, "kdc.pid"))
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	var waitErr error // written before exited is closed
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		cancel()
		<-exited
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			cancel()
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			return nil, fmt.Errorf("krb5kdc exited: %w: %s %s", waitErr, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("krb5kdc did not listen within 15s: " + out.String())
		}
	}
	tb.Cleanup(stop)
	return k, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
