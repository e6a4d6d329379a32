package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/secret"
)

// TestHostAllowlist: a request whose Host names a host outside the allowlist — what a DNS-rebinding page
// sends — is refused, status and metrics included; IP literals, the listed names and names under a listed
// ".domain" pass.
func TestHostAllowlist(t *testing.T) {
	base := start(t, &fakeController{}, "x") // default allowlist: localhost
	for _, tc := range []struct {
		host string
		want int
	}{
		{"", http.StatusOK}, // the listener's IP address
		{"localhost:9105", http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"[::1]:9105", http.StatusOK},
		{"attacker.example:9105", http.StatusForbidden},
		{"localhost.attacker.example", http.StatusForbidden},
	} {
		for _, path := range []string{"/api/v1/status", "/metrics"} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("Host %q %s: status %d, want %d (%s)", tc.host, path, resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusForbidden && !strings.Contains(string(body), "daemon.allowed_hosts") {
				t.Errorf("refusal does not name daemon.allowed_hosts: %s", body)
			}
		}
	}
	for _, tc := range []struct {
		host    string
		allowed []string
		want    bool
	}{
		{"exm01.corp.example", []string{".corp.example"}, true},
		{"corp.example", []string{".corp.example"}, false},
		{"exm01", DefaultAllowedHosts("exm01.corp.example"), true},
		{"exm01.corp.example", DefaultAllowedHosts("exm01.corp.example"), true},
		{"exm02", DefaultAllowedHosts("exm01.corp.example"), false},
		{"10.1.2.3", nil, true},
	} {
		if got := hostAllowed(tc.host, tc.allowed); got != tc.want {
			t.Errorf("hostAllowed(%q, %v) = %v, want %v", tc.host, tc.allowed, got, tc.want)
		}
	}
}

// TestStalledBodyIsCut: a POST that declares 100,000 body bytes and sends one used to hold its connection
// open forever; with the read limit the server answers and closes it.
func TestStalledBodyIsCut(t *testing.T) {
	h := NewHandler(Options{Controller: &fakeController{}, Token: secret.New("x"), Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := serverLimits()
	l.read = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, h, 5*time.Second, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /api/v1/runs/r1/abort HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\nContent-Length: 100000\r\n\r\nx"); err != nil {
		t.Fatal(err)
	}
	// Far above the limit: a connection still open then is one the server never cuts.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(bufio.NewReader(conn))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection with a stalled body was still open after 20 s")
	}
}
