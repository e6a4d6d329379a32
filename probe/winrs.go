package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// Clock skew: Kerberos refuses an authenticator more than 5 minutes off (Microsoft Learn, "Maximum
// tolerance for computer clock synchronization", default 5 minutes); a minute is worth a warning.
const (
	maxSkew  = 5 * time.Minute
	warnSkew = time.Minute
)

// winrs checks the operating-system channel: the session, the server's clock, and the reads the pre-gates
// and the reboot make there. It reports whether the session works (the patching checks need it).
func (p *serverProbe) winrs(ctx context.Context, cl *exchange.Client) bool {
	session := p.timed("winrs", "session", func() Check {
		boot, err := cl.LastBootUpTime(ctx)
		if err != nil {
			return Check{Status: Fail, Detail: err.Error(),
				Remedy: "check the account and its password, the auth method and that the listener allows it (winrm get winrm/config/service/auth); the account must be an administrator of the server"}
		}
		return Check{Status: OK, Detail: "WinRS session opened; the server booted " + boot.Format(time.RFC3339)}
	})
	if session.Status != OK {
		return false
	}
	p.timed("winrs", "clock", func() Check {
		before := p.o.Now()
		t, err := cl.ServerTime(ctx)
		if err != nil {
			return Check{Status: Fail, Detail: err.Error()}
		}
		// the server read its clock somewhere in the round trip: compare with its middle
		skew := t.Sub(before.Add(p.o.Now().Sub(before) / 2)).Round(time.Second)
		abs := max(skew, -skew)
		c := Check{Status: OK, Detail: fmt.Sprintf("the server's clock is %v from this host's", skew)}
		switch {
		case abs > maxSkew:
			c.Status, c.Remedy = Fail, "synchronise both clocks (w32tm /resync on the server, chrony or systemd-timesyncd here): Kerberos refuses more than 5 minutes"
		case abs > warnSkew:
			c.Status, c.Remedy = Warn, "synchronise the clocks: Kerberos allows 5 minutes, and exmaintd compares times it reads from the server"
		}
		return c
	})
	p.timed("winrs", "pending_restart", func() Check {
		pr, err := cl.PendingReboot(ctx)
		if err != nil {
			return Check{Status: Fail, Detail: err.Error()}
		}
		r := pr.Reasons()
		switch {
		case len(r) == 0:
			return Check{Status: OK, Detail: "no restart pending"}
		case p.s.AllowPendingReboot:
			return Check{Status: Warn, Detail: "restart pending: " + strings.Join(r, ", "), Remedy: "steps.allow_pending_reboot lets the window start; its restart will complete this one"}
		}
		return Check{Status: Fail, Detail: "restart pending: " + strings.Join(r, ", ") + " (the pre-gate pending_reboot would refuse the window)",
			Remedy: "restart the server outside the window, or set steps.allow_pending_reboot = true"}
	})
	p.timed("winrs", "installers", func() Check {
		in, err := cl.Installers(ctx)
		if err != nil {
			return Check{Status: Fail, Detail: err.Error()}
		}
		if a := in.Active(); len(a) > 0 {
			return Check{Status: Fail, Detail: "an installer is at work: " + strings.Join(a, ", ") + " (the pre-gate setup would refuse the window)",
				Remedy: "let it finish; a window starts on a server only once no installer runs"}
		}
		return Check{Status: OK, Detail: "no installer at work (Windows Installer, ExSetup, TiWorker, wusa)"}
	})
	if len(p.s.Services) > 0 {
		p.timed("winrs", "services", func() Check {
			svcs, err := cl.Services(ctx, p.s.Services...)
			if err != nil {
				return Check{Status: Fail, Detail: err.Error(), Remedy: "name the server's services in [steps] services as Get-Service knows them"}
			}
			var down []string
			for _, s := range svcs {
				if s.Status != "Running" {
					down = append(down, s.Name+" "+s.Status)
				}
			}
			if len(down) > 0 {
				return Check{Status: Fail, Detail: "not running: " + strings.Join(down, ", ") + " (the server would not count as back after its restart)",
					Remedy: "start them, or remove a service the server does not run from [steps] services"}
			}
			return Check{Status: OK, Detail: fmt.Sprintf("%d configured services running", len(svcs))}
		})
	}
	p.timed("winrs", "windows_update", func() Check {
		svcs, err := cl.Services(ctx, "wuauserv")
		if err != nil || len(svcs) == 0 {
			return Check{Status: Warn, Detail: fmt.Sprintf("the Windows Update service cannot be read: %v", err), Remedy: "a Windows Update patch needs the service (wuauserv)"}
		}
		if svcs[0].StartType == "Disabled" {
			return Check{Status: Warn, Detail: "the Windows Update service is disabled: a patch through the Windows Update Agent API would fail",
				Remedy: "set it to Manual (its default) if a window installs Windows updates"}
		}
		return Check{Status: OK, Detail: fmt.Sprintf("Windows Update service %s, %s", svcs[0].Status, svcs[0].StartType)}
	})
	if p.s.DAG != "" {
		p.timed("winrs", "cluster", func() Check {
			nodes, err := cl.ClusterNodes(ctx)
			if err != nil {
				return Check{Status: Fail, Detail: err.Error(), Remedy: "the account must be able to read the failover cluster (an administrator of the server)"}
			}
			var states []string
			self := ""
			for _, n := range nodes {
				states = append(states, n.Name+" "+n.State)
				if strings.EqualFold(n.Name, p.s.Name) {
					self = n.State
				}
			}
			if self != "Up" {
				return Check{Status: Fail, Detail: fmt.Sprintf("%s's cluster node is %q: %s", p.s.Name, self, strings.Join(states, ", ")),
					Remedy: "resume the node (Resume-ClusterNode) or repair the cluster before a window"}
			}
			g, err := cl.CoreClusterGroup(ctx)
			if err != nil {
				return Check{Status: Fail, Detail: err.Error()}
			}
			return Check{Status: OK, Detail: fmt.Sprintf("nodes %s; core group %s on %s", strings.Join(states, ", "), g.State, g.OwnerNode)}
		})
	}
	return true
}

// patching registers, runs and removes a no-op scheduled task as each account the server's patches run
// as — what a patch does, without installing anything — and warns that the memberships Exchange setup
// needs cannot be read from here.
func (p *serverProbe) patching(ctx context.Context, cl *exchange.Client) {
	accounts := p.s.Accounts
	if len(accounts) == 0 {
		accounts = []Account{{}}
	}
	for _, a := range accounts {
		who := a.User
		if who == "" {
			who = "SYSTEM"
		}
		p.timed("patching", "task as "+who, func() Check { return p.noopTask(ctx, cl, a, who) })
		if len(a.Setup) > 0 {
			p.add(Check{Channel: "patching", Name: "setup account", Status: Warn,
				Detail: fmt.Sprintf("%s runs Exchange setup (%s): its memberships are not read here", who, strings.Join(a.Setup, ", ")),
				Remedy: "setup needs Organization Management (and Schema Admins and Enterprise Admins when the update prepares Active Directory): run CSS-Exchange SetupAssist on the server as that account"})
		}
	}
}

// noopTask is one account's task: registered, started, polled to its end and removed.
func (p *serverProbe) noopTask(ctx context.Context, cl *exchange.Client, a Account, who string) Check {
	spec := exchange.TaskSpec{User: a.User, TimeLimit: p.o.TaskTimeout}
	if a.Password != nil {
		pw, err := a.Password()
		if err != nil {
			return Check{Status: Fail, Detail: "run_as_password: " + err.Error()}
		}
		spec.Password = pw
	}
	// the account's hash keeps the ID within a task name's 64 characters whatever the account's length
	sum := sha256.Sum256([]byte(strings.ToLower(who)))
	id := "probe-" + hex.EncodeToString(sum[:4]) + "-" + p.o.Now().UTC().Format("20060102T150405")
	ctx, cancel := context.WithTimeout(ctx, p.o.TaskTimeout)
	defer cancel()
	job, err := cl.StartJob(ctx, id, "Write-Output 'exmaintd probe: a task runs here'", spec)
	if err != nil {
		return Check{Status: Fail, Detail: "registering and starting a task: " + err.Error(), Remedy: taskRemedy(a.User)}
	}
	for {
		select {
		case <-ctx.Done():
			return Check{Status: Fail, Detail: fmt.Sprintf("task %s did not finish within %v (it stays registered)", job.Task, p.o.TaskTimeout), Remedy: taskRemedy(a.User)}
		case <-time.After(p.o.PollInterval):
		}
		j, err := cl.PollJob(ctx, job)
		if err != nil {
			return Check{Status: Fail, Detail: err.Error(), Remedy: taskRemedy(a.User)}
		}
		if j.Running {
			continue
		}
		rmErr := cl.RemoveJob(ctx, j)
		switch {
		case j.ExitCode != 0:
			return Check{Status: Fail, Detail: fmt.Sprintf("task %s ran and exited %d: %s", job.Task, j.ExitCode, strings.TrimSpace(j.Output)), Remedy: taskRemedy(a.User)}
		case rmErr != nil:
			return Check{Status: Warn, Detail: fmt.Sprintf("task %s ran, but removing it failed: %v", job.Task, rmErr), Remedy: "remove it: Unregister-ScheduledTask -TaskPath '\\exmaintd\\'"}
		}
		return Check{Status: OK, Detail: fmt.Sprintf("a task registered, ran (exit 0) and was removed as %s", who)}
	}
}

// taskRemedy is what makes a task run as user.
func taskRemedy(user string) string {
	switch {
	case user == "":
		return "the WinRM account must be an administrator of the server to register a task as SYSTEM"
	case strings.HasSuffix(user, "$"):
		return "install the gMSA on the server (Install-ADServiceAccount; the server must be in its PrincipalsAllowedToRetrieveManagedPassword) and grant it 'Log on as a batch job'"
	}
	return "check run_as_password, and grant the account 'Log on as a batch job' on the server"
}
