// Command exchsim serves a simulated Exchange organisation over real WinRM, for rehearsing maintenance
// windows and for tests: `exchsim -listen 127.0.0.1:5985 -scenario dag2`.
package main

import (
	"context"
	"errors"
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
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "exchsim:", err)
		}
		os.Exit(2)
	}
}
