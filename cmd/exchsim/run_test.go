package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchsim"
	"github.com/exmaintd/exmaintd/syncbuf"
)

func TestServesScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncbuf.Buffer
	simc := make(chan *exchsim.Sim, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-listen", "127.0.0.1:0", "-scenario", "standalone"}, &stdout, &stderr, func(s *exchsim.Sim) { simc <- s })
	}()
	var sim *exchsim.Sim
	select {
	case sim = <-simc:
	case err := <-done:
		t.Fatalf("exited early: %v %s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("did not start")
	}
	if !strings.Contains(stdout.String(), "EX03") || !strings.Contains(stdout.String(), "/wsman") {
		t.Errorf("no server table:\n%s", stdout.String())
	}
	resp, err := http.Get("http://" + sim.Servers()[0].Addr() + "/sim/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"EX03"`) {
		t.Errorf("state: %s", b)
	}
	// The wall clock cannot be driven.
	resp, err = http.Post("http://"+sim.Servers()[0].Addr()+"/sim/v1/clock", "application/json", strings.NewReader(`{"advance_ms": 1000}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("advancing the wall clock: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "nope"}, "no built-in scenario"},
		{[]string{"-scenario", "nope.toml"}, "nope.toml"},
		{[]string{"-scenario", "./demo"}, "demo"},
		{[]string{"-cost", "cheap"}, "-cost"},
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"-bogus"}, "usage"},
		{[]string{"-clock", "sundial"}, "-clock"},
		{[]string{"-cert", "x.pem"}, "-cert and -key go together"},
	}
	for _, tt := range tests {
		err := run(t.Context(), tt.args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	var help bytes.Buffer
	if err := serve(t.Context(), []string{"-h"}, io.Discard, &help, nil); err != nil || !strings.Contains(help.String(), "-scenario") || !strings.Contains(help.String(), "Administrator") {
		t.Errorf("-h: %v %s", err, help.String())
	}
}

// TestBuiltinScenarioNotShadowed: a bare name is the built-in scenario even where the working directory
// holds a directory or file of that name (the repository's demo/ made "-scenario demo" fail there).
func TestBuiltinScenarioNotShadowed(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("demo", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("standalone", []byte("not a scenario"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo", "standalone"} {
		sc, err := scenarioNamed(name)
		if err != nil || sc.Name != name {
			t.Errorf("-scenario %s: %v; want the built-in scenario", name, err)
		}
	}
	if _, err := scenarioNamed("./demo"); err == nil {
		t.Error("-scenario ./demo read the directory as a scenario")
	}
}
