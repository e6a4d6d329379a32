package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
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

// TestRefusedHostsBounded: 4,000 requests with distinct 8 KiB Host names (the sender's choice) used to leave
// every name in memory (36 MiB after GC) and in the log (31 MiB). Now the log has at most one line a
// minute, with the name cut short and the refusals in between counted, the error echoes the cut name,
// and nothing is kept per name.
func TestRefusedHostsBounded(t *testing.T) {
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	clock := time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)
	h := NewHandler(Options{Controller: &fakeController{}, Logger: logger, Now: func() time.Time { return clock }})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 4000 {
		if i%1000 == 0 && i > 0 {
			clock = clock.Add(refusalLogEvery) // four minutes in all: four lines
		}
		req := httptest.NewRequest(http.MethodGet, "/api/v1/status", nil)
		req.Host = fmt.Sprintf("%05d-%s.attacker.example", i, strings.Repeat("x", 8<<10))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		if i == 0 && (rec.Body.Len() > 1024 || !strings.Contains(rec.Body.String(), "00000-xxx")) {
			t.Errorf("the refusal echoes %d bytes: %.200s", rec.Body.Len(), rec.Body.String())
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Errorf("the heap grew by %d bytes over 4,000 refused names", grown)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 4 || logged.Len() > 4*1024 {
		t.Errorf("%d log lines, %d bytes; want 4 short lines:\n%.2000s", len(lines), logged.Len(), logged.String())
	}
	if !strings.Contains(lines[len(lines)-1], "refused_since_last_line=999") {
		t.Errorf("the last line does not count the refusals it stands for: %s", lines[len(lines)-1])
	}
}
