package wsman

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pywinrm runs testdata/pywinrm_client.py with Debian's /usr/bin/python3 (the system one: the winrm module
// is a Debian package, python3-winrm, not a pip install).
func pywinrm(t *testing.T, l *listener, transport, user, password string, command ...string) map[string]any {
	t.Helper()
	return pywinrmEnv(t, l, nil, transport, user, password, command...)
}

// pywinrmEnv is pywinrm with extra environment variables (Kerberos: KRB5_CONFIG, KRB5CCNAME).
func pywinrmEnv(t *testing.T, l *listener, env []string, transport, user, password string, command ...string) map[string]any {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import winrm").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-winrm is not importable by %s: %v (install the Debian package python3-winrm)", py, err)
		}
		t.Skipf("python3-winrm is not installed (Debian package python3-winrm): %v", err)
	}
	dir := t.TempDir()
	// NTLM needs MD4, which OpenSSL 3 only offers through its legacy provider (winrm-protocol.md §4.2).
	cnf := filepath.Join(dir, "openssl.cnf")
	if err := os.WriteFile(cnf, []byte(`openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := "-"
	scheme := "http"
	if l.https {
		scheme = "https"
		ca = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(ca, l.caPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	endpoint := fmt.Sprintf("%s://%s:%d/wsman", scheme, l.host, l.port)
	return pythonJSON(t, append([]string{"OPENSSL_CONF=" + cnf}, env...), "pywinrm_client.py", append([]string{endpoint, transport, user, password, ca}, command...)...)
}

// pythonJSON runs testdata/<script> with Debian's /usr/bin/python3 (its modules are Debian packages) and
// extra environment variables, and decodes the one JSON line the script prints.
func pythonJSON(t *testing.T, env []string, script string, args ...string) map[string]any {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "/usr/bin/python3", append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s output %q: %v", script, out, err)
	}
	return res
}

// numberedLines is what the test launcher's "lines n" writes: every line, in order, none lost or doubled
// across the Receive responses a long output takes.
func numberedLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %07d %s\r\n", i, strings.Repeat("x", 40))
	}
	return b.String()
}

func TestPywinrm(t *testing.T) {
	tests := []struct {
		name, transport, user, password string
		https                           bool
		command                         []string
		// wantStdout and wantStderr are the whole streams.
		wantStdout, wantStderr string
		wantCode               float64
		wantError              string
	}{
		{name: "basic", transport: "basic", user: testUser, password: testPassword, command: []string{"echo", "from python"}, wantStdout: "from python\r\n"},
		{name: "ntlm", transport: "ntlm", user: `EXLAB\` + testUser, password: testPassword, command: []string{"echo", "ntlm ok"}, wantStdout: "ntlm ok\r\n"},
		{name: "ssl", transport: "ssl", user: testUser, password: testPassword, https: true, command: []string{"echo", "tls ok"}, wantStdout: "tls ok\r\n"},
		{name: "exit code and stderr", transport: "basic", user: testUser, password: testPassword, command: []string{"fail", "7 bad"}, wantStderr: "bad", wantCode: 7},
		{name: "long output", transport: "ntlm", user: `EXLAB\` + testUser, password: testPassword, command: []string{"lines", "5000"}, wantStdout: numberedLines(5000)},
		{name: "bad password basic", transport: "basic", user: testUser, password: "nope", command: []string{"echo", "x"}, wantError: "InvalidCredentialsError"},
		{name: "bad password ntlm", transport: "ntlm", user: `EXLAB\` + testUser, password: "nope", command: []string{"echo", "x"}, wantError: "InvalidCredentialsError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startServer(t, tt.https, nil)
			res := pywinrm(t, l, tt.transport, tt.user, tt.password, tt.command...)
			if tt.wantError != "" {
				if res["error"] != tt.wantError {
					t.Fatalf("got %v, want error %s", res, tt.wantError)
				}
				if _, has := res["stdout"]; has {
					t.Errorf("a refused client got output: %v", res)
				}
				return
			}
			if res["error"] != nil {
				t.Fatalf("pywinrm failed: %v", res)
			}
			if stdout, _ := res["stdout"].(string); stdout != tt.wantStdout {
				t.Errorf("stdout (%d bytes) %.200q, want %d bytes %.200q", len(stdout), stdout, len(tt.wantStdout), tt.wantStdout)
			}
			if stderr, _ := res["stderr"].(string); stderr != tt.wantStderr {
				t.Errorf("stderr %.200q, want %q", stderr, tt.wantStderr)
			}
			if res["code"] != tt.wantCode {
				t.Errorf("exit code %v, want %v", res["code"], tt.wantCode)
			}
		})
	}
}

// TestPywinrmCertificate: python3-winrm's certificate transport (requests with a client certificate and the
// https/mutual header) against the listener's certificate mapping.
func TestPywinrmCertificate(t *testing.T) {
	certPEM, keyPEM, mapping, err := ClientCertificate("exmaintd@exlab.local", "exmaintd", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l := startServer(t, true, func(c *Config) { c.CertMappings = []CertMapping{mapping} })
	res := pywinrm(t, l, "certificate", certFile, keyFile, "whoami")
	if res["error"] != nil || res["stdout"] != "ex01\\exmaintd\r\n" {
		t.Fatalf("mapped certificate: %v", res)
	}
	other := startServer(t, true, func(c *Config) {
		c.CertMappings = []CertMapping{{Subject: "someone@exlab.local", Issuer: mapping.Issuer, IssuerCert: mapping.IssuerCert, UserName: "x"}}
	})
	if res := pywinrm(t, other, "certificate", certFile, keyFile, "whoami"); res["error"] != "InvalidCredentialsError" {
		t.Fatalf("unmapped subject: %v, want InvalidCredentialsError", res)
	}
}

// TestPywinrmKerberos: python3-winrm's kerberos transport (requests-kerberos, MIT GSSAPI, a ticket from a
// real KDC obtained with kinit) against the listener's Kerberos acceptor; a ticket for another server's
// principal is refused.
func TestPywinrmKerberos(t *testing.T) {
	kt, env := kinitRealm(t, "winrm, requests_kerberos")
	l := startServer(t, false, func(c *Config) { c.Kerberos = &Kerberos{Keytab: kt, Realm: "EXLAB.LOCAL"} })
	res := pywinrmEnv(t, l, env, "kerberos", "ex01.exlab.local", "-", "whoami")
	if res["error"] != nil || res["stdout"] != "exlab\\administrator\r\n" {
		t.Fatalf("kerberos: %v", res)
	}
	if res := pywinrmEnv(t, l, env, "kerberos", "ex02.exlab.local", "-", "whoami"); res["error"] == nil {
		t.Fatalf("a ticket for HTTP/ex02 was accepted by ex01: %v", res)
	}
}
