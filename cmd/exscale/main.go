// Command exscale measures exmaintd at the scale of a large organisation: an idle daemon with thousands of
// servers (RSS, /metrics size, series, scrape time) and a parallel window against exchsim.
// `go run ./cmd/exscale` (see BENCHMARKS.md).
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
			fmt.Fprintln(os.Stderr, "exscale:", err)
		}
		os.Exit(2)
	}
}
