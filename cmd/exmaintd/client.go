package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/exmaintd/exmaintd/api"
)

// cmdClient talks to a running daemon's API: status, start WINDOW, abort RUN, clear SERVER.
func cmdClient(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flags(cmd, stderr)
	const defaultAddr = "http://127.0.0.1:9105"
	addr := fs.String("addr", defaultAddr, "the daemon's API (daemon.listen)")
	cfgPath := fs.String("config", "", "read the API address from this configuration's daemon.listen (and trust its daemon.tls_cert)")
	tokenFile, format := new(string), new(string)
	if cmd == "status" {
		// Reading the status needs no token: status offers no -token-file.
		format = fs.String("o", "text", "output: text, or json (the API's /api/v1/status, for scripts)")
	} else {
		tokenFile = fs.String("token-file", "", "file holding the API token (default: $EXMAINTD_API_TOKEN)")
	}
	arg := map[string]string{"status": "", "start": " WINDOW", "abort": " RUN", "clear": " SERVER"}[cmd]
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: exmaintd %s [flags]%s\n", cmd, arg)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	want := 0
	if arg != "" {
		want = 1
	}
	if fs.NArg() != want {
		return usageError("usage: exmaintd %s [flags]%s (got %d arguments)", cmd, arg, fs.NArg())
	}
	if *format != "" && *format != "text" && *format != "json" {
		return usageError("-o %q: want text or json", *format)
	}
	hc := &http.Client{}
	if *cfgPath != "" {
		// The configuration gives the address (unless -addr does) and, with TLS, the certificate to trust.
		c, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		scheme := "http://"
		if c.Daemon.TLSCert != "" {
			scheme = "https://"
			if hc.Transport, err = trustCert(c.Daemon.TLSCert); err != nil {
				return err
			}
		}
		if *addr == defaultAddr && c.Daemon.Listen != "" {
			*addr = scheme + c.Daemon.Listen
		}
	}
	token := getenv("EXMAINTD_API_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return exitError{code: 2, msg: err.Error()}
		}
		token = strings.TrimSpace(string(b))
	}
	if cmd != "status" && token == "" {
		// Say it before sending: a 401 from the daemon would not say where the token comes from.
		return usageError("%s changes the daemon's state and needs the API token (daemon.api_token): set EXMAINTD_API_TOKEN or pass -token-file FILE", cmd)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	call := func(method, path string, out any) error {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(*addr, "/")+path, bytes.NewReader(nil))
		if err != nil {
			return exitError{code: 2, msg: err.Error()}
		}
		if token != "" && method == http.MethodPost {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("%s %s: %w (is exmaintd running? it listens on daemon.listen; pass -addr URL or -config FILE)", method, *addr, err)
			}
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode >= 300 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error.Message)
		}
		return json.Unmarshal(body, out)
	}
	switch cmd {
	case "status":
		var st api.Status
		if err := call(http.MethodGet, "/api/v1/status", &st); err != nil {
			return err
		}
		if *format == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		return printStatus(stdout, st)
	case "start":
		var out map[string]string
		if err := call(http.MethodPost, "/api/v1/windows/"+url.PathEscape(fs.Arg(0))+"/start", &out); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "started run %s\n", out["run_id"])
		return err
	case "abort":
		var out map[string]string
		if err := call(http.MethodPost, "/api/v1/runs/"+url.PathEscape(fs.Arg(0))+"/abort", &out); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "abort requested for run %s: its servers reverse\n", fs.Arg(0))
		return err
	default:
		var out map[string]string
		if err := call(http.MethodPost, "/api/v1/servers/"+url.PathEscape(fs.Arg(0))+"/clear", &out); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "rollback_failed cleared on %s\n", fs.Arg(0))
		return err
	}
}

// printStatus writes the status for a person: the windows; the runs, each with its result and, per
// server, its outcome and the reason, or the step in progress and for how long; the servers.
func printStatus(w io.Writer, st api.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "exmaintd %s at %s\n\nWINDOW\tOPEN\tNEXT START\tSERVERS\n", st.Version, st.Now.Format(time.RFC3339))
	for _, x := range st.Windows {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", x.Name, x.Open, x.NextStart.Format(time.RFC3339), strings.Join(x.Servers, ","))
	}
	fmt.Fprintf(tw, "\nRUN\tWINDOW\tRESULT\tSTARTED\tFINISHED\tDURATION\n")
	for _, r := range st.Runs {
		res, finished, took := runResult(r), "-", st.Now.Sub(r.Started).Round(time.Second).String()+" so far"
		if r.Finished != nil {
			finished, took = r.Finished.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Window, res, r.Started.Format(time.RFC3339), finished, took)
	}
	fmt.Fprintf(tw, "\nSERVER\tSTATE\tROLLBACK FAILED\n")
	for _, s := range st.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", s.Name, s.State, s.RollbackFailed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range st.Runs {
		if len(r.Servers) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nrun %s (%s): %s\n", r.ID, r.Window, runResult(r))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		var notes []string
		for _, s := range r.Servers {
			what := s.Outcome
			switch {
			case what != "" && s.Error != "":
				what += ": " + s.Error
			case what == "" && s.Step != "" && s.StepStarted != nil:
				what = fmt.Sprintf("%s, step %s for %v", s.State, s.Step, st.Now.Sub(*s.StepStarted).Round(time.Second))
			case what == "":
				what = s.State
			}
			fmt.Fprintf(tw, "  %s\t%s\n", s.Server, what)
			for _, x := range s.Warnings {
				notes = append(notes, fmt.Sprintf("  warning: %s: %s", s.Server, x))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}

// runResult is a run's result as the status shows it: "running" until it has one.
func runResult(r api.RunStatus) string {
	if r.Result == "" {
		return "running"
	}
	return r.Result
}

// trustCert is a transport that trusts the system's roots and the daemon's own certificate (a self-signed
// one included), for the CLI reading the daemon's configuration.
func trustCert(path string) (*http.Transport, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, exitError{code: 2, msg: fmt.Sprintf("daemon.tls_cert: %v", err)}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, exitError{code: 2, msg: fmt.Sprintf("daemon.tls_cert %s: no PEM certificate", path)}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}
