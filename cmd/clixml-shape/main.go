// Command clixml-shape prints the shape of the objects in an Export-Clixml file: for every property path,
// its CLIXML element kind and, for objects, the most derived .NET type name — no values. exchsim's
// Exchange endpoint is compared with shapes derived this way from captures of real Exchange servers
// (exchsim/REALITIES.md, "Shapes").
//
//	clixml-shape GetServerComponentState.xml > exchsim/testdata/shapes/e19/Get-ServerComponentState.shape
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/exmaintd/exmaintd/psrp"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "clixml-shape:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clixml-shape", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: clixml-shape FILE.xml   (an Export-Clixml document)") }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one file")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	lines, err := Shapes(data)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return nil
}

// Shapes is the union of the shapes of every top-level object in an Export-Clixml document (or of the one
// object a message carries).
func Shapes(data []byte) ([]string, error) {
	v, err := psrp.Decode(data)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*psrp.Object)
	if !ok {
		return nil, fmt.Errorf("not an object but a %T", v)
	}
	items := []any{o}
	if o.ListKind != "" && o.TypeName() == "" {
		items = o.List
	}
	set := map[string]bool{}
	for _, it := range items {
		if io, ok := it.(*psrp.Object); ok {
			for _, l := range psrp.Shape(io) {
				set[l] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}
