package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchange/workload"
)

func TestRunZeroCost(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"-profile", "zero", "-polls", "2"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	for _, want := range []string{fmt.Sprintf("window: %d operations", workload.Window{Polls: 2}.Ops()), "session", "command", "remote overhead of the persistent session"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-mode", "psrp"}, {"-profile", "fast"}, {"-scale", "0"}, {"extra"}} {
		var out, errb bytes.Buffer
		if err := run(t.Context(), args, func(string) string { return "" }, &out, &errb); err == nil {
			t.Errorf("run(%v) accepted", args)
		}
	}
}
