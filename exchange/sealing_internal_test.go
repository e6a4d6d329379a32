package exchange

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/masterzen/winrm/soap"

	"github.com/exmaintd/exmaintd/exchsim/kdc"
	"github.com/exmaintd/exmaintd/secret"
)

// mitAcceptor starts testdata/mit_acceptor.py (MIT krb5 through python3-gssapi) in mode with the KDC's
// service keytab, and returns its port.
func mitAcceptor(t *testing.T, k *kdc.KDC, mode string) int {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import gssapi").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-gssapi is not importable: %v", err)
		}
		t.Skipf("python3-gssapi is not importable (Debian package python3-gssapi): %v", err)
	}
	cmd := exec.Command("/usr/bin/python3", "testdata/mit_acceptor.py", mode)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KTNAME=FILE:"+k.KeytabPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mit_acceptor.py:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	var port int
	if _, serr := fmt.Sscanf(line, "PORT %d", &port); err != nil || serr != nil {
		t.Fatalf("mit_acceptor.py: %q, %v %v\n%s", line, err, serr, stderr.String())
	}
	return port
}

// mitTransport is exmaintd's transport (Kerberos over plain HTTP, so sealed) to an MIT acceptor in mode,
// with a KDC of its own.
func mitTransport(t *testing.T, mode string) *transport {
	t.Helper()
	k := startKDC(t)
	port := mitAcceptor(t, k, mode)
	tr, err := newTransport(mitEndpoint(t, k), fmt.Sprintf("http://127.0.0.1:%d/wsman", port), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.close)
	return tr
}

func mitEndpoint(t *testing.T, k *kdc.KDC) Endpoint {
	t.Helper()
	conf, err := os.ReadFile(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	return Endpoint{Name: "EX01", Host: "127.0.0.1", TLSServerName: "ex01.exlab.local", Auth: AuthKerberos,
		User: "administrator", Password: secret.New("Adm1n-Pass"), Kerberos: &Kerberos{Realm: k.Realm, Krb5Conf: string(conf)}}
}

func startKDC(t *testing.T) *kdc.KDC {
	t.Helper()
	return kdc.Start(t, kdc.Options{Realm: "EXLAB.LOCAL", Users: map[string]string{"administrator": "Adm1n-Pass"},
		Services: []string{"HTTP/ex01.exlab.local"}})
}

func envelope(i int) *soap.SoapMessage {
	m := soap.NewMessage()
	m.CreateBodyElement("Echo", soap.DOM_NS_SOAP_ENV).SetContent(fmt.Sprintf("message %d %s", i, strings.Repeat("é", i*997)))
	return m
}

// TestSealingWithMIT: exmaintd's sealed HTTP against MIT krb5's acceptor — MIT accepts the AP-REQ, answers
// with its own AP-REP and acceptor subkey, opens what exmaintd sealed and seals its answers, which
// exmaintd opens: the two implementations agree on the context, the subkey, the token layout, the
// rotation and the sequence numbers, over several messages on one connection and after a reconnect.
func TestSealingWithMIT(t *testing.T) {
	tr := mitTransport(t, "echo")
	for i := range 6 {
		if i == 3 {
			tr.http.CloseIdleConnections() // a new connection: a new context
		}
		m := envelope(i)
		want := m.String()
		reply, err := tr.post(t.Context(), "Echo", m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(reply) != want {
			t.Fatalf("message %d: MIT echoed %.100q, want %.100q", i, reply, want)
		}
	}
}

// TestSealingRefusesClearReplies: a server that takes sealed requests but answers in clear text is not
// believed.
func TestSealingRefusesClearReplies(t *testing.T) {
	tr := mitTransport(t, "clear")
	_, err := tr.post(t.Context(), "Echo", envelope(1))
	var pe *ProtocolError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "clear text") {
		t.Fatalf("clear reply: %v, want a ProtocolError about clear text", err)
	}
}

// TestSealingRefusesForgedErrors: on a sealed channel a relay can forward the sealed request and answer in
// clear text with an error of its choosing. A clear "500 ShellNotFound" used to be believed — the write
// was taken as never delivered and sent again on a new pool, so the server ran it twice — and a clear 401
// made the transport authenticate again and resend the request. Now an unsealed reply of any status is a
// protocol failure that closes the connection: never "not delivered", never resent, its text not repeated.
// A reply whose headers run past maxReplyHeader is refused the same way without being read whole.
func TestSealingRefusesForgedErrors(t *testing.T) {
	for _, mode := range []string{"clear500", "clear401", "bighead"} {
		t.Run(mode, func(t *testing.T) {
			tr := mitTransport(t, mode)
			_, err := tr.post(t.Context(), "Command", envelope(1))
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("reply: %v (%T); want a ProtocolError", err, err)
			}
			if notDelivered(err) {
				t.Errorf("%v counts as not delivered: a write would be resent", err)
			}
			if strings.Contains(err.Error(), "shell was not found") {
				t.Errorf("the unauthenticated reply's text reached the error: %v", err)
			}
			if mode == "bighead" && !strings.Contains(err.Error(), "headers are over") {
				t.Errorf("oversized headers: %v", err)
			}
			if sealer := tr.http.Transport.(*kerberosSealer); sealer.conn != nil {
				t.Error("the connection that carried the unsealed reply was kept")
			}
		})
	}
}
