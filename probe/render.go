package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// mark is a status as a person reads it at a glance.
func mark(s Status) string {
	switch s {
	case OK:
		return "✓"
	case Fail:
		return "✗"
	case Warn:
		return "!"
	}
	return "-"
}

// Text writes the report as one table per server — status, channel, check, what was found, the time it
// took — with each remedy under its check, and a summary line.
func (r Report) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	server := ""
	for _, c := range r.Checks {
		if c.Server != server {
			if server != "" {
				fmt.Fprintln(tw)
			}
			server = c.Server
			fmt.Fprintln(tw, server)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", mark(c.Status), c.Channel, c.Name, oneLine(c.Detail), elapsed(c.Took))
		if c.Remedy != "" && c.Status != OK {
			fmt.Fprintf(tw, "  \t\t\t→ %s\t\n", oneLine(c.Remedy))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "nothing would stop a window"
	if !r.OK() {
		verdict = "a window would not run as configured: fix what is marked ✗"
	}
	_, err := fmt.Fprintf(w, "\nprobe: %d checks: %d ok, %d warnings, %d failed, %d skipped in %s; %s\n",
		len(r.Checks), r.Count(OK), r.Count(Warn), r.Count(Fail), r.Count(Skip), elapsed(r.Took), verdict)
	return err
}

// JSON writes the report for scripts: {"ok": …, "checks": [...]}.
func (r Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK     bool    `json:"ok"`
		Checks []Check `json:"checks"`
		TookMS int64   `json:"took_ms"`
	}{r.OK(), r.Checks, r.Took.Milliseconds()})
}

// oneLine keeps a table row on one line whatever a server's message holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
