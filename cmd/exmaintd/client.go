package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exmaintd/exmaintd/api"
)

// cmdClient talks to a running daemon's API: status, start WINDOW, abort RUN, clear SERVER.
func cmdClient(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flags(cmd, stderr)
	addr := fs.String("addr", "http://127.0.0.1:9105", "the daemon's API (daemon.listen)")
	tokenFile := fs.String("token-file", "", "file holding the API token (default: $EXMAINTD_API_TOKEN)")
	if err := parse(fs, args); err != nil {
		return err
	}
	want := map[string]int{"status": 0, "start": 1, "abort": 1, "clear": 1}[cmd]
	if fs.NArg() != want {
		return usageError("%s takes %d argument(s), got %d", cmd, want, fs.NArg())
	}
	token := getenv("EXMAINTD_API_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return exitError{code: 2, msg: err.Error()}
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{}
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

func printStatus(w io.Writer, st api.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "exmaintd %s at %s\n\nWINDOW\tOPEN\tNEXT START\tSERVERS\n", st.Version, st.Now.Format(time.RFC3339))
	for _, x := range st.Windows {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", x.Name, x.Open, x.NextStart.Format(time.RFC3339), strings.Join(x.Servers, ","))
	}
	fmt.Fprintf(tw, "\nRUN\tRESULT\tSTARTED\n")
	for _, r := range st.Runs {
		res := r.Result
		if res == "" {
			res = "running"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, res, r.Started.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "\nSERVER\tSTATE\tROLLBACK FAILED\n")
	for _, s := range st.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", s.Name, s.State, s.RollbackFailed)
	}
	return tw.Flush()
}
