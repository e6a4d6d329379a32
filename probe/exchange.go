package probe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

// exchange checks the Exchange channel: the endpoint opens (through the peer the server's cmdlets run on)
// and every read the procedure's gates and steps make there answers for this server.
func (p *serverProbe) exchange(ctx context.Context, cl *exchange.Client) {
	pool := p.timed("exchange", "endpoint", func() Check {
		servers, err := cl.ExchangeServers(ctx)
		if err != nil {
			return Check{Status: Fail, Detail: err.Error(),
				Remedy: "check exchange_auth (Kerberos as Exchange ships: a ticket for HTTP/<fqdn> of the endpoint), the account's Exchange role (Server Management or Organization Management), and that the endpoint answers"}
		}
		for _, s := range servers {
			if !strings.EqualFold(s.Name, p.s.Name) {
				continue
			}
			v, err := exchange.ParseVersion(s.AdminDisplayVersion)
			if err != nil {
				return Check{Status: Warn, Detail: err.Error()}
			}
			c := Check{Status: OK, Detail: fmt.Sprintf("opened through %s; %s is %s (%s)", cl.ExchangeVia(), s.Name, v.Product(), s.AdminDisplayVersion)}
			if w := v.SupportWarning(p.o.Now()); w != "" {
				c.Status, c.Remedy = Warn, w
			}
			return c
		}
		return Check{Status: Fail, Detail: fmt.Sprintf("opened through %s, but the organisation has no Exchange server %s (%d others)", cl.ExchangeVia(), p.s.Name, len(servers)),
			Remedy: "name the server in the configuration as Exchange does (Get-ExchangeServer)"}
	})
	if pool.Status == Fail {
		return
	}
	// Each read returns what it found, and what in it a gate would refuse ("" if nothing).
	reads := []struct {
		name string
		dag  bool
		read func() (found, refused string, err error)
	}{
		{"component_states", false, func() (string, string, error) {
			cs, err := cl.ComponentStates(ctx, p.s.Name)
			var inactive []string
			for _, c := range cs {
				if c.State != "Active" {
					inactive = append(inactive, c.Component+" "+c.State)
				}
			}
			return fmt.Sprintf("%d components; not Active: %s", len(cs), orNone(inactive)), "", err
		}},
		{"queues", false, func() (string, string, error) {
			qs, err := cl.Queues(ctx, p.s.Name)
			var n int64
			for _, q := range qs {
				n += q.MessageCount
			}
			return fmt.Sprintf("%d queues, %d messages", len(qs), n), "", err
		}},
		{"databases", false, func() (string, string, error) {
			ds, err := cl.Databases(ctx, p.s.Name)
			return fmt.Sprintf("%d databases", len(ds)), "", err
		}},
		{"mailbox_server", false, func() (string, string, error) {
			m, err := cl.MailboxServer(ctx, p.s.Name)
			return "activation policy " + m.DatabaseCopyAutoActivationPolicy, "", err
		}},
		{"copies", true, func() (string, string, error) {
			cs, err := cl.CopyStatus(ctx, p.s.Name)
			var bad []string
			for _, c := range cs {
				if c.Status != "Mounted" && c.Status != "Healthy" {
					bad = append(bad, c.Name+" "+c.Status)
				}
			}
			refused := ""
			if len(bad) > 0 {
				refused = "the copies gate would refuse the window: " + strings.Join(bad, ", ")
			}
			return fmt.Sprintf("%d copies", len(cs)), refused, err
		}},
		{"dag", true, func() (string, string, error) {
			d, err := cl.DAG(ctx, p.s.DAG)
			refused := ""
			if d.WitnessShareInUse == "InvalidConfiguration" {
				refused = "the witness is invalid: the DAG could lose quorum while a member is down"
			}
			return fmt.Sprintf("%s: %d members, Primary Active Manager %s, witness %s", d.Name, len(d.Servers), d.PrimaryActiveManager, d.WitnessShareInUse), refused, err
		}},
		{"service_health", false, func() (string, string, error) {
			rs, err := cl.ServiceHealth(ctx, p.s.Name)
			var bad []string
			for _, r := range rs {
				if !r.RequiredServicesRunning {
					bad = append(bad, r.Role+": "+strings.Join(r.ServicesNotRunning, ", "))
				}
			}
			refused := ""
			if len(bad) > 0 {
				refused = "required services not running: " + strings.Join(bad, "; ")
			}
			return fmt.Sprintf("%d roles", len(rs)), refused, err
		}},
	}
	for _, r := range reads {
		if r.dag && p.s.DAG == "" {
			continue
		}
		p.timed("exchange", r.name, func() Check {
			found, refused, err := r.read()
			switch {
			case err != nil:
				return Check{Status: Fail, Detail: err.Error(), Remedy: "the account's Exchange role must include this read (View-Only Organization Management covers the reads; Server Management the changes)"}
			case refused != "":
				return Check{Status: Fail, Detail: found + "; " + refused, Remedy: "repair it before the window: exmaintd would not start on this server"}
			}
			return Check{Status: OK, Detail: found}
		})
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// elapsed is d for a person: milliseconds below a second.
func elapsed(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}
