package org

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

// cmdlet adapts a model function to ps.Cmdlet. Every invocation settles the model at the current time and
// honours the cmdlet_error fault.
type cmdlet struct {
	g      *Org
	name   string
	module string
	params []ps.Parameter
	fn     func(g *Org, inv ps.Invocation, now time.Time) ([]any, error)
	// fnCtx, when set instead of fn, also gets the calling process's context (cancelled when its WinRM shell
	// goes: Start-Process children belong to the shell's job object).
	fnCtx func(ctx context.Context, g *Org, inv ps.Invocation, now time.Time) ([]any, error)
}

func (c *cmdlet) Name() string               { return c.name }
func (c *cmdlet) Module() string             { return c.module }
func (c *cmdlet) Parameters() []ps.Parameter { return c.params }

func (c *cmdlet) Invoke(ctx context.Context, inv ps.Invocation) ([]any, error) {
	g := c.g
	g.mu.Lock()
	now := g.clock.Now()
	g.settleAll(now)
	target := g.actsOn(inv)
	if f := g.injectedError(c.name, inv.Host, target, "cmdlet_error", "cmdlet_writes_error"); f != nil {
		g.mu.Unlock()
		msg := f.Message
		if msg == "" {
			msg = "An error occurred while processing this request (injected by exchsim)."
		}
		return nil, &ps.Error{Message: msg, Category: "NotSpecified", ErrorID: "ExchsimInjected," + c.name, Written: f.Kind == "cmdlet_writes_error"}
	}
	if !readOnly(c.name) {
		g.changes = append(g.changes, Change{Time: now, Host: inv.Host, Server: target, Cmdlet: c.name})
	}
	if f := g.injectedError(c.name, inv.Host, target, "cmdlet_noop"); f != nil {
		g.mu.Unlock()
		return nil, nil // success, and nothing changed: what verification is there to catch
	}
	var out []any
	var err error
	if c.fnCtx != nil {
		out, err = c.fnCtx(ctx, g, inv, now)
	} else {
		out, err = c.fn(g, inv, now)
	}
	g.unlockAnnouncing()
	return out, err
}

// settleAll brings every server up to now. Callers hold g.mu.
func (g *Org) settleAll(now time.Time) {
	for _, k := range g.order {
		g.settle(g.servers[k], now)
	}
}

// injectedError is the first fault of one of kinds aimed at command on host — the server whose endpoint
// runs it — or on target, the server it acts on; nil if none. A fault aimed at a server thus fires
// wherever its cmdlets run (exmaintd runs a server's Exchange cmdlets on a peer). Callers hold g.mu.
func (g *Org) injectedError(command, host, target string, kinds ...string) *Fault {
	for i, f := range g.faults {
		if slices.Contains(kinds, f.Kind) && strings.EqualFold(f.Target, command) && (f.Server == "" || strings.EqualFold(f.Server, host) || strings.EqualFold(f.Server, target)) {
			return &g.faults[i]
		}
	}
	return nil
}

// actsOn is the server a cmdlet acts on: the one its -Server or -Identity names (a server's name, or a
// server part of "<server>\<queue>" or "<database>\<server>"), else the host that runs it. Callers hold
// g.mu.
func (g *Org) actsOn(inv ps.Invocation) string {
	for _, name := range []string{"Server", "Identity"} {
		for part := range strings.SplitSeq(arg(inv, name), `\`) {
			if s := g.lookup(part); s != nil {
				return s.spec.Name
			}
		}
	}
	return inv.Host
}

// unlockAnnouncing releases g.mu, then announces a restart the call started: OnReboot runs without locks
// held (the WinRM layer drops the server's shells).
func (g *Org) unlockAnnouncing() {
	reboot := g.pendingReboot
	g.pendingReboot = nil
	g.mu.Unlock()
	if reboot != nil {
		g.onBoot(reboot.server, reboot.down)
	}
}

type rebootNotice struct {
	server string
	down   time.Duration
}

func p(name string, pos int, aliases ...string) ps.Parameter {
	return ps.Parameter{Name: name, Position: pos, Aliases: aliases}
}
func sw(name string) ps.Parameter { return ps.Parameter{Name: name, Position: -1, Switch: true} }
func must(pp ps.Parameter) ps.Parameter {
	pp.Mandatory = true
	return pp
}

// readOnly reports whether a cmdlet only reads (Get-*, Test-*) or builds an object in the session
// (New-ScheduledTaskAction and its kin, nothing registered yet): everything else acts on a server.
func readOnly(name string) bool {
	return strings.HasPrefix(name, "Get-") || strings.HasPrefix(name, "Test-") || strings.HasPrefix(name, "New-ScheduledTask")
}

// Change is one call of a cmdlet that acts on a server (not Get-* or Test-*), whatever its outcome.
type Change struct {
	Time   time.Time
	Host   string // the server whose endpoint ran it
	Server string // the server it acted on (its -Server or -Identity), else Host
	Cmdlet string
}

// Changes returns every acting cmdlet call so far, oldest first: tests prove with it that a process did
// not act (a deposed leader) in a period, which the end state alone cannot show.
func (g *Org) Changes() []Change {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Change(nil), g.changes...)
}

// Cmdlets returns every cmdlet the organisation implements.
func (g *Org) Cmdlets() []ps.Cmdlet {
	ex := ps.ExchangeSnapin
	defs := []*cmdlet{
		{name: "Get-ServerComponentState", module: ex, params: []ps.Parameter{must(p("Identity", 0)), p("Component", -1)}, fn: getServerComponentState},
		{name: "Set-ServerComponentState", module: ex, params: []ps.Parameter{must(p("Identity", 0)), must(p("Component", -1)), must(p("State", -1)), must(p("Requester", -1)), sw("LocalOnly"), sw("RemoteOnly")}, fn: setServerComponentState},
		{name: "Get-Queue", module: ex, params: []ps.Parameter{p("Identity", 0), p("Server", -1), p("Filter", -1)}, fn: getQueue},
		{name: "Redirect-Message", module: ex, params: []ps.Parameter{must(p("Server", -1)), must(p("Target", -1))}, fn: redirectMessage},
		{name: "Resume-Queue", module: ex, params: []ps.Parameter{must(p("Identity", 0))}, fn: resumeQueue},
		{name: "Retry-Queue", module: ex, params: []ps.Parameter{must(p("Identity", 0)), sw("Resubmit")}, fn: retryQueue},
		{name: "Get-MailboxDatabaseCopyStatus", module: ex, params: []ps.Parameter{p("Identity", 0), p("Server", -1), sw("Local")}, fn: getCopyStatus},
		{name: "Get-MailboxDatabase", module: ex, params: []ps.Parameter{p("Identity", 0), p("Server", -1), sw("Status")}, fn: getMailboxDatabase},
		{name: "Suspend-MailboxDatabaseCopy", module: ex, params: []ps.Parameter{must(p("Identity", 0)), sw("ActivationOnly"), p("SuspendComment", -1)}, fn: suspendCopy},
		{name: "Resume-MailboxDatabaseCopy", module: ex, params: []ps.Parameter{must(p("Identity", 0))}, fn: resumeCopy},
		{name: "Mount-Database", module: ex, params: []ps.Parameter{must(p("Identity", 0))}, fn: mountDatabase},
		{name: "Dismount-Database", module: ex, params: []ps.Parameter{must(p("Identity", 0))}, fn: dismountDatabase},
		{name: "Move-ActiveMailboxDatabase", module: ex, params: []ps.Parameter{p("Identity", 0), p("Server", -1), p("ActivateOnServer", -1),
			p("MoveComment", -1), sw("SkipClientExperienceChecks"), sw("SkipMoveSuppressionChecks"), p("MountDialOverride", -1)}, fn: moveActiveMailboxDatabase},
		{name: "Get-Mailbox", module: ex, params: []ps.Parameter{p("Identity", 0), p("Database", -1), p("ResultSize", -1), sw("Arbitration")}, fn: getMailbox},
		{name: "Get-MailboxServer", module: ex, params: []ps.Parameter{p("Identity", 0)}, fn: getMailboxServer},
		{name: "Set-MailboxServer", module: ex, params: []ps.Parameter{must(p("Identity", 0)), p("DatabaseCopyAutoActivationPolicy", -1), p("DatabaseCopyActivationDisabledAndMoveNow", -1)}, fn: setMailboxServer},
		{name: "Get-DatabaseAvailabilityGroup", module: ex, params: []ps.Parameter{p("Identity", 0), sw("Status")}, fn: getDAG},
		{name: "Get-ExchangeServer", module: ex, params: []ps.Parameter{p("Identity", 0)}, fn: getExchangeServer},
		{name: "Test-ServiceHealth", module: ex, params: []ps.Parameter{p("Server", 0)}, fn: testServiceHealth},
		{name: "Get-ClusterNode", params: []ps.Parameter{p("Name", 0), p("Cluster", -1)}, fn: getClusterNode},
		{name: "Suspend-ClusterNode", params: []ps.Parameter{p("Name", 0), p("Cluster", -1), sw("Drain"), sw("Wait")}, fn: suspendClusterNode},
		{name: "Resume-ClusterNode", params: []ps.Parameter{p("Name", 0), p("Cluster", -1), p("Failback", -1)}, fn: resumeClusterNode},
		{name: "Get-ClusterGroup", params: []ps.Parameter{p("Name", 0), p("Cluster", -1)}, fn: getClusterGroup},
		{name: "Move-ClusterGroup", params: []ps.Parameter{must(p("Name", 0)), p("Node", 1), p("Cluster", -1), p("Wait", -1)}, fn: moveClusterGroup},
		{name: "Get-Service", params: []ps.Parameter{p("Name", 0)}, fn: getService},
		{name: "Restart-Service", params: []ps.Parameter{must(p("Name", 0)), sw("Force")}, fn: restartService},
		{name: "Get-CimInstance", params: []ps.Parameter{must(p("ClassName", 0)), p("ComputerName", -1)}, fn: getCimInstance},
		{name: "Restart-Computer", params: []ps.Parameter{p("ComputerName", 0), sw("Force")}, fn: restartComputer},
		{name: "Get-Process", params: []ps.Parameter{p("Name", 0), p("Id", -1)}, fn: getProcess},
		{name: "Start-Process", params: []ps.Parameter{must(p("FilePath", 0)), p("ArgumentList", 1), sw("PassThru"), p("WindowStyle", -1), sw("Wait"), sw("NoNewWindow")}, fnCtx: startProcess},
		{name: "Test-Path", params: []ps.Parameter{must(p("Path", 0)), p("PathType", -1)}, fn: testPath},
		{name: "Get-Content", params: []ps.Parameter{must(p("Path", 0)), sw("Raw"), p("Encoding", -1)}, fn: getContent},
		{name: "Get-ItemProperty", params: []ps.Parameter{must(p("Path", 0)), p("Name", 1)}, fn: getItemProperty},
		{name: "Invoke-CimMethod", params: []ps.Parameter{p("Namespace", -1), must(p("ClassName", 0)), must(p("MethodName", 2, "Name")), p("Arguments", -1)}, fn: invokeCimMethod},
	}
	defs = append(defs, taskCmdlets()...)
	out := make([]ps.Cmdlet, len(defs))
	for i, d := range defs {
		d.g = g
		out[i] = d
	}
	return out
}

func arg(inv ps.Invocation, name string) string {
	v, ok := inv.Args[name]
	if !ok || v == nil {
		return ""
	}
	if o, ok := v.(*ps.Object); ok && o.ToStringValue != "" {
		return o.ToStringValue
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func notFound(cmdlet, id string) *ps.Error {
	return &ps.Error{Message: fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on 'DC01.exlab.local'.", id),
		Category: "NotSpecified", ErrorID: "[Server=DC01,RequestId=00000000-0000-0000-0000-000000000000] 8A9F3C1E," + cmdlet,
		Type: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"}
}

func (g *Org) serverArg(cmdlet string, inv ps.Invocation, name string) (*server, error) {
	id := arg(inv, name)
	if id == "" {
		id = inv.Host
	}
	s := g.lookup(id)
	if s == nil {
		return nil, notFound(cmdlet, id)
	}
	if !s.downTil.IsZero() && !strings.EqualFold(s.spec.Name, inv.Host) {
		return nil, &ps.Error{Message: fmt.Sprintf("Active Manager operation failed: the server '%s' is unreachable (rebooting).", s.spec.Name), Category: "NotSpecified", ErrorID: "ServerUnreachable," + cmdlet}
	}
	return s, nil
}

func enum(typ, name string, values map[string]int64) ps.Enum {
	return ps.Enum{Type: typ, Name: name, Value: values[name]}
}

// serviceState is Microsoft.Exchange.Data.ServiceState (Inactive 0 and Active 1 as in CSS-Exchange's E16/E19
// GetServerComponentState.xml; Draining 2 has no capture).
func serviceState(st string) ps.Enum {
	return enum("Microsoft.Exchange.Data.ServiceState", st, map[string]int64{"Inactive": 0, "Active": 1, "Draining": 2})
}

// requesterList is LocalStates or RemoteStates: RequesterDetails whose Requester and State are plain strings
// (CSS-Exchange E16/E19 GetServerComponentState.xml), not enums.
func requesterList(comp string, rs []RequesterState) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = &ps.Object{TypeName: "Microsoft.Exchange.Data.Directory.Management.ServerComponentStatePresentationObject+RequesterDetails",
			ToStringValue: fmt.Sprintf("Requestor:%s; State:%s; Timestamp:%s", r.Requester, r.State, r.Timestamp.UTC().Format("1/2/2006 3:04:05 PM")),
			Props:         []ps.Prop{{Name: "Requester", Value: r.Requester}, {Name: "State", Value: r.State}, {Name: "Timestamp", Value: r.Timestamp}, {Name: "Component", Value: comp}}}
	}
	return out
}

// adObjectID is a Microsoft.Exchange.Data.Directory.ADObjectId: deserialised, its ToString is the object's
// name (CSS-Exchange captures: Identity, Site).
func adObjectID(name string) *ps.Object {
	return &ps.Object{TypeName: "Microsoft.Exchange.Data.Directory.ADObjectId", ToStringValue: name, Props: []ps.Prop{{Name: "Name", Value: name}}}
}

func getServerComponentState(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	s, err := g.serverArg("Get-ServerComponentState", inv, "Identity")
	if err != nil {
		return nil, err
	}
	s = g.adView(s, inv.Host, now)
	names := serverComponents(s)
	if c := arg(inv, "Component"); c != "" {
		canon, ok := canonicalComponent(s, c)
		if !ok {
			return nil, invalidComponent(s, c)
		}
		names = []string{canon}
	}
	var out []any
	for _, c := range names {
		out = append(out, ps.NewObject("Microsoft.Exchange.Data.Directory.Management.ServerComponentStatePresentationObject",
			"ServerFqdn", g.fqdn(s), "Component", c, "State", serviceState(effective(s, c)),
			"ServerWideOfflineIsOffline", effective(s, "ServerWideOffline") == "Inactive",
			"RemoteStates", requesterList(c, s.remote[c]), "LocalStates", requesterList(c, s.comps[c]),
			"Identity", adObjectID(s.spec.Name), "IsValid", true))
	}
	return out, nil
}

func canonicalComponent(s *server, name string) (string, bool) {
	for _, c := range serverComponents(s) {
		if strings.EqualFold(c, name) {
			return c, true
		}
	}
	return "", false
}

// invalidComponent is Exchange's complaint about a component name that does not exist (such as the seed's
// "MailboxDelivery"); the wording is approximated.
func invalidComponent(s *server, name string) *ps.Error {
	return &ps.Error{Message: fmt.Sprintf("The component \"%s\" is not a valid server component. Valid values are: %s.", name, strings.Join(serverComponents(s), ", ")),
		Category: "InvalidArgument", ErrorID: "[Server=EX01] 5C3E2A10,Microsoft.Exchange.Management.SystemConfigurationTasks.SetServerComponentState",
		Type: "Microsoft.Exchange.Configuration.Tasks.TaskArgumentException"}
}

func setServerComponentState(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	s, err := g.serverArg("Set-ServerComponentState", inv, "Identity")
	// From a peer while the target is down: its registry cannot be written, AD can. No source says whether
	// Exchange writes AD before it fails; the harsher reading is modelled — the AD entry is written and the
	// cmdlet fails — so that a caller cannot take the error for "nothing changed".
	unreachable := err
	if err != nil {
		if s = g.lookup(arg(inv, "Identity")); s == nil || s.downTil.IsZero() {
			return nil, err
		}
	}
	comp, ok := canonicalComponent(s, arg(inv, "Component"))
	if !ok {
		return nil, invalidComponent(s, arg(inv, "Component"))
	}
	state := ""
	for _, st := range []string{"Active", "Inactive", "Draining"} {
		if strings.EqualFold(st, arg(inv, "State")) {
			state = st
		}
	}
	if state == "" {
		return nil, &ps.Error{Message: fmt.Sprintf("Cannot bind parameter 'State'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.ServerComponentStates+ServiceState\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again: Inactive, Active, Draining\"", arg(inv, "State"), arg(inv, "State")),
			Category: "InvalidArgument", ErrorID: "CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.SetServerComponentState", Terminating: true}
	}
	if state == "Draining" && comp != "HubTransport" && comp != "FrontendTransport" && comp != "UMCallRouter" {
		return nil, &ps.Error{Message: fmt.Sprintf("The Draining state is only valid for HubTransport, FrontendTransport and UMCallRouter, not %s.", comp),
			Category: "InvalidArgument", ErrorID: "DrainingNotSupported,Microsoft.Exchange.Management.SystemConfigurationTasks.SetServerComponentState"}
	}
	req := ""
	for _, r := range []string{"HealthApi", "Maintenance", "Sidelined", "Functional", "Deployment"} {
		if strings.EqualFold(r, arg(inv, "Requester")) {
			req = r
		}
	}
	if req == "" {
		return nil, &ps.Error{Message: fmt.Sprintf("Cannot bind parameter 'Requester'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.ServerComponentRequest\".", arg(inv, "Requester")),
			Category: "InvalidArgument", ErrorID: "CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.SetServerComponentState", Terminating: true}
	}
	if req == "HealthApi" {
		req = "HealthAPI"
	}
	// Both the registry (LocalStates) and AD (RemoteStates) by default; -LocalOnly / -RemoteOnly one of them
	// (Microsoft Learn Set-ServerComponentState).
	localOnly, remoteOnly := inv.Args["LocalOnly"] == true, inv.Args["RemoteOnly"] == true
	if !localOnly {
		g.adWrite(s, inv.Host, now)
		setRequester(s.remote, comp, req, state, now)
	}
	if unreachable != nil && !remoteOnly {
		return nil, unreachable
	}
	if !remoteOnly {
		setRequester(s.comps, comp, req, state, now)
	}
	if comp == "HubTransport" && effective(s, "HubTransport") != "Active" && s.drainSetAt.IsZero() {
		s.drainSetAt = now
	}
	if effective(s, "HubTransport") == "Active" {
		s.drainSetAt, s.drainingSince = time.Time{}, time.Time{}
	}
	proxyServices(s)
	return nil, nil
}

// setRequester sets requester's entry of comp in one store (registry or AD).
func setRequester(store map[string][]RequesterState, comp, req, state string, now time.Time) {
	rs := store[comp]
	for i := range rs {
		if strings.EqualFold(rs[i].Requester, req) {
			rs[i].State, rs[i].Timestamp = state, now
			return
		}
	}
	store[comp] = append(rs, RequesterState{Requester: req, State: state, Timestamp: now})
}

type queueRow struct {
	id, deliveryType, status, hop string
	count                         int64
}

func (g *Org) queues(s *server) []queueRow {
	name := s.spec.Name
	sub := queueRow{id: name + `\Submission`, deliveryType: "Undefined", status: "Ready", hop: "Submission", count: s.submission}
	if s.submissionSuspended {
		sub.status = "Suspended"
	}
	rows := []queueRow{sub}
	if s.delivery > 0 {
		st := "Active"
		if s.stuck > 0 && s.delivery <= s.stuck {
			st = "Retry"
		}
		rows = append(rows, queueRow{id: name + `\7`, deliveryType: "SmtpDeliveryToMailbox", status: st, hop: "db01", count: s.delivery})
	}
	if s.unreachable > 0 {
		rows = append(rows, queueRow{id: name + `\Unreachable`, deliveryType: "Unreachable", status: "Ready", hop: "Unreachable Domain", count: s.unreachable})
	}
	if s.shadow > 0 {
		rows = append(rows, queueRow{id: name + `\Shadow\3`, deliveryType: "ShadowRedundancy", status: "Ready", hop: "peer." + g.sc.DNSDomain, count: s.shadow})
	}
	if s.poison > 0 { // the poison queue is hidden while empty
		rows = append(rows, queueRow{id: name + `\Poison`, deliveryType: "Undefined", status: "Ready", hop: "Poison Message", count: s.poison})
	}
	return rows
}

func (g *Org) transportBoot() time.Duration {
	if d := g.sc.Timing.TransportBoot.Duration; d > 0 {
		return d
	}
	return time.Second
}

func getQueue(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	if f := arg(inv, "Filter"); f != "" {
		return nil, &ps.Error{Message: "exchsim does not model Get-Queue -Filter; filter with Where-Object.", Category: "NotImplemented", ErrorID: "ExchsimFilter,Get-Queue"}
	}
	id := arg(inv, "Identity")
	srvName := arg(inv, "Server")
	if id != "" {
		srvName, _, _ = strings.Cut(id, `\`)
	}
	if srvName == "" {
		srvName = inv.Host
	}
	s := g.lookup(srvName)
	if s == nil {
		return nil, notFound("Get-Queue", srvName)
	}
	// Right after a transport restart the queues are not there until the bootloader is done: Get-Queue fails
	// at first, then answers with no queue at all — "unknown", never "empty". ExchangeDsc's
	// Enable-SubmissionQueue polls Get-Queue <server>\Submission with errors suppressed for up to 5 minutes
	// for exactly this (dsccommunity/ExchangeDsc TransportMaintenance.psm1).
	if boot := g.transportBoot(); !s.transportRestart.IsZero() && inv.Now.Sub(s.transportRestart) < boot {
		if inv.Now.Sub(s.transportRestart) < boot/2 {
			return nil, &ps.Error{Message: fmt.Sprintf("Queue viewer on %s is not available: the Microsoft Exchange Transport service is starting.", s.spec.Name),
				Category: "ResourceUnavailable", ErrorID: "QueueViewerUnavailable,Microsoft.Exchange.Management.QueueViewerTasks.GetQueue"}
		}
		return nil, nil
	}
	var out []any
	for _, q := range g.queues(s) {
		if id != "" && !strings.EqualFold(id, q.id) {
			continue
		}
		out = append(out, ps.NewObject("Microsoft.Exchange.Data.QueueViewer.ExtensibleQueueInfo",
			"Identity", &ps.Object{TypeName: "Microsoft.Exchange.Data.QueueViewer.QueueIdentity", ToStringValue: q.id, Props: []ps.Prop{{Name: "RowId", Value: int64(1)}}},
			"DeliveryType", enum("Microsoft.Exchange.Data.DeliveryType", q.deliveryType, map[string]int64{"Undefined": 0, "Unreachable": 14, "ShadowRedundancy": 21, "SmtpDeliveryToMailbox": 12}),
			"Status", enum("Microsoft.Exchange.Data.QueueViewer.QueueStatus", q.status, map[string]int64{"None": 0, "Active": 1, "Ready": 2, "Retry": 3, "Suspended": 4}),
			"MessageCount", q.count, "NextHopDomain", q.hop, "LastError", ""))
	}
	if id != "" && len(out) == 0 {
		return nil, notFound("Get-Queue", id)
	}
	return out, nil
}

func redirectMessage(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s, err := g.serverArg("Redirect-Message", inv, "Server")
	if err != nil {
		return nil, err
	}
	target := arg(inv, "Target")
	if !strings.Contains(target, ".") {
		return nil, &ps.Error{Message: fmt.Sprintf("The target '%s' must be a fully qualified domain name.", target), Category: "InvalidArgument", ErrorID: "TargetNotFqdn,Microsoft.Exchange.Management.QueueViewerTasks.RedirectMessage"}
	}
	t := g.lookup(target)
	if t == nil || t == s {
		return nil, notFound("Redirect-Message", target)
	}
	if effective(t, "HubTransport") != "Active" || !t.downTil.IsZero() {
		return nil, &ps.Error{Message: fmt.Sprintf("The target server %s is not accepting messages (HubTransport is not Active).", target), Category: "InvalidOperation", ErrorID: "TargetNotAccepting,Microsoft.Exchange.Management.QueueViewerTasks.RedirectMessage"}
	}
	stuck := s.stuck
	if g.hasFault("stuck_queue", s.spec.Name) {
		stuck = s.delivery // every delivery queue is stuck (e.g. in Retry to a dead next hop): nothing moves
	}
	moved := s.submission + max(s.delivery-stuck, 0)
	if s.submissionSuspended {
		moved -= s.submission
	} else {
		s.submission = 0
	}
	s.delivery = min(s.delivery, stuck)
	t.delivery += moved
	return nil, nil
}

func resumeQueue(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	id := arg(inv, "Identity")
	srv, q, _ := strings.Cut(id, `\`)
	s := g.lookup(srv)
	if s == nil || !strings.EqualFold(q, "Submission") && !strings.EqualFold(q, "7") {
		return nil, notFound("Resume-Queue", id)
	}
	if strings.EqualFold(q, "Submission") {
		s.submissionSuspended = false
	}
	return nil, nil
}

func retryQueue(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	id := arg(inv, "Identity")
	srv, _, _ := strings.Cut(id, `\`)
	if g.lookup(srv) == nil {
		return nil, notFound("Retry-Queue", id)
	}
	return nil, nil
}

func copyStatusEnum(st string) ps.Enum {
	return enum("Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus", st, map[string]int64{
		"Unknown": 0, "Initializing": 1, "Resynchronizing": 2, "DisconnectedAndResynchronizing": 3, "DisconnectedAndHealthy": 4,
		"Healthy": 5, "Failed": 6, "FailedAndSuspended": 7, "Suspended": 8, "Seeding": 9, "Mounting": 10, "Mounted": 11,
		"Dismounting": 12, "Dismounted": 13, "NonExchangeReplication": 14, "SeedingSource": 15, "Misconfigured": 16, "ServiceDown": 17})
}

func (g *Org) copyRow(d *database, c *dbCopy) any {
	active := ""
	for _, x := range d.copies {
		if x.status == "Mounted" || x.status == "Dismounted" && x.pref == activePref(d) {
			active = strings.ToLower(x.server)
		}
	}
	return ps.NewObject("Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry",
		"Name", d.spec.Name+`\`+g.servers[c.server].spec.Name, "DatabaseName", d.spec.Name, "MailboxServer", g.servers[c.server].spec.Name,
		"Status", copyStatusEnum(c.status), "ActiveCopy", c.status == "Mounted", "ActiveDatabaseCopy", active,
		"ActivationSuspended", c.actSusp, "CopyQueueLength", c.cq, "ReplayQueueLength", c.rq,
		"ContentIndexState", enum("Microsoft.Exchange.Server.Storage.Common.ContentIndexStatusType", c.ci, map[string]int64{"Unknown": 0, "Healthy": 1, "Crawling": 2, "Failed": 3,
			"Seeding": 4, "FailedAndSuspended": 5, "Suspended": 6, "Disabled": 7, "AutoSuspended": 8, "HealthyAndUpgrading": 9, "DiskUnavailable": 10,
			"NotApplicable": 11})) // 0-10 as Centreon maps them (exchange-maintenance.md §3.2); NotApplicable's 11 is inferred
}

func activePref(d *database) int {
	for _, c := range d.copies {
		if c.status == "Mounted" || c.status == "Dismounted" {
			return c.pref
		}
	}
	return 0
}

func getCopyStatus(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	id := arg(inv, "Identity")
	srv := arg(inv, "Server")
	if id == "" && srv == "" {
		srv = inv.Host
	}
	var out []any
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		for _, c := range d.copies {
			name := d.spec.Name + `\` + g.servers[c.server].spec.Name
			switch {
			case id != "" && !strings.EqualFold(id, d.spec.Name) && !strings.EqualFold(id, name):
				continue
			case srv != "" && !strings.EqualFold(srv, c.server):
				continue
			}
			out = append(out, g.copyRow(d, c))
		}
	}
	if len(out) == 0 && (id != "" || g.lookup(srv) == nil) {
		if id == "" {
			id = srv
		}
		return nil, notFound("Get-MailboxDatabaseCopyStatus", id)
	}
	return out, nil
}

func getMailboxDatabase(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	id := arg(inv, "Identity")
	srv := arg(inv, "Server")
	status := inv.Args.Has("Status") && inv.Args["Status"] == true
	var out []any
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		if id != "" && !strings.EqualFold(id, d.spec.Name) {
			continue
		}
		var servers, prefs, lags []any
		activeServer := ""
		held := false
		mounted := false
		for _, c := range d.copies {
			name := g.servers[c.server].spec.Name
			servers = append(servers, name)
			prefs = append(prefs, ps.NewObject("System.Collections.Generic.KeyValuePair", "Key", name, "Value", int64(c.pref)))
			lags = append(lags, ps.NewObject("System.Collections.Generic.KeyValuePair", "Key", name, "Value", c.lag))
			if c.status == "Mounted" || c.status == "Dismounted" {
				activeServer = name
				mounted = c.status == "Mounted"
			}
			if strings.EqualFold(c.server, srv) {
				held = true
			}
		}
		if srv != "" && !held {
			continue
		}
		repl := "Remote"
		if len(d.copies) == 1 || d.spec.Recovery {
			repl = "None"
		}
		var full, mountedV, mountedOn any
		if status {
			mountedV = mounted
			if !d.full.IsZero() {
				full = d.full
			}
			if activeServer != "" {
				mountedOn = g.fqdn(g.servers[strings.ToUpper(activeServer)])
			}
		}
		var owner any
		if d.owner != "" {
			owner = adObjectID(d.owner)
		}
		out = append(out, ps.NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase",
			"Name", d.spec.Name, "Server", owner, "MountedOnServer", mountedOn, "Recovery", d.spec.Recovery, "ReplicationType", enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.ReplicationType", repl, map[string]int64{"None": 0, "Remote": 1}),
			"Mounted", mountedV, "Servers", servers, "ActivationPreference", prefs, "LastFullBackup", full, "LastIncrementalBackup", nil,
			"ReplayLagTimes", lags))
	}
	if id != "" && len(out) == 0 {
		return nil, notFound("Get-MailboxDatabase", id)
	}
	return out, nil
}

func (g *Org) copyArg(cmdlet, id string) (*database, *dbCopy, error) {
	db, srv, ok := strings.Cut(id, `\`)
	d := g.dbs[strings.ToUpper(db)]
	if !ok || d == nil {
		return nil, nil, notFound(cmdlet, id)
	}
	for _, c := range d.copies {
		if strings.EqualFold(c.server, srv) {
			return d, c, nil
		}
	}
	return nil, nil, notFound(cmdlet, id)
}

func suspendCopy(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	_, c, err := g.copyArg("Suspend-MailboxDatabaseCopy", arg(inv, "Identity"))
	if err != nil {
		return nil, err
	}
	if inv.Args["ActivationOnly"] == true {
		c.actSusp = true
		return nil, nil
	}
	if c.status == "Mounted" {
		return nil, &ps.Error{Message: fmt.Sprintf("The suspend operation can't proceed because database '%s' on Exchange Mailbox server '%s' is the active mailbox database copy.", arg(inv, "Identity"), c.server),
			Category: "InvalidOperation", ErrorID: "SuspendActiveCopy,Microsoft.Exchange.Management.SystemConfigurationTasks.SuspendDatabaseCopy"}
	}
	c.status, c.actSusp = "Suspended", true
	return nil, nil
}

func resumeCopy(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	_, c, err := g.copyArg("Resume-MailboxDatabaseCopy", arg(inv, "Identity"))
	if err != nil {
		return nil, err
	}
	if c.status == "Suspended" {
		c.status = "Healthy"
	}
	c.actSusp = false
	return nil, nil
}

func (g *Org) dbArg(cmdlet string, inv ps.Invocation) (*database, error) {
	id := arg(inv, "Identity")
	d := g.dbs[strings.ToUpper(id)]
	if d == nil {
		return nil, notFound(cmdlet, id)
	}
	return d, nil
}

func mountDatabase(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	d, err := g.dbArg("Mount-Database", inv)
	if err != nil {
		return nil, err
	}
	for _, c := range d.copies {
		if c.status == "Dismounted" {
			c.status = "Mounted"
		}
	}
	return nil, nil
}

// dismountDatabase dismounts the active copy wherever it is: with a database identity there is no failover
// (the outage the seed procedure causes on DAG members).
func dismountDatabase(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	d, err := g.dbArg("Dismount-Database", inv)
	if err != nil {
		return nil, err
	}
	for _, c := range d.copies {
		if c.status == "Mounted" {
			c.status = "Dismounted"
		}
	}
	return nil, nil
}

func policyEnum(p string) ps.Enum {
	return enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseCopyAutoActivationPolicyType", p, map[string]int64{"Unrestricted": 0, "IntrasiteOnly": 1, "Blocked": 2})
}

func getMailboxServer(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	var targets []*server
	if id := arg(inv, "Identity"); id != "" {
		s := g.lookup(id)
		if s == nil {
			return nil, notFound("Get-MailboxServer", id)
		}
		targets = []*server{s}
	} else {
		for _, k := range g.order {
			targets = append(targets, g.servers[k])
		}
	}
	var out []any
	for _, s := range targets {
		s = g.adView(s, inv.Host, now)
		var dag any // an ADObjectId, or null for a server outside any DAG (CSS-Exchange GetMailboxServer.xml)
		if s.spec.DAG != "" {
			dag = adObjectID(s.spec.DAG)
		}
		out = append(out, ps.NewObject("Microsoft.Exchange.Data.Directory.Management.MailboxServer",
			"Name", s.spec.Name, "DatabaseAvailabilityGroup", dag, "DatabaseCopyAutoActivationPolicy", policyEnum(s.policy),
			"DatabaseCopyActivationDisabledAndMoveNow", s.moveNow, "MaximumActiveDatabases", nil,
			"AutoDatabaseMountDial", enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.AutoDatabaseMountDial", "GoodAvailability", map[string]int64{"GoodAvailability": 6})))
	}
	return out, nil
}

func setMailboxServer(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	s, err := g.serverArg("Set-MailboxServer", inv, "Identity")
	if err != nil {
		return nil, err
	}
	if v, ok := inv.Args["DatabaseCopyAutoActivationPolicy"]; ok {
		pol := ""
		for _, x := range []string{"Unrestricted", "IntrasiteOnly", "Blocked"} {
			if strings.EqualFold(x, fmt.Sprint(v)) {
				pol = x
			}
		}
		if pol == "" {
			return nil, &ps.Error{Message: fmt.Sprintf("Cannot bind parameter 'DatabaseCopyAutoActivationPolicy'. Cannot convert value \"%v\" to type \"Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseCopyAutoActivationPolicyType\".", v),
				Category: "InvalidArgument", ErrorID: "CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.SetMailboxServer", Terminating: true}
		}
		g.adWrite(s, inv.Host, now)
		s.policy = pol
	}
	if v, ok := inv.Args["DatabaseCopyActivationDisabledAndMoveNow"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, &ps.Error{Message: "Cannot process argument transformation on parameter 'DatabaseCopyActivationDisabledAndMoveNow'. Use $true or $false.", Category: "InvalidData", ErrorID: "ParameterArgumentTransformationError,Microsoft.Exchange.Management.SystemConfigurationTasks.SetMailboxServer", Terminating: true}
		}
		g.adWrite(s, inv.Host, now)
		s.moveNow = b
		if b {
			g.startMoves(s, now)
		}
	}
	return nil, nil
}

func (g *Org) dagMembers(dag string) []*server {
	var out []*server
	for _, k := range g.order {
		if s := g.servers[k]; strings.EqualFold(s.spec.DAG, dag) && dag != "" {
			out = append(out, s)
		}
	}
	return out
}

func getExchangeServer(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	var out []any
	for _, k := range g.order {
		s := g.servers[k]
		if id := arg(inv, "Identity"); id != "" && g.lookup(id) != s {
			continue
		}
		// Shapes from CSS-Exchange E16/E19 GetExchangeServer.xml: Site an ADObjectId, ServerRole and Edition
		// enums, AdminDisplayVersion a ServerVersion whose ToString is "Version 15.2 (Build 986.5)". There is no
		// IsMemberOfCluster on 2016/2019 objects.
		out = append(out, ps.NewObject("Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
			"Name", s.spec.Name, "Fqdn", g.fqdn(s), "Site", adObjectID(g.sc.DNSDomain+"/Configuration/Sites/"+s.spec.Site),
			"ServerRole", enum("Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole", "Mailbox", map[string]int64{"Mailbox": 2}),
			"AdminDisplayVersion", serverVersion(s.spec.Version),
			"Edition", enum("Microsoft.Exchange.Data.ServerEditionType", "Standard", map[string]int64{"Standard": 1})))
	}
	if id := arg(inv, "Identity"); id != "" && len(out) == 0 {
		return nil, notFound("Get-ExchangeServer", id)
	}
	return out, nil
}

// serverVersion is Microsoft.Exchange.Data.ServerVersion from its text "Version 15.2 (Build 2562.17)".
func serverVersion(text string) *ps.Object {
	o := &ps.Object{TypeName: "Microsoft.Exchange.Data.ServerVersion", ToStringValue: text}
	var major, minor, build, rev int64
	if n, _ := fmt.Sscanf(text, "Version %d.%d (Build %d.%d)", &major, &minor, &build, &rev); n == 4 {
		o.Props = []ps.Prop{{Name: "Major", Value: major}, {Name: "Minor", Value: minor}, {Name: "Build", Value: build}, {Name: "Revision", Value: rev}}
	}
	return o
}

func exchangeServices() []string {
	return []string{"MSExchangeADTopology", "MSExchangeDelivery", "MSExchangeIS", "MSExchangeRepl", "MSExchangeServiceHost",
		"MSExchangeSubmission", "MSExchangeTransport", "MSExchangeFrontEndTransport", "W3SVC"}
}

func testServiceHealth(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s, err := g.serverArg("Test-ServiceHealth", inv, "Server")
	if err != nil {
		return nil, err
	}
	var running, notRunning []any
	for _, svc := range exchangeServices() {
		if s.services[svc] == "Running" {
			running = append(running, svc)
		} else {
			notRunning = append(notRunning, svc)
		}
	}
	return []any{ps.NewObject("Microsoft.Exchange.Monitoring.ExchangeServicesStatus", "Role", "Mailbox Server Role",
		"RequiredServicesRunning", len(notRunning) == 0, "ServicesRunning", running, "ServicesNotRunning", notRunning)}, nil
}

func serviceObject(name, status, startType string) any {
	return ps.NewObject("System.ServiceProcess.ServiceController", "Name", name, "DisplayName", name,
		"Status", enum("System.ServiceProcess.ServiceControllerStatus", status, map[string]int64{"Stopped": 1, "StartPending": 2, "StopPending": 3, "Running": 4}),
		"StartType", enum("System.ServiceProcess.ServiceStartMode", startType, map[string]int64{"Automatic": 2, "Manual": 3, "Disabled": 4}))
}

func startType(s *server, svc string) string {
	switch {
	case s.disabled[svc]:
		return "Disabled"
	case s.manual[svc]:
		return "Manual"
	}
	return "Automatic"
}

func getService(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	if s == nil {
		return nil, notFound("Get-Service", inv.Host)
	}
	var names []string
	if v, ok := inv.Args["Name"]; ok {
		for _, n := range toSlice(v) {
			names = append(names, fmt.Sprint(n))
		}
	} else {
		for n := range s.services {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var out []any
	for _, n := range names {
		found := false
		for svc, st := range s.services {
			if strings.EqualFold(svc, n) {
				out = append(out, serviceObject(svc, st, startType(s, svc)))
				found = true
			}
		}
		if !found {
			return out, &ps.Error{Message: fmt.Sprintf("Cannot find any service with service name '%s'.", n), Category: "ObjectNotFound", ErrorID: "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"}
		}
	}
	return out, nil
}

func toSlice(v any) []any {
	if a, ok := v.([]any); ok {
		return a
	}
	return []any{v}
}

func restartService(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	for _, n := range toSlice(inv.Args["Name"]) {
		name := fmt.Sprint(n)
		found := false
		for svc := range s.services {
			if strings.EqualFold(svc, name) && s.disabled[svc] {
				// Windows PowerShell 5.1's wording; the inner Win32 message is what CSS-Exchange's
				// SetupLogReviewer (Test-DisabledService) looks for.
				return nil, &ps.Error{Message: fmt.Sprintf("Service '%s (%s)' cannot be started due to the following error: Cannot start service %s on computer '.'. "+
					"The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.", svc, svc, svc),
					Category: "OpenError", ErrorID: "CouldNotStartService,Microsoft.PowerShell.Commands.RestartServiceCommand"}
			}
			if strings.EqualFold(svc, name) {
				s.services[svc] = g.startedState(s, svc)
				found = true
				if strings.EqualFold(svc, "MSExchangeTransport") {
					s.transportRestart = now
					// Draining set before the restart takes effect now (exchange-maintenance.md §1.1 step 2).
					if effective(s, "HubTransport") != "Active" {
						s.drainingSince = now
					}
				}
			}
		}
		if !found {
			return nil, &ps.Error{Message: fmt.Sprintf("Cannot find any service with service name '%s'.", name), Category: "ObjectNotFound", ErrorID: "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.RestartServiceCommand"}
		}
	}
	return nil, nil
}

func getCimInstance(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	if !strings.EqualFold(arg(inv, "ClassName"), "Win32_OperatingSystem") {
		return nil, &ps.Error{Message: fmt.Sprintf("Invalid class %s (exchsim models Win32_OperatingSystem only).", arg(inv, "ClassName")), Category: "MetadataError", ErrorID: "HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand"}
	}
	s := g.lookup(inv.Host)
	return []any{ps.NewObject("Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem",
		"CSName", s.spec.Name, "Caption", "Microsoft Windows Server 2019 Standard", "LastBootUpTime", s.bootTime,
		"LocalDateTime", now.Add(s.clockSkew))}, nil
}

// restartComputer starts a reboot: actives fail over first, services stop, the WinRM listener goes away for
// the scenario's reboot time (or forever with reboot_never_returns). Cluster pause, component states and
// policies survive.
func restartComputer(g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	g.reboot(g.lookup(inv.Host), now)
	return nil, nil
}

// reboot takes s down: its active copies move, its services stop, running installs die, and the host
// returns after the scenario's reboot time. Callers hold g.mu.
func (g *Org) reboot(s *server, now time.Time) {
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		for _, c := range d.copies {
			if c.server != strings.ToUpper(s.spec.Name) {
				continue
			}
			if c.status == "Mounted" {
				if err := g.moveActive(d, ""); err != nil {
					c.status = "Dismounted" // no healthy copy: the database is down until the server returns
					continue
				}
			}
			if c.status == "Healthy" {
				c.status = "ServiceDown"
			}
		}
	}
	for k := range s.services {
		s.services[k] = "Stopped"
	}
	for pid, j := range g.jobs {
		if strings.EqualFold(j.server, s.spec.Name) {
			delete(g.jobs, pid) // a running install dies with the host; its files are never written
			taskJobEnded(s, j, j.exit, true)
		}
	}
	if s.node == "Up" || s.node == "Paused" {
		g.failOverPAM(s)
	}
	if s.node == "Up" {
		s.node = "Down"
	}
	down := g.sc.Timing.Reboot.Duration
	s.downTil = now.Add(down)
	if g.hasFault("reboot_never_returns", s.spec.Name) {
		s.neverUp = true
		down = 100 * 365 * 24 * time.Hour
	}
	clearPendingReboot(s) // what was pending completes during the restart
	s.restartAt = time.Time{}
	g.pendingReboot = &rebootNotice{server: s.spec.Name, down: down}
}

func getProcess(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	if idv, ok := inv.Args["Id"]; ok {
		id, _ := idv.(int64)
		if j := g.jobs[id]; j != nil && strings.EqualFold(j.server, s.spec.Name) {
			return []any{ps.NewObject("System.Diagnostics.Process", "Name", "powershell", "Id", j.pid, "StartTime", j.start)}, nil
		}
		return nil, &ps.Error{Message: fmt.Sprintf("Cannot find a process with the process identifier %v.", idv), Category: "ObjectNotFound", ErrorID: "NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.GetProcessCommand"}
	}
	name := arg(inv, "Name")
	procs := map[string]int64{"powershell": 4242, "w3wp": 3100, "MSExchangeTransport": 2200}
	installers, _ := g.installersAt(s)
	for i, p := range installers {
		procs[p] = 5120 + int64(i)
	}
	// Each name not found is an error of its own, written (non-terminating): the names found are output.
	var out []any
	var missing error
	for _, n := range toSlice(inv.Args["Name"]) {
		if n == nil {
			break
		}
		pid, ok := procs[fmt.Sprint(n)]
		if !ok {
			for k, v := range procs {
				if strings.EqualFold(k, fmt.Sprint(n)) {
					pid, ok = v, true
				}
			}
		}
		if !ok {
			if missing == nil {
				missing = &ps.Error{Message: fmt.Sprintf("Cannot find a process with the name \"%s\". Verify the process name and call the cmdlet again.", n), Category: "ObjectNotFound", ErrorID: "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand", Written: true}
			}
			continue
		}
		out = append(out, ps.NewObject("System.Diagnostics.Process", "Name", fmt.Sprint(n), "Id", pid))
	}
	if missing != nil {
		return out, missing
	}
	if name == "" && !inv.Args.Has("Name") {
		for k, v := range procs {
			out = append(out, ps.NewObject("System.Diagnostics.Process", "Name", k, "Id", v))
		}
	}
	return out, nil
}

// startProcess runs an exmaintd job (docs/powershell-dialect.md "Detached jobs"): the encoded script must
// start with "# exmaintd-job/1 <id>"; exchsim runs the scenario's [patch] instead of interpreting it. As on
// Windows, the child belongs to the WinRM shell's job object: it dies when the shell goes (per-command mode
// deletes the shell right after the call; a lost session does too) — MicrosoftDocs/PowerShell-Docs#8020,
// PowerShell/PowerShell#16001 — and it runs in the shell's network logon (no Windows Update API).
func startProcess(ctx context.Context, g *Org, inv ps.Invocation, now time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	var encoded string
	list := toSlice(inv.Args["ArgumentList"])
	for i, a := range list {
		if strings.EqualFold(fmt.Sprint(a), "-EncodedCommand") && i+1 < len(list) {
			encoded = fmt.Sprint(list[i+1])
		}
	}
	exe := strings.ToLower(arg(inv, "FilePath"))
	if !strings.HasSuffix(exe, "powershell.exe") && exe != "powershell" || encoded == "" {
		return nil, &ps.Error{Message: "exchsim models Start-Process only for exmaintd jobs: powershell.exe with -EncodedCommand (docs/powershell-dialect.md).", Category: "NotImplemented", ErrorID: "ExchsimStartProcess,Microsoft.PowerShell.Commands.StartProcessCommand"}
	}
	j, err := g.newJob(s, encoded, "", now)
	if err != nil {
		return nil, err
	}
	pid := j.pid
	context.AfterFunc(ctx, func() { g.killShellChild(pid) })
	if inv.Args["PassThru"] != true {
		return nil, nil
	}
	return []any{ps.NewObject("System.Diagnostics.Process", "Name", "powershell", "Id", j.pid, "StartTime", now)}, nil
}

// newJob starts the scenario's [patch] as the job whose script is the base64 UTF-16LE encoded: the script
// must start with the job marker. A job that calls the Windows Update API (Install-WindowsUpdate, the
// Microsoft.Update.Session COM object) fails with E_ACCESSDENIED unless it runs as a scheduled task: the
// API refuses network logons (mgajda83/PSWindowsUpdate#17, #18, #60). Callers hold g.mu.
func (g *Org) newJob(s *server, encoded, user string, now time.Time) (*job, error) {
	script, err := decodeUTF16(encoded)
	if err != nil || encoded == "" {
		return nil, &ps.Error{Message: "The value specified with -EncodedCommand is not properly encoded.", Category: "InvalidArgument", ErrorID: "BadEncodedCommand,Microsoft.PowerShell.Commands.StartProcessCommand"}
	}
	first, _, _ := strings.Cut(script, "\n")
	f := strings.Fields(first)
	if len(f) != 3 || f[0] != "#" || f[1] != "exmaintd-job/1" || !validJobID(f[2]) {
		return nil, &ps.Error{Message: "exchsim runs only exmaintd jobs (first line '# exmaintd-job/1 <id>').", Category: "NotImplemented", ErrorID: "ExchsimStartProcess,Microsoft.PowerShell.Commands.StartProcessCommand"}
	}
	g.nextPID++
	j := &job{pid: g.nextPID, server: s.spec.Name, id: f[2], start: now, ends: now.Add(g.sc.Patch.Duration.Duration), exit: g.sc.Patch.ExitCode, output: g.sc.Patch.Output,
		installer: installerKind(script), installs: installs(script), usesWindowsUpdate: usesWindowsUpdate(script)}
	if g.hasFault("patch_fails", s.spec.Name) {
		j.exit, j.output = 1, "Installation failed with error 0x80070643 (injected by exchsim)."
	}
	if f := g.faultFor("patch_exit_code", s.spec.Name); f != nil {
		j.exit, _ = strconv.Atoi(f.Target)
		j.output += fmt.Sprintf("\r\nExit code %d (injected by exchsim).", j.exit)
	}
	if g.hasFault("patch_hangs", s.spec.Name) {
		j.hangs, j.ends = true, now.Add(100*365*24*time.Hour)
	}
	if g.sessions != nil && g.sessions(s.spec.Name, now) > 0 && j.installs {
		// ExchangeDsc refuses to open a remote PowerShell session to Exchange while setup runs on the
		// server, because such a session keeps setup from working properly; what setup then does is not
		// documented. exchsim models the harsher outcome for every installer: it fails (REALITIES.md). A
		// script that installs nothing (a probe's no-op task) is not an installer.
		j.exit, j.output = 1, "Setup failed: a remote PowerShell session to Exchange is open on this server (exchsim: an open session blocks the update)."
	}
	g.jobs[j.pid] = j
	startSetup(s, j, script)
	g.nativeStderrFails(s, j, script, now)
	if msg := g.missingModule(script); msg != "" {
		j.exit, j.output, j.ends, j.installer, j.usesWindowsUpdate = 1, msg, now.Add(time.Second), "", false
	}
	if j.installer == installerSetup && user == systemSID {
		// The computer account is in no Exchange role group: setup's GlobalServerInstall rule stops it
		// (Microsoft Support, "Exchange Server delegated setup fails…"; CSS-Exchange SetupAssist's
		// Test-UserGroupMemberOf checks the same memberships first).
		j.exit, j.output, j.ends = 1, "Failed [Rule: GlobalServerInstall] [Message: You must be a member of the 'Organization Management' role group or a member of the 'Enterprise Admins' group to continue.]", now.Add(time.Second)
		for _, name := range j.stopped {
			s.services[name] = g.startedState(s, name)
		}
		j.stopped = nil
	} else if j.installer == installerSetup && s.restartPending() {
		// Exchange setup's prerequisite check (CSS-Exchange SetupAssist: Test-PendingReboot) stops it at once
		j.exit, j.output, j.ends = 1, "A reboot from a previous installation is pending. Please restart the system and then rerun Setup.", now.Add(time.Second)
		for _, name := range j.stopped { // it never got as far as stopping anything
			s.services[name] = g.startedState(s, name)
		}
		j.stopped = nil
	}
	return j, nil
}

// usesWindowsUpdate: the job calls the Windows Update Agent API (PSWindowsUpdate or its COM object).
func usesWindowsUpdate(script string) bool {
	l := strings.ToLower(script)
	return strings.Contains(l, "install-windowsupdate") || strings.Contains(l, "get-windowsupdate -install") || strings.Contains(l, "microsoft.update.session")
}

// killShellChild ends a Start-Process job when its shell's job object closes: not running, no files.
func (g *Org) killShellChild(pid int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	j := g.jobs[pid]
	if j == nil {
		return
	}
	if s := g.lookup(j.server); s != nil && !g.clock.Now().Before(j.ends) {
		g.settle(s, g.clock.Now()) // finished before the shell went: its files are written
		return
	}
	delete(g.jobs, pid)
}

func validJobID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func decodeUTF16(b64 string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b)%2 != 0 {
		return "", fmt.Errorf("bad encoded command")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

func testPath(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	return []any{g.lookup(inv.Host).registryKeyExists(arg(inv, "Path"))}, nil
}

// getItemProperty reads registry values exchsim keeps (Session Manager, the computer names): the key's
// values as one object, or with -Name that value; a missing key or value is the provider's error.
func getItemProperty(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	path := arg(inv, "Path")
	key := strings.ToLower(path)
	if !s.registryKeyExists(path) {
		return nil, &ps.Error{Message: fmt.Sprintf("Cannot find path '%s' because it does not exist.", path), Category: "ObjectNotFound", ErrorID: "PathNotFound,Microsoft.PowerShell.Commands.GetItemPropertyCommand"}
	}
	vals := s.registryValue(key)
	o := &ps.Object{TypeName: "System.Management.Automation.PSCustomObject"}
	if name := arg(inv, "Name"); name != "" {
		v, ok := vals[name]
		if !ok {
			return nil, &ps.Error{Message: fmt.Sprintf("Property %s does not exist at path %s.", name, strings.Replace(path, "HKLM:", "HKEY_LOCAL_MACHINE", 1)),
				Category: "InvalidArgument", ErrorID: "System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand"}
		}
		o.Props = append(o.Props, ps.Prop{Name: name, Value: v})
		return []any{o}, nil
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		o.Props = append(o.Props, ps.Prop{Name: n, Value: vals[n]})
	}
	return []any{o}, nil
}

func getContent(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	path := arg(inv, "Path")
	content, ok := g.lookup(inv.Host).files[strings.ToLower(path)]
	if !ok {
		return nil, &ps.Error{Message: fmt.Sprintf("Cannot find path '%s' because it does not exist.", path), Category: "ObjectNotFound", ErrorID: "PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand"}
	}
	if inv.Args["Raw"] == true {
		return []any{ps.ContentLine(content, path, 1)}, nil
	}
	var out []any
	for i, l := range strings.Split(strings.TrimRight(content, "\r\n"), "\r\n") {
		out = append(out, ps.ContentLine(l, path, int64(i+1)))
	}
	return out, nil
}

// getMailbox lists a database's mailboxes (-Database, -ResultSize N or Unlimited): the scenario's
// "mailboxes" count are user mailboxes, and "arbitration" ones are system mailboxes seen only with
// -Arbitration. Other parameters of the real cmdlet are not modelled.
func getMailbox(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	dbName := arg(inv, "Database")
	if dbName == "" {
		return nil, &ps.Error{Message: "exchsim models Get-Mailbox only with -Database.", Category: "NotImplemented", ErrorID: "ExchsimGetMailbox"}
	}
	d := g.dbs[strings.ToUpper(dbName)]
	if d == nil {
		return nil, notFound("Get-Mailbox", dbName)
	}
	n, kind := d.spec.Mailboxes, "UserMailbox"
	if inv.Args["Arbitration"] == true {
		n, kind = d.spec.Arbitration, "ArbitrationMailbox"
	}
	if rs := arg(inv, "ResultSize"); rs != "" && !strings.EqualFold(rs, "Unlimited") {
		limit, err := strconv.ParseInt(rs, 10, 64)
		if err != nil || limit < 1 {
			return nil, &ps.Error{Message: fmt.Sprintf("Cannot process argument transformation on parameter 'ResultSize'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".", rs), Category: "InvalidData", ErrorID: "ParameterArgumentTransformationError,Microsoft.Exchange.Management.RecipientTasks.GetMailbox"}
		}
		n = min(n, limit)
	}
	out := make([]any, n)
	for i := range out {
		out[i] = ps.NewObject("Microsoft.Exchange.Data.Directory.Management.Mailbox", "Name", fmt.Sprintf("%s-%s-%d", d.spec.Name, kind, i+1),
			"Database", d.spec.Name, "RecipientTypeDetails", kind)
	}
	return out, nil
}
