package wsman

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exmaintd/exmaintd/exchsim/kdc"
)

// kinitRealm starts a KDC for EXLAB.LOCAL (HTTP/ex01 and HTTP/ex02 as services) and kinits the listener's
// account into a credential cache: it returns the service keytab and the environment naming the realm's
// krb5.conf and the cache. needPython names the Python modules the caller's client imports.
func kinitRealm(t *testing.T, needPython string) (*keytab.Keytab, []string) {
	t.Helper()
	for _, tool := range []string{"kinit", "/usr/bin/python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing (Debian packages krb5-user, python3)", tool)
			}
			t.Skipf("%s missing", tool)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import "+needPython).Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python modules %s are not importable: %v (scripts/deps.sh installs them)", needPython, err)
		}
		t.Skipf("python modules %s are not importable (scripts/deps.sh installs them): %v", needPython, err)
	}
	k := kdc.Start(t, kdc.Options{Realm: "EXLAB.LOCAL", Users: map[string]string{testUser: testPassword},
		Services: []string{"HTTP/ex01.exlab.local", "HTTP/ex02.exlab.local"}, KeytabUsers: []string{testUser}})
	kt, err := keytab.Load(k.KeytabPath)
	if err != nil {
		t.Fatal(err)
	}
	ccache := "FILE:" + filepath.Join(t.TempDir(), "ccache")
	env := []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5CCNAME=" + ccache}
	kinit := exec.CommandContext(t.Context(), "kinit", "-k", "-t", k.UserKeytabPath, testUser+"@EXLAB.LOCAL")
	kinit.Env = append(os.Environ(), env...)
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v: %s", err, out)
	}
	return kt, env
}

// kerberosListener is a listener accepting the realm's tickets with AllowUnencrypted false (the Windows
// default), and the environment of a kinit'd credential cache for its account.
func kerberosListener(t *testing.T) (*listener, []string) {
	t.Helper()
	kt, env := kinitRealm(t, "gssapi, winrm, requests_kerberos")
	l := startServer(t, false, func(c *Config) {
		c.Kerberos = &Kerberos{Keytab: kt, Realm: "EXLAB.LOCAL"}
		c.AllowUnencrypted = false
	})
	return l, env
}

func mitSealed(t *testing.T, l *listener, env []string, spnHost string, command ...string) map[string]any {
	t.Helper()
	return pythonJSON(t, env, "mit_sealed_client.py", append([]string{l.host, strconv.Itoa(l.port), spnHost, "/wsman"}, command...)...)
}

// TestMITSealedKerberos: MIT krb5's GSSAPI seals every message (the way pyspnego does for WinRM) and
// python3-winrm builds them; exchsim, with AllowUnencrypted false, opens them and seals its replies,
// which MIT opens — so exchsim's message encryption is the one Kerberos clients nobody here wrote speak.
func TestMITSealedKerberos(t *testing.T) {
	l, env := kerberosListener(t)
	res := mitSealed(t, l, env, "ex01.exlab.local", "lines", "3000")
	if res["error"] != nil {
		t.Fatalf("sealed session: %v", res)
	}
	if stdout, _ := res["stdout"].(string); !strings.Contains(stdout, "line 0002999") {
		t.Fatalf("stdout %.200q lacks the last line", stdout)
	}
	if n, _ := res["sealed_requests"].(float64); n < 4 {
		t.Fatalf("only %v sealed requests (create, command, receive, signal, delete)", res["sealed_requests"])
	}
	if res["signature_bytes"] != float64(60) { // what gsswrap.Wrap produces too (EC 0, RRC 28)
		t.Fatalf("MIT's signature is %v bytes, want 60", res["signature_bytes"])
	}
	if got := l.srv.Requests()["unencrypted"]; got != 0 {
		t.Fatalf("%d requests went unencrypted", got)
	}
}

// TestUnsealedKerberosRefused: with AllowUnencrypted false, a Kerberos-authenticated request whose body is
// clear text gets the bare HTTP 500 Windows gives (pywinrm #129), while python3-winrm's Kerberos without
// message encryption still authenticates (its context set-up is what the server accepts first).
func TestUnsealedKerberosRefused(t *testing.T) {
	l, env := kerberosListener(t)
	res := pywinrmEnv(t, l, env, "kerberos", "ex01.exlab.local", "-", "whoami")
	if res["error"] != "WinRMTransportError" || !strings.Contains(res["message"].(string), "500") {
		t.Fatalf("clear-text Kerberos with AllowUnencrypted false: %v, want WinRMTransportError with 500", res)
	}
	if l.srv.Requests()["unencrypted"] == 0 {
		t.Fatal("the refusal was not counted as unencrypted")
	}
}
