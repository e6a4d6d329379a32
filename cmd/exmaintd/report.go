package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/report"
)

// cmdReport prints the story of one run from the journal: per server each gate with what it read, each step
// and undo with its duration and error. It reads the journal only (the file in daemon.state_dir, or etcd for
// a cluster), so it works whether the daemon runs or not, and changes nothing.
func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := flags("report", stderr)
	path := fs.String("config", "", "configuration file (its journal: daemon.state_dir, or [cluster] etcd)")
	format := fs.String("o", "text", "output: text, or json (for scripts and tickets)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: exmaintd report -config FILE [-o text|json] RUN-ID")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("usage: exmaintd report -config FILE [-o text|json] RUN-ID (got %d arguments; `exmaintd status` lists the runs)", fs.NArg())
	}
	if *format != "text" && *format != "json" {
		return usageError("-o %q: want text or json", *format)
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	recs, err := readJournal(c)
	if err != nil {
		return err
	}
	run, err := report.Build(recs, fs.Arg(0))
	if err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(run)
	}
	return run.WriteText(stdout)
}

// readJournal reads the configuration's journal without changing it.
func readJournal(c *config.Config) ([]journal.Record, error) {
	if c.Cluster.Backend != config.BackendEtcd {
		recs, _, err := journal.ReadFile(c.JournalPath())
		return recs, err
	}
	cl, err := etcdClient(c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	store, err := journalStore(cl, c.Cluster)
	if err != nil {
		return nil, err
	}
	recs, _, err := store.Load()
	return recs, err
}
