// Command exbench measures the exchange client against an embedded exchsim: a DAG member's whole window
// operation mix in persistent-session and per-command mode, WinRM requests and remote overhead per window.
// `go run ./cmd/exbench -polls 30` (see BENCHMARKS.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	cancel()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "exbench:", err)
		}
		os.Exit(2)
	}
}
