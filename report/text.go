package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes the run for a person: the run's result and times, then per server its outcome and
// reason, and its events — the gates of one moment on one line with what they read, each step and undo with
// its duration and error, the values a step recorded — and its warnings. Times are UTC.
func (run Run) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	result := run.Result
	if result == "" {
		result = "not finished"
	}
	ew.printf("run %s (window %s): %s\n", run.ID, run.Window, result)
	ew.printf("started %s", stamp(run.Started))
	if !run.Deadline.IsZero() {
		ew.printf(", window until %s", stamp(run.Deadline))
	}
	if run.Finished != nil {
		ew.printf(", finished %s (%v)", stamp(*run.Finished), run.Finished.Sub(run.Started).Round(100*time.Millisecond))
	}
	ew.printf("\n")
	for _, s := range run.Servers {
		ew.printf("\n%s", s.Name)
		if s.Procedure != "" {
			ew.printf(" (procedure %s)", s.Procedure)
		}
		switch {
		case s.Outcome == "":
			ew.printf(": no end recorded\n")
		case s.Reason != "":
			ew.printf(": %s: %s\n", s.Outcome, s.Reason)
		default:
			ew.printf(": %s\n", s.Outcome)
		}
		lastGates := "" // the gates printed last: the same values before the next step join that line
		for i := 0; i < len(s.Events); {
			e := s.Events[i]
			if e.Kind != "gate" {
				lastGates = ""
			}
			if e.Kind == "gate" {
				// The gates of one moment (same place) on one line.
				j := i
				var parts []string
				for ; j < len(s.Events) && s.Events[j].Kind == "gate" && s.Events[j].When == e.When && s.Events[j].Step == e.Step; j++ {
					g := s.Events[j]
					part := g.Gate + " " + g.Result
					if g.Detail != "" {
						part += " (" + g.Detail + ")"
					}
					parts = append(parts, part)
				}
				where := e.When
				if e.Step != "" {
					where += " " + e.Step
				}
				line := strings.Join(parts, "; ")
				if line == lastGates {
					ew.printf("  %s  gates %s: the same\n", clock(e.Time), where)
				} else {
					ew.printf("  %s  gates %s: %s\n", clock(e.Time), where, line)
				}
				lastGates = line
				i = j
				continue
			}
			what := e.Step
			if e.Kind == "undo" {
				what = "undo " + e.Step
			}
			switch {
			case e.Kind == "rollback_failed":
				ew.printf("  %s  ROLLBACK FAILED at %s\n", clock(e.Time), e.Step)
			case e.Result == "started":
				ew.printf("  %s  %s: started, no end recorded", clock(e.Time), what)
			case e.Result == "failed":
				ew.printf("  %s  %s: FAILED after %v", clock(e.Time), what, e.Took.Round(time.Millisecond))
			default:
				ew.printf("  %s  %s: %s in %v", clock(e.Time), what, e.Result, e.Took.Round(time.Millisecond))
			}
			if e.Kind != "rollback_failed" {
				if e.Detail != "" {
					ew.printf(" — %s", e.Detail)
				}
				ew.printf("\n")
			}
			i++
		}
		for _, x := range s.Warnings {
			ew.printf("  warning: %s\n", x)
		}
	}
	return ew.err
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
func clock(t time.Time) string { return t.UTC().Format("15:04:05.0") }

// errWriter keeps the first write error, so that WriteText reports it once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
