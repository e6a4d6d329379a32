package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/secret"
)

// TestClientCommands: status, start and abort against a daemon's API, with the token from the environment.
func TestClientCommands(t *testing.T) {
	t.Parallel()
	sim := simtest.Start(t, simtest.Options{})
	path, err := demo.WriteConfig(t.TempDir(), sim, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{ConfigPath: path, Config: cfg, Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewHandler(api.Options{Controller: d, Token: secret.New("s3cret"), Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	env := map[string]string{"EXMAINTD_API_TOKEN": "s3cret"}
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
		return out.String() + errb.String(), err
	}
	out, err := cli("status", "-addr", srv.URL)
	if err != nil || !strings.Contains(out, "demo") || !strings.Contains(out, "EX01") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = cli("start", "-addr", srv.URL, "demo")
	if err != nil || !strings.Contains(out, "started run demo-") {
		t.Fatalf("start: %v\n%s", err, out)
	}
	id := strings.TrimSpace(strings.TrimPrefix(out, "started run "))
	if out, err := cli("abort", "-addr", srv.URL, id); err != nil || !strings.Contains(out, "abort requested") {
		t.Fatalf("abort: %v\n%s", err, out)
	}
	result, _, err := d.Wait(t.Context(), id)
	if err != nil || result != api.Aborted {
		t.Errorf("after abort: %s, %v", result, err)
	}
	out, err = cli("status", "-addr", srv.URL)
	if err != nil || !strings.Contains(out, "RUN") || !strings.Contains(out, "FINISHED") || !strings.Contains(out, "DURATION") ||
		!regexp.MustCompile(regexp.QuoteMeta(id)+`\s+demo\s+`+result+`\s+\S+\s+\S+Z\s+\d`).MatchString(out) {
		t.Errorf("status after the run: %v; want its window, result, finish time and duration\n%s", err, out)
	}
	out, err = cli("status", "-addr", srv.URL, "-o", "json")
	var st api.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Runs) != 1 || st.Runs[0].Result != api.Aborted || len(st.Runs[0].Servers) == 0 {
		t.Errorf("status -o json: %v\n%s", err, out)
	}
	if _, err := cli("status", "-addr", srv.URL, "-o", "yaml"); exitCode(err) != 2 || !strings.Contains(err.Error(), `-o "yaml": want text or json`) {
		t.Errorf("status -o yaml: %v", err)
	}
	if _, err := cli("status", "-addr", srv.URL, "-token-file", "x"); exitCode(err) != 2 {
		t.Errorf("status -token-file (status needs no token): %v", err)
	}
	env["EXMAINTD_API_TOKEN"] = "wrong"
	if _, err := cli("start", "-addr", srv.URL, "demo"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("start with a wrong token: %v", err)
	}
	if _, err := cli("clear", "-addr", srv.URL); exitCode(err) != 2 || !strings.Contains(err.Error(), "exmaintd clear [flags] SERVER") {
		t.Errorf("clear without a server: %v", err)
	}
	delete(env, "EXMAINTD_API_TOKEN")
	if _, err := cli("start", "-addr", srv.URL, "demo"); exitCode(err) != 2 || !strings.Contains(err.Error(), "set EXMAINTD_API_TOKEN or pass -token-file") {
		t.Errorf("start without a token: %v", err)
	}
	if out, err := cli("start", "-h"); !strings.Contains(out, "usage: exmaintd start [flags] WINDOW") {
		t.Errorf("start -h: %v\n%s", err, out)
	}
	// No daemon at the address: the error says what to check.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	if _, err := cli("status", "-addr", dead); err == nil || !strings.Contains(err.Error(), "is exmaintd running?") {
		t.Errorf("status with no daemon: %v", err)
	}
	// -config takes the address from daemon.listen.
	example, err := os.ReadFile("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	edited := strings.Replace(string(example), `listen = "127.0.0.1:9105"`, `listen = "`+strings.TrimPrefix(dead, "http://")+`"`, 1)
	if err := os.WriteFile(cfgPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("status", "-config", cfgPath); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("status -config: %v, want an error naming %s", err, dead)
	}
}
