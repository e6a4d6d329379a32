package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

func run(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exscale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "idle", "idle (an idle daemon's memory and scrapes) or window (a parallel window against exchsim)")
	servers := fs.String("servers", "500,2000", "idle: comma-separated server counts (DAGs of 4 members)")
	scrapes := fs.Int("scrapes", 200, "idle: scrapes of /metrics per server count")
	binary := fs.String("exmaintd", "", "the exmaintd binary to measure (default: build ./cmd/exmaintd with the go command)")
	dags := fs.Int("dags", 20, "window: DAGs of 4 members")
	standalone := fs.Int("standalone", 20, "window: standalone servers")
	parallel := fs.Int("parallel", 20, "window: daemon.parallel")
	keep := fs.Bool("keep", false, "keep the working directory (configurations, journals) and print where it is")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: exscale [-mode idle|window] [-servers 500,2000] [-scrapes N] [-dags N -standalone N -parallel N] [-exmaintd PATH]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var counts []int
	switch *mode {
	case "idle":
		for f := range strings.SplitSeq(*servers, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 4 || n%4 != 0 {
				return fmt.Errorf("-servers %q: want multiples of 4 (DAGs of 4 members)", f)
			}
			counts = append(counts, n)
		}
		if *scrapes < 1 {
			return fmt.Errorf("-scrapes %d: want 1 or more", *scrapes)
		}
	case "window":
		if *dags < 1 || *standalone < 0 || *parallel < 1 {
			return fmt.Errorf("-dags %d -standalone %d -parallel %d: want at least one DAG and parallel ≥ 1", *dags, *standalone, *parallel)
		}
	default:
		return fmt.Errorf("-mode %q: want idle or window", *mode)
	}
	dir, err := os.MkdirTemp("", "exscale-")
	if err != nil {
		return err
	}
	defer func() {
		if *keep {
			fmt.Fprintln(stderr, "exscale: kept", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	bin := *binary
	if bin == "" {
		bin = filepath.Join(dir, "exmaintd")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/exmaintd")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building exmaintd (run from the repository, or pass -exmaintd): %w", err)
		}
	}
	if *mode == "window" {
		return measureWindow(ctx, bin, dir, *dags, *standalone, *parallel, stdout)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "servers\twindows\tRSS idle\tRSS after scrapes\tseries\tseries/server\t/metrics\tgzip\tscrape p50\tp99\tcheck\tnext\t")
	for _, n := range counts {
		r, err := measureIdle(ctx, bin, filepath.Join(dir, strconv.Itoa(n)), n, *scrapes)
		if err != nil {
			return fmt.Errorf("%d servers: %w", n, err)
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f MiB\t%.1f MiB\t%d\t%.1f\t%.2f MB\t%.0f kB\t%.1f ms\t%.1f ms\t%.0f ms\t%.0f ms\t\n", n, r.windows, mib(r.rssIdle), mib(r.rssAfter),
			r.series, float64(r.series)/float64(n), float64(r.size)/1e6, float64(r.gzipSize)/1e3, ms(r.p50), ms(r.p99), ms(r.check), ms(r.next))
	}
	return tw.Flush()
}
