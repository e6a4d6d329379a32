package main

import (
	"context"
	"io"
	"slices"
	"strings"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/probe"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

// serverList is a repeatable -server flag.
type serverList []string

func (l *serverList) String() string { return strings.Join(*l, ",") }
func (l *serverList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func cmdProbe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flags("probe", stderr)
	path := fs.String("config", "", "configuration file")
	var only serverList
	fs.Var(&only, "server", "probe this server only (repeat for more; default: every server)")
	format := fs.String("o", "text", "output: text or json")
	parallel := fs.Int("parallel", 8, "servers probed at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("probe takes no arguments, got %q", fs.Args())
	}
	if *format != "text" && *format != "json" {
		return usageError("-o %q: want text or json", *format)
	}
	if *parallel < 1 {
		return usageError("-parallel %d: want 1 or more", *parallel)
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	servers, err := probeServers(c, only, getenv)
	if err != nil {
		return err
	}
	r := probe.Run(ctx, servers, probe.Options{Parallel: *parallel})
	if *format == "json" {
		err = r.JSON(stdout)
	} else {
		err = r.Text(stdout)
	}
	if err != nil {
		return err
	}
	if !r.OK() {
		return exitError{code: 1}
	}
	return nil
}

// probeServers resolves what the probe needs of each server: its endpoints (read when probed, as a window
// reads them), its services, and the accounts its windows' patches run as.
func probeServers(c *config.Config, only []string, getenv func(string) string) ([]probe.Server, error) {
	for _, name := range only {
		if _, ok := c.Target(name); !ok {
			return nil, usageError("-server %q: no such server in the configuration", name)
		}
	}
	accounts := map[string][]probe.Account{}
	for _, w := range c.Windows {
		groups, _ := c.Rollout(w.Name)
		for _, g := range groups {
			for _, s := range g.Servers {
				for _, p := range s.Settings.Patch {
					if p.Detached {
						accounts[s.Name] = addAccount(accounts[s.Name], p, getenv)
					}
				}
			}
		}
	}
	var out []probe.Server
	for _, s := range c.Servers {
		if len(only) > 0 && !slices.ContainsFunc(only, func(n string) bool { return strings.EqualFold(n, s.Name) }) {
			continue
		}
		t, _ := c.Target(s.Name)
		out = append(out, probe.Server{Name: t.Name, DAG: t.DAG.Name, Services: t.Settings.Services, AllowPendingReboot: t.Settings.AllowPendingReboot,
			Accounts: accounts[s.Name], Connect: func() (exchange.Endpoint, exchange.Options, error) { return t.Connect(getenv) }})
	}
	return out, nil
}

// addAccount adds patch p's account to list, once per account.
func addAccount(list []probe.Account, p steps.PatchCommand, getenv func(string) string) []probe.Account {
	i := slices.IndexFunc(list, func(a probe.Account) bool { return strings.EqualFold(a.User, p.RunAs) })
	if i < 0 {
		a := probe.Account{User: p.RunAs}
		if src := p.RunAsPassword; src != (secret.Source{}) {
			a.Password = func() (secret.Value, error) { return secret.Load(src, getenv) }
		}
		list = append(list, a)
		i = len(list) - 1
	}
	list[i].Patches = append(list[i].Patches, p.Name)
	if config.RunsExchangeSetup(p.Command) {
		list[i].Setup = append(list[i].Setup, p.Name)
	}
	return list
}
