package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/wsman"
)

// TestRunServesTLS: with daemon.tls_cert and tls_key the API is HTTPS only, and `status -config` reaches it
// trusting the daemon's own certificate; plain HTTP to it fails.
func TestRunServesTLS(t *testing.T) {
	t.Parallel()
	dir, path := demoConfig(t)
	cert, certPEM, err := wsman.SelfSignedCertificate([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "api.pem"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(src), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\ntls_cert = \""+certFile+"\"\ntls_key = \""+keyFile+"\"", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := startDaemon(t, dir, path)
	addr := listenAddr(t, stderr) // bound by the daemon itself: no port picked here and released
	var out bytes.Buffer
	if err := run(t.Context(), []string{"status", "-config", path, "-addr", "https://" + addr}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("status over TLS: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "EX01") {
		t.Errorf("status output lacks the servers:\n%s", out.String())
	}
	out.Reset()
	err = run(t.Context(), []string{"status", "-addr", "http://" + addr}, func(string) string { return "" }, &out, &out)
	if err == nil {
		t.Error("plain HTTP to the TLS listener succeeded")
	}
}
