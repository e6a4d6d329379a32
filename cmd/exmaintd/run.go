package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev" //nolint:gochecknoglobals // the one link-time variable

// Exit codes (README "Exit codes"): 0 success, 1 failure (a run failed, the daemon stopped on an error, the
// API answered an error), 2 usage or invalid configuration.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

const usage = `usage: exmaintd <command> [flags]

commands:
  run     -config FILE                 run the daemon (systemd: Type=notify)
  check   -config FILE                 validate the configuration; exit 0, or 2 listing every problem
  plan    -config FILE [-window W] [-server S] [-offline]
                                       the steps and exact PowerShell a window would run, and the live
                                       read-only pre-gates (changes nothing)
  probe   -config FILE [-server S]... [-o json] [-parallel N]
                                       first contact, read-only: every channel and read a window needs
                                       and a task as each patch account, per server, each failure with
                                       its remedy; exit 1 if something would stop a window
  next    -config FILE [-n N] [-from RFC3339]
                                       upcoming windows in the window's zone and UTC
  status  [-addr URL|-config FILE] [-o json]
                                       a running daemon's windows, runs (each server's outcome and
                                       reason, or its step in progress) and servers
  report  -config FILE [-o json] RUN   the story of one run from the journal: per server each gate with
                                       what it read, each step and undo with its duration and error
  start   [-addr URL|-config FILE] WINDOW
                                       start a window now (needs the API token)
  abort   [-addr URL|-config FILE] RUN abort a run; its servers reverse (needs the API token)
  clear   [-addr URL|-config FILE] SERVER
                                       lift rollback_failed after repairing a server (needs the API token)
                                       the token: $EXMAINTD_API_TOKEN or -token-file FILE
  journal migrate -config FILE [-from JOURNAL]
                                       copy the file journal into etcd before a cluster's first start
                                       (docs/ha.md); refuses while an instance runs or etcd has records
  demo    [-fail-at STEP] [-keep]      run a real window on a built-in simulated Exchange org
  version                              print the version

exit codes: 0 success, 1 failure, 2 usage or invalid configuration, 3 plan: a server would not start.
Run "exmaintd <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		_, _ = io.WriteString(stderr, usage)
		return exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, rest, getenv, stdout, stderr)
	case "check":
		err = cmdCheck(rest, getenv, stdout, stderr)
	case "plan":
		err = cmdPlan(ctx, rest, getenv, stdout, stderr)
	case "next":
		err = cmdNext(rest, stdout, stderr)
	case "status", "start", "abort", "clear":
		err = cmdClient(ctx, cmd, rest, getenv, stdout, stderr)
	case "journal":
		err = cmdJournal(ctx, rest, stdout, stderr)
	case "report":
		err = cmdReport(rest, stdout, stderr)
	case "probe":
		err = cmdProbe(ctx, rest, getenv, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		_, err = fmt.Fprintf(stdout, "exmaintd %s\n", version)
	case "-h", "-help", "--help", "help":
		_, err = io.WriteString(stdout, usage)
	default:
		_, _ = io.WriteString(stderr, usage)
		return usageError("unknown command %q", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// flags returns a FlagSet that reports errors as usage errors.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("exmaintd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args into fs, flags before and after the positional arguments alike (operators type
// "exmaintd start demo -config sim.toml"); fs.Args() are the positional ones afterwards.
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return exitError{code: 2, msg: strings.TrimSpace(err.Error())}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	_ = fs.Parse(append([]string{"--"}, positional...)) // cannot fail: only positional arguments
	return nil
}
