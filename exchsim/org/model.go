package org

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Clock is the simulated time.
type Clock interface{ Now() time.Time }

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// ManualClock is a clock tests move by hand. It is safe for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock starts at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the current simulated time.
func (c *ManualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Options configure an Org.
type Options struct {
	Clock  Clock
	Logger *slog.Logger
	// OnReboot is called (without locks held) when a server starts rebooting: the WinRM layer drops its
	// shells and refuses connections for down.
	OnReboot func(server string, down time.Duration)
	// ExchangeSessions counts the remote PowerShell sessions to Exchange (runspace pools on /PowerShell)
	// open on a server's own endpoint at now; called with the model's lock held. nil: none.
	ExchangeSessions func(server string, now time.Time) int
}

// The components of an Exchange 2019 server (exchange-maintenance.md §3.3).
func componentNames() []string {
	return []string{"ServerWideOffline", "HubTransport", "FrontendTransport", "UMCallRouter", "MailboxDeliveryProxy", "HighAvailability",
		"Monitoring", "RecoveryActionsEnabled", "AutoDiscoverProxy", "ActiveSyncProxy", "EcpProxy", "EwsProxy", "ImapProxy",
		"OabProxy", "OwaProxy", "PopProxy", "PushNotificationsProxy", "RpsProxy", "RwsProxy", "RpcProxy", "XropProxy",
		"RestProxy", "MapiProxy", "DefaultProxy", "E4EProxy", "HttpProxyAvailabilityGroup", "RoutingUpdates", "RoutingService",
		"SharedCache", "EdgeTransport", "Lsass", "CafeLAMv2", "LogExportProvider", "ForwardSyncDaemon", "ProvisioningRps"}
}

// serverComponents are the components s has: Unified Messaging, and with it UMCallRouter, is gone from
// Exchange 2019 and SE (15.2); 2013 and 2016 have it (Microsoft Learn "Discontinued features in Exchange
// Server 2019"; the maintenance guidance drains UMCallRouter on 2013/2016 only).
func serverComponents(s *server) []string {
	var out []string
	for _, c := range componentNames() {
		if c == "UMCallRouter" && versionAtLeast(s.spec.Version, 15, 2) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// RequesterState is one requester's entry for a component.
type RequesterState struct {
	Requester string    `json:"requester"`
	State     string    `json:"state"`
	Timestamp time.Time `json:"timestamp"`
}

type server struct {
	// clockSkew is how far the server's clock is from the true time (fault clock_skew): what it reports as
	// its time (Win32_OperatingSystem.LocalDateTime).
	clockSkew time.Duration
	spec      ServerSpec
	policy    string
	moveNow   bool
	comps     map[string][]RequesterState // component → requesters in the registry (LocalStates), first-set order
	remote    map[string][]RequesterState // the same in Active Directory (RemoteStates)
	tasks     map[string]*schedTask       // registered scheduled tasks by taskKey
	node      string                      // cluster node state: Up, Paused, Down ("" outside a DAG)
	services  map[string]string           // name → Running/Stopped
	manual    map[string]bool             // services whose StartType is Manual: not started at boot
	disabled  map[string]bool             // services a failed update left Disabled (fault patch_disables_services)
	bootTime  time.Time
	downTil   time.Time // rebooting until
	neverUp   bool      // fault reboot_never_returns

	// transport queues
	submission, delivery, shadow, poison, unreachable int64
	stuck                                             int64
	submissionSuspended                               bool
	drainingSince                                     time.Time // HubTransport Draining + transport restarted: draining from then
	transportRestart                                  time.Time
	drainSetAt                                        time.Time
	setupRunning                                      bool
	restartAt                                         time.Time                 // a restart shutdown.exe scheduled, zero if none
	ccmRebootPending                                  bool                      // the Configuration Manager client's flag (it is then installed)
	files                                             map[string]string         // path (lower-case) → content; survives reboots
	registry                                          map[string]map[string]any // registry key (lower-case) → value name → value

	// Active Directory replication (directory.go): the AD-held values from before the latest write, when
	// that write was made and through which server's endpoint.
	adBefore directory
	adAt     time.Time
	adVia    string
}

// job is a detached process started with Start-Process.
type job struct {
	pid    int64
	server string
	id     string
	start  time.Time
	ends   time.Time
	exit   int
	output string
	// task is the scheduled task (taskKey) whose instance this is; "" for a Start-Process child, which
	// lives in the WinRM shell's job object and in its network logon.
	task string
	// usesWindowsUpdate: the script calls the Windows Update API, which refuses a network logon.
	usesWindowsUpdate bool
	// hangs: started under the patch_hangs fault; runs until the fault is cleared.
	hangs bool
	// setup: the job runs Exchange setup, which stopped the services in stopped while it runs (setup.go).
	setup   bool
	stopped []string
	// installer is what the job runs (installers.go): setup, msi, wusa, wua or "".
	installer string
	// installs: the job runs a program or the Windows Update API (installers.go): its success leaves a
	// restart pending.
	installs bool
	// wrapperEnds is when the job's PowerShell gave up while its installer ran on (jobwrapper.go): then
	// the task ends with wrapperExit and wrapperOutput, and the installer runs to ends alone. Zero: the
	// wrapper ends with the installer.
	wrapperEnds   time.Time
	wrapperExit   int
	wrapperOutput string
	wrapperDone   bool
}

type dbCopy struct {
	server  string
	pref    int
	status  string // Mounted, Healthy, Dismounted, Suspended, FailedAndSuspended
	actSusp bool
	cq, rq  int64
	ci      string
	lag     time.Duration // ReplayLagTime: > 0 for a lagged copy
	// resyncFrom is when the copy's server came back from a reboot: the copy walks Initializing, then
	// Resynchronizing with a falling copy queue, to Healthy over timing.copy_resync.
	resyncFrom time.Time
	// rqSteady is the replay queue the copy returns to (a lagged copy keeps its days of logs).
	rqSteady int64
}

type database struct {
	spec   DatabaseSpec
	copies []*dbCopy // in activation-preference order
	full   time.Time
	// moveAt is when Active Manager finishes the move DatabaseCopyActivationDisabledAndMoveNow started
	// (zero: none pending).
	moveAt time.Time
	// owner is Get-MailboxDatabase's Server: the owning server recorded in Active Directory, which a move
	// does not update here (MountedOnServer, read live with -Status, is where the database is mounted).
	owner string
}

// Org is the simulated organisation. All methods are safe for concurrent use.
type Org struct {
	sc     *Scenario
	clock  Clock
	logger *slog.Logger
	onBoot func(string, time.Duration)
	// sessions is Options.ExchangeSessions.
	sessions func(string, time.Time) int
	start    time.Time

	mu            sync.Mutex
	pendingReboot *rebootNotice      // set by Restart-Computer, announced after the lock is released
	servers       map[string]*server // upper-case name
	order         []string
	dbs           map[string]*database
	dbOrder       []string
	faults        []Fault
	dags          map[string]*dagState // upper-case DAG name
	jobs          map[int64]*job       // detached processes by PID
	nextPID       int64
	changes       []Change // every acting cmdlet call (Changes)
}

// New builds an organisation in the scenario's initial state.
func New(sc *Scenario, o Options) (*Org, error) {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnReboot == nil {
		o.OnReboot = func(string, time.Duration) {}
	}
	g := &Org{sc: sc, clock: o.Clock, logger: o.Logger.With("component", "org"), onBoot: o.OnReboot, sessions: o.ExchangeSessions, start: o.Clock.Now()}
	g.reset()
	return g, nil
}

func (g *Org) reset() {
	now := g.start
	g.servers = map[string]*server{}
	g.order = nil
	g.dbs = map[string]*database{}
	g.dbOrder = nil
	g.faults = nil
	g.jobs = map[int64]*job{}
	g.nextPID = 6000
	for _, spec := range g.sc.Servers {
		s := &server{spec: spec, policy: spec.ActivationPolicy, comps: map[string][]RequesterState{}, remote: map[string][]RequesterState{}, tasks: map[string]*schedTask{},
			services: map[string]string{}, bootTime: now.Add(-72 * time.Hour),
			submission: spec.Queues.Submission, delivery: spec.Queues.Delivery, shadow: spec.Queues.Shadow,
			poison: spec.Queues.Poison, unreachable: spec.Queues.Unreachable, stuck: spec.Queues.Stuck,
			submissionSuspended: spec.Queues.SubmissionSuspended, setupRunning: spec.SetupRunning, files: map[string]string{}}
		for _, c := range serverComponents(s) {
			st := "Active"
			if c == "ForwardSyncDaemon" || c == "ProvisioningRps" {
				st = "Inactive" // by design on-premises
			}
			s.comps[c] = []RequesterState{{Requester: "HealthAPI", State: st, Timestamp: now.Add(-72 * time.Hour)}}
			s.remote[c] = []RequesterState{{Requester: "HealthAPI", State: st, Timestamp: now.Add(-72 * time.Hour)}}
		}
		if spec.DAG != "" {
			s.node = "Up"
		}
		s.registryValue(regActiveName)["ComputerName"] = spec.Name
		s.registryValue(regPendingName)["ComputerName"] = spec.Name
		for _, svc := range []string{"MSExchangeADTopology", "MSExchangeTransport", "MSExchangeFrontEndTransport", "MSExchangeIS",
			"MSExchangeRepl", "MSExchangeDelivery", "MSExchangeSubmission", "MSExchangeServiceHost", "MSExchangeHM", "W3SVC", "WinRM"} {
			s.services[svc] = "Running"
		}
		s.manual, s.disabled = map[string]bool{}, map[string]bool{}
		// Windows Update: Manual (trigger start), stopped until something uses it, as Windows Server ships it
		s.services["wuauserv"], s.manual["wuauserv"] = "Stopped", true
		for _, svc := range imapPopServices() {
			if spec.ImapPop {
				s.services[svc] = "Running"
			} else {
				s.services[svc], s.manual[svc] = "Stopped", true
			}
		}
		if spec.DAG != "" {
			s.services["ClusSvc"] = "Running"
		}
		key := strings.ToUpper(spec.Name)
		g.servers[key] = s
		g.order = append(g.order, key)
	}
	for _, spec := range g.sc.Databases {
		d := &database{spec: spec}
		if len(spec.Copies) > 0 {
			d.owner = g.servers[strings.ToUpper(spec.Copies[0])].spec.Name
		}
		if spec.LastFullBackupAgo.Duration > 0 {
			d.full = now.Add(-spec.LastFullBackupAgo.Duration)
		}
		for i, srv := range spec.Copies {
			st := "Healthy"
			if i == 0 {
				st = "Mounted"
			}
			c := &dbCopy{server: strings.ToUpper(srv), pref: i + 1, status: st, ci: contentIndexState(g.servers[strings.ToUpper(srv)])}
			for _, l := range spec.Lagged {
				if strings.EqualFold(l, srv) {
					c.lag, c.rq = 7*24*time.Hour, 4200 // a lagged copy holds days of logs on purpose
				}
			}
			d.copies = append(d.copies, c)
		}
		key := strings.ToUpper(spec.Name)
		g.dbs[key] = d
		g.dbOrder = append(g.dbOrder, key)
	}
	g.resetDAGs()
}

// Reset returns the organisation to the scenario's initial state and clears faults.
func (g *Org) Reset() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.start = g.clock.Now()
	g.reset()
	return nil
}

// ServerInfo names a server.
type ServerInfo struct {
	Name, Fqdn, DAG, Site string
}

// Servers lists the servers in scenario order.
func (g *Org) Servers() []ServerInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []ServerInfo
	for _, k := range g.order {
		s := g.servers[k]
		out = append(out, ServerInfo{Name: s.spec.Name, Fqdn: g.fqdn(s), DAG: s.spec.DAG, Site: s.spec.Site})
	}
	return out
}

// Credentials are the account the scenario's WinRM listeners accept.
func (g *Org) Credentials() (user, password string) {
	return g.sc.Credentials.User, g.sc.Credentials.Password
}

// Domain returns the NetBIOS and DNS domain names.
func (g *Org) Domain() (netbios, dns string) { return g.sc.Domain, g.sc.DNSDomain }

func (g *Org) fqdn(s *server) string { return strings.ToLower(s.spec.Name) + "." + g.sc.DNSDomain }

// effective is the component state Get-ServerComponentState reports: Inactive wins over Draining over
// Active across requesters, and ServerWideOffline Inactive overrides every component but Monitoring and
// RecoveryActionsEnabled.
func effective(s *server, comp string) string {
	st := "Active"
	for _, r := range requesters(s, comp) {
		switch {
		case r.State == "Inactive":
			st = "Inactive"
		case r.State == "Draining" && st == "Active":
			st = "Draining"
		}
	}
	if comp != "ServerWideOffline" && comp != "Monitoring" && comp != "RecoveryActionsEnabled" && effective(s, "ServerWideOffline") == "Inactive" && st != "Inactive" {
		return "Inactive"
	}
	return st
}

// requesters merges a component's registry and AD entries: per requester the later one wins, as the
// server's component state manager and CSS-Exchange's HealthChecker (Get-ExchangeServerMaintenanceState)
// read them. Order: the registry's, then requesters only AD has.
func requesters(s *server, comp string) []RequesterState {
	out := append([]RequesterState(nil), s.comps[comp]...)
	for _, r := range s.remote[comp] {
		i := slices.IndexFunc(out, func(l RequesterState) bool { return strings.EqualFold(l.Requester, r.Requester) })
		switch {
		case i < 0:
			out = append(out, r)
		case r.Timestamp.After(out[i].Timestamp):
			out[i] = r
		}
	}
	return out
}

// settle applies the passage of time to s: draining queues, reboots finishing. Callers hold g.mu.
func (g *Org) settle(s *server, now time.Time) {
	g.restartIfDue(s, now)
	g.finishMoves(s, now)
	for pid, j := range g.jobs {
		if !strings.EqualFold(j.server, s.spec.Name) {
			continue
		}
		dir := `c:\programdata\exmaintd\jobs\`
		if !j.wrapperDone && !j.wrapperEnds.IsZero() && !now.Before(j.wrapperEnds) {
			// the job's PowerShell gave up: its files and the task's result are written, its installer runs on
			s.files[dir+strings.ToLower(j.id)+".log"] = j.wrapperOutput + "\r\n"
			s.files[dir+strings.ToLower(j.id)+".exit"] = fmt.Sprintf("%d\r\n", j.wrapperExit)
			taskJobEnded(s, j, j.wrapperExit, false)
			j.wrapperDone = true
		}
		if !now.Before(j.ends) {
			if j.usesWindowsUpdate && j.task == "" {
				j.exit = 1
				j.output = "Install-WindowsUpdate : Exception from HRESULT: 0x80070005 (E_ACCESSDENIED)\r\n" +
					"    + CategoryInfo          : NotSpecified: (:) [Get-WindowsUpdate], UnauthorizedAccessException"
			}
			if !j.wrapperDone {
				s.files[dir+strings.ToLower(j.id)+".log"] = j.output + "\r\n"
				s.files[dir+strings.ToLower(j.id)+".exit"] = fmt.Sprintf("%d\r\n", j.exit)
			}
			delete(g.jobs, pid)
			taskJobEnded(s, j, j.exit, false)
			g.installEffects(s, j, j.ends)
			if g.hasFault("patch_disables_services", s.spec.Name) {
				disableExchangeServices(s)
			}
			g.endSetup(s, j)
		}
	}
	if !s.downTil.IsZero() && !s.neverUp && !now.Before(s.downTil) {
		s.downTil = time.Time{}
		s.bootTime = now
		for k := range s.services {
			if !s.manual[k] && !s.disabled[k] {
				s.services[k] = g.startedState(s, k)
			}
		}
		proxyServices(s)
		if s.node == "Down" {
			s.node = "Up"
		}
		for _, d := range g.dbs {
			for _, c := range d.copies {
				if c.server != strings.ToUpper(s.spec.Name) {
					continue
				}
				switch c.status {
				case "ServiceDown":
					// A passive copy does not come back Healthy: it initialises (normally ≤ 30 s), then
					// resynchronises its logs with the active copy (monitor-dags.md; exchange-maintenance.md §6).
					c.status, c.resyncFrom, c.rqSteady = "Initializing", now, c.rq
				case "Dismounted":
					// The Information Store mounts its databases at start-up (MountAtStartup defaults to
					// true), including one an administrator had dismounted before the reboot.
					c.status = "Mounted"
				}
			}
		}
	}
	g.resync(s, now)
	if s.drainingSince.IsZero() {
		return
	}
	hub := effective(s, "HubTransport")
	if hub == "Active" {
		s.drainingSince = time.Time{}
		return
	}
	if g.hasFault("stuck_queue", s.spec.Name) {
		s.drainingSince = now
		return
	}
	elapsed := now.Sub(s.drainingSince).Seconds()
	n := int64(math.Floor(elapsed * g.sc.Timing.DrainRate))
	if n <= 0 {
		return
	}
	s.drainingSince = s.drainingSince.Add(time.Duration(float64(n) / g.sc.Timing.DrainRate * float64(time.Second)))
	// Submission drains first (unless suspended), then delivery, never below the stuck messages.
	take := func(q *int64, floor int64) {
		d := min(n, max(*q-floor, 0))
		*q -= d
		n -= d
	}
	if !s.submissionSuspended {
		take(&s.submission, 0)
	}
	take(&s.delivery, s.stuck)
}

// imapPopServices are the IMAP4 and POP3 services of a Mailbox server (front end and back end).
func imapPopServices() []string {
	return []string{"MSExchangeIMAP4", "MSExchangeIMAP4BE", "MSExchangePOP3", "MSExchangePOP3BE"}
}

// proxyServices stops the IMAP4 / POP3 front-end service while its proxy component is Inactive. They do not
// start again when the component returns Active: they "may need to be restarted manually"
// (Set-ServerComponentState, Microsoft Learn; exchange-maintenance.md §1.2, §6).
func proxyServices(s *server) {
	for comp, svc := range map[string]string{"ImapProxy": "MSExchangeIMAP4", "PopProxy": "MSExchangePOP3"} {
		if effective(s, comp) == "Inactive" {
			s.services[svc] = "Stopped"
		}
	}
}

// resync walks the server's copies that came back from a reboot: Initializing for the first third of
// timing.copy_resync (queues not known yet: 0), then Resynchronizing while a copy queue of 20 falls to 0 — below
// Active Manager's threshold of 10 before it is done — then Healthy.
func (g *Org) resync(s *server, now time.Time) {
	span := g.sc.Timing.CopyResync.Duration
	if span <= 0 {
		span = 1500 * time.Millisecond
	}
	for _, d := range g.dbs {
		for _, c := range d.copies {
			if c.resyncFrom.IsZero() || c.server != strings.ToUpper(s.spec.Name) || c.status == "Suspended" || strings.HasPrefix(c.status, "Failed") {
				continue
			}
			elapsed := now.Sub(c.resyncFrom)
			switch {
			case elapsed < span/3:
				c.status, c.cq, c.rq = "Initializing", 0, 0
			case elapsed < span:
				c.status = "Resynchronizing"
				c.cq = int64(20 * float64(span-elapsed) / float64(span-span/3))
				c.rq = c.rqSteady
			default:
				c.status, c.cq, c.rq, c.resyncFrom = "Healthy", 0, c.rqSteady, time.Time{}
			}
		}
	}
}

func (g *Org) hasFault(kind, server string) bool {
	for _, f := range g.faults {
		if f.Kind == kind && (f.Server == "" || strings.EqualFold(f.Server, server)) {
			return true
		}
	}
	return false
}

// exchangeService: one of Exchange's own Windows services (MSExchange*), which setup stops and a failed
// update can leave disabled.
func exchangeService(name string) bool { return strings.HasPrefix(strings.ToUpper(name), "MSEXCHANGE") }

// disableExchangeServices is what a failed cumulative or security update can leave behind: Exchange setup
// stops the Exchange services and sets them Disabled while it runs, and restores them only when it
// completes (Microsoft Learn, "Repair failed installations of Exchange Cumulative and Security updates";
// CSS-Exchange SetupLogReviewer's Test-DisabledService). They stay stopped across restarts and refuse to
// start until repaired. Callers hold g.mu.
func disableExchangeServices(s *server) {
	for k := range s.services {
		if exchangeService(k) && !s.manual[k] {
			s.services[k], s.disabled[k] = "Stopped", true
		}
	}
}

// startedState is what a service that was just started reads as: Running, unless a service_stops fault
// names it — a service that terminates right after its start (a transport agent that fails to load, a
// start-up timeout) reads Stopped. Callers hold g.mu.
func (g *Org) startedState(s *server, svc string) string {
	for _, f := range g.faults {
		if f.Kind == "service_stops" && strings.EqualFold(f.Server, s.spec.Name) && strings.EqualFold(f.Target, svc) {
			return "Stopped"
		}
	}
	return "Running"
}

func (g *Org) faultFor(kind, server string) *Fault {
	for i, f := range g.faults {
		if f.Kind == kind && (f.Server == "" || strings.EqualFold(f.Server, server)) {
			return &g.faults[i]
		}
	}
	return nil
}

// lookup returns a server by name or FQDN. Callers hold g.mu.
func (g *Org) lookup(name string) *server {
	n := strings.ToUpper(strings.TrimSpace(name))
	if s := g.servers[n]; s != nil {
		return s
	}
	if short, _, ok := strings.Cut(n, "."); ok {
		if s := g.servers[short]; s != nil && strings.EqualFold(g.fqdn(s), name) {
			return s
		}
	}
	return nil
}

// healthyFor reports whether c can take over as active: Active Manager's first tier (CQ < 10, RQ < 50,
// content index healthy), on a server that is up, not Blocked and with HighAvailability Active.
func (g *Org) healthyFor(c *dbCopy) bool {
	s := g.servers[c.server]
	if s == nil || !s.downTil.IsZero() || s.policy == "Blocked" || effective(s, "HighAvailability") != "Active" {
		return false
	}
	return c.status == "Healthy" && !c.actSusp && c.lag == 0 && c.cq < 10 && c.rq < 50 && contentIndexUsable(c.ci)
}

// contentIndexState is what a healthy copy reports: on Exchange 2019 and SE (15.2) the search index lives in
// the database and copies report NotApplicable (cunninghamp/Test-ExchangeServerHealth.ps1 PR #36;
// exchange-maintenance.md §6); on 2016 and earlier a separate index is Healthy.
func contentIndexState(s *server) string {
	if s != nil && versionAtLeast(s.spec.Version, 15, 2) {
		return "NotApplicable"
	}
	return "Healthy"
}

// contentIndexUsable is Active Manager's view: a copy whose index is healthy, being upgraded, or not
// applicable (2019/SE) can be activated.
func contentIndexUsable(ci string) bool {
	return ci == "Healthy" || ci == "HealthyAndUpgrading" || ci == "NotApplicable"
}

// versionAtLeast reads an AdminDisplayVersion text ("Version 15.2 (Build 2562.17)").
func versionAtLeast(text string, major, minor int) bool {
	var ma, mi int
	if n, _ := fmt.Sscanf(text, "Version %d.%d", &ma, &mi); n != 2 {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// moveActive activates the best other copy of d; it returns an error if no copy qualifies.
func (g *Org) moveActive(d *database, target string) error {
	var active *dbCopy
	for _, c := range d.copies {
		if c.status == "Mounted" {
			active = c
		}
	}
	if active == nil {
		return fmt.Errorf("database %s has no mounted copy", d.spec.Name)
	}
	var best *dbCopy
	for _, c := range d.copies {
		if c == active || (target != "" && c.server != strings.ToUpper(target)) {
			continue
		}
		if g.healthyFor(c) && (best == nil || c.pref < best.pref) {
			best = c
		}
	}
	if best == nil {
		return activeManagerError(fmt.Sprintf("An Active Manager operation failed. Error: The database action failed. Error: An error occurred while trying to validate the specified database copy for possible activation. Error: Database copy '%s' on server '%s' has no healthy copy that can be activated (copy queue length < 10, replay queue length < 50, content index healthy, server not blocked).", d.spec.Name, active.server))
	}
	active.status, best.status = "Healthy", "Mounted"
	d.moveAt = time.Time{}
	return nil
}

// activeManagerError is Active Manager's message, verbatim (hence capitalised and punctuated).
type activeManagerError string

func (e activeManagerError) Error() string { return string(e) }

// Snapshot is the organisation's full state, deterministic for comparisons.
type Snapshot struct {
	Servers   []ServerState   `json:"servers"`
	Databases []DatabaseState `json:"databases"`
	DAGs      []DAGState      `json:"dags,omitempty"`
}

// DAGState is one DAG's cluster in a Snapshot. Where the PAM is does not count as a difference in
// Equivalent (maintenance moves it on purpose); an unplanned failover is for tests to look at.
type DAGState struct {
	Name                 string `json:"name"`
	PrimaryActiveManager string `json:"primary_active_manager"`
	// UnplannedPAMFailovers counts the times the PAM's server went down holding it.
	UnplannedPAMFailovers int `json:"unplanned_pam_failovers"`
}

// ServerState is one server in a Snapshot.
type ServerState struct {
	Name             string                      `json:"name"`
	ActivationPolicy string                      `json:"activation_policy"`
	MoveNow          bool                        `json:"move_now"`
	ClusterNode      string                      `json:"cluster_node,omitempty"`
	Components       map[string][]RequesterState `json:"components"`
	Effective        map[string]string           `json:"effective"`
	Services         map[string]string           `json:"services"`
	Queues           map[string]int64            `json:"queues"`
	SubmissionQueue  string                      `json:"submission_queue"`
	Rebooting        bool                        `json:"rebooting"`
	LastBootUpTime   time.Time                   `json:"last_boot_up_time"`
	// Tasks are the registered scheduled tasks (path + name) and their state (Ready, Running).
	Tasks map[string]string `json:"tasks,omitempty"`
}

// DatabaseState is one database in a Snapshot.
type DatabaseState struct {
	Name   string            `json:"name"`
	Copies map[string]string `json:"copies"` // server → status (+ ",ActivationSuspended")
}

// Snapshot returns the current state.
func (g *Org) Snapshot() Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	var snap Snapshot
	for _, k := range g.order {
		s := g.servers[k]
		g.settle(s, now)
		st := ServerState{Name: s.spec.Name, ActivationPolicy: s.policy, MoveNow: s.moveNow, ClusterNode: s.node,
			Components: map[string][]RequesterState{}, Effective: map[string]string{}, Services: map[string]string{},
			Queues:    map[string]int64{"submission": s.submission, "delivery": s.delivery, "shadow": s.shadow, "poison": s.poison, "unreachable": s.unreachable},
			Rebooting: !s.downTil.IsZero(), LastBootUpTime: s.bootTime.UTC(), SubmissionQueue: "Ready"}
		if s.submissionSuspended {
			st.SubmissionQueue = "Suspended"
		}
		for _, t := range s.tasks {
			if st.Tasks == nil {
				st.Tasks = map[string]string{}
			}
			st.Tasks[t.path+t.name] = t.state
		}
		for c, rs := range s.comps {
			st.Components[c] = append([]RequesterState(nil), rs...)
			st.Effective[c] = effective(s, c)
		}
		for k, v := range s.services {
			st.Services[k] = v
		}
		snap.Servers = append(snap.Servers, st)
	}
	for _, k := range g.dbOrder {
		d := g.dbs[k]
		ds := DatabaseState{Name: d.spec.Name, Copies: map[string]string{}}
		for _, c := range d.copies {
			v := c.status
			if c.actSusp {
				v += ",ActivationSuspended"
			}
			ds.Copies[c.server] = v
		}
		snap.Databases = append(snap.Databases, ds)
	}
	for _, d := range g.sc.DAGs {
		st := g.dags[strings.ToUpper(d.Name)]
		snap.DAGs = append(snap.DAGs, DAGState{Name: d.Name, PrimaryActiveManager: st.pam, UnplannedPAMFailovers: st.unplannedPAM})
	}
	return snap
}

// Equivalent compares the maintenance-relevant state of two snapshots, ignoring what a maintenance run
// legitimately changes: timestamps, queue counts (mail moved), boot time, and the requester entries'
// timestamps. It returns the differences, empty when the organisation is back in its original state.
func (s Snapshot) Equivalent(o Snapshot) []string {
	var diffs []string
	other := map[string]ServerState{}
	for _, x := range o.Servers {
		other[x.Name] = x
	}
	for _, a := range s.Servers {
		b := other[a.Name]
		if a.ActivationPolicy != b.ActivationPolicy {
			diffs = append(diffs, fmt.Sprintf("%s: activation policy %s → %s", a.Name, a.ActivationPolicy, b.ActivationPolicy))
		}
		if a.MoveNow != b.MoveNow {
			diffs = append(diffs, fmt.Sprintf("%s: MoveNow %v → %v", a.Name, a.MoveNow, b.MoveNow))
		}
		if a.ClusterNode != b.ClusterNode {
			diffs = append(diffs, fmt.Sprintf("%s: cluster node %s → %s", a.Name, a.ClusterNode, b.ClusterNode))
		}
		if a.SubmissionQueue != b.SubmissionQueue {
			diffs = append(diffs, fmt.Sprintf("%s: submission queue %s → %s", a.Name, a.SubmissionQueue, b.SubmissionQueue))
		}
		names := make([]string, 0, len(a.Effective))
		for c := range a.Effective {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			if a.Effective[c] != b.Effective[c] {
				diffs = append(diffs, fmt.Sprintf("%s: component %s %s → %s", a.Name, c, a.Effective[c], b.Effective[c]))
			}
		}
		for svc, st := range a.Services {
			if b.Services[svc] != st {
				diffs = append(diffs, fmt.Sprintf("%s: service %s %s → %s", a.Name, svc, st, b.Services[svc]))
			}
		}
	}
	odb := map[string]DatabaseState{}
	for _, d := range o.Databases {
		odb[d.Name] = d
	}
	for _, d := range s.Databases {
		for srv, st := range d.Copies {
			if got := odb[d.Name].Copies[srv]; got != st {
				diffs = append(diffs, fmt.Sprintf("%s\\%s: %s → %s", d.Name, srv, st, got))
			}
		}
	}
	return diffs
}

// Fault is a model-level fault (transport faults belong to exchsim/wsman).
type Fault struct {
	// Kind: stuck_queue, copy_failure, move_fails (Active Manager refuses every move off the server),
	// move_suppressed (Target: how many moves it refuses as suppressed, default 1), witness_invalid
	// (Target: the DAG, default all; WitnessShareInUse InvalidConfiguration), cmdlet_error, cmdlet_noop (the
	// cmdlet succeeds and changes nothing: a test instrument for verification), reboot_never_returns, setup_running,
	// patch_fails (detached jobs exit 1 with an error in their log), patch_hangs (detached jobs started
	// meanwhile run until the fault is cleared, then finish), patch_no_reboot (installs leave no reboot
	// pending), patch_exit_code (Target: the installers' exit code, e.g. 3010 or 1641), pending_reboot (a
	// reboot pending from outside the window, set at once; Target cbs (default), updateexe or configmgr names
	// the marker), remote_component_state (Target
	// "Component/Requester/State" set in AD only, as Set-ServerComponentState -RemoteOnly does).
	Kind   string `json:"kind"`
	Server string `json:"server,omitempty"`
	// Target is the database (copy_failure), cmdlet name (cmdlet_error, cmdlet_noop) or Component/Requester/State.
	Target  string `json:"target,omitempty"`
	Message string `json:"message,omitempty"`
	// refusals left (move_suppressed)
	refusals int
}

// SetupRunning reports whether Exchange setup (ExSetup.exe) runs on server.
func (g *Org) SetupRunning(server string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.lookup(server)
	return s != nil && (s.setupRunning || g.setupJob(s))
}

// RemotePowerShellUp reports whether server's /PowerShell can answer: IIS (W3SVC) and the AD topology
// service it authorises through are running, and the server is not restarting.
func (g *Org) RemotePowerShellUp(name string) bool {
	return g.settled(name, func(s *server) bool {
		return s.downTil.IsZero() && s.services["W3SVC"] != "Stopped" && s.services["MSExchangeADTopology"] != "Stopped"
	})
}

// ExchangeSessions counts the remote PowerShell sessions to Exchange open on server's own endpoint now.
func (g *Org) ExchangeSessions(server string) int {
	if g.sessions == nil {
		return 0
	}
	return g.sessions(server, g.clock.Now())
}

// Rebooting reports whether server is down for a reboot.
func (g *Org) Rebooting(name string) bool {
	return g.settled(name, func(s *server) bool { return !s.downTil.IsZero() })
}

// settled answers f about the server called name, brought up to now, under the model's lock; false for an
// unknown server.
func (g *Org) settled(name string, f func(*server) bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.lookup(name)
	if s == nil {
		return false
	}
	g.settle(s, g.clock.Now())
	return f(s)
}

// InjectFault adds a model fault.
func (g *Org) InjectFault(f Fault) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f.Server != "" && g.lookup(f.Server) == nil {
		return fmt.Errorf("fault %s: unknown server %q", f.Kind, f.Server)
	}
	switch f.Kind {
	case "stuck_queue", "move_fails", "reboot_never_returns", "patch_fails", "patch_hangs", "patch_no_reboot", "restart_reply_lost", "pam_unknown", "patch_disables_services", "patch_stderr":
	case "move_suppressed":
		f.refusals = 1
		if f.Target != "" {
			n, err := strconv.Atoi(f.Target)
			if err != nil || n < 1 {
				return fmt.Errorf("fault move_suppressed: target %q is not a number of refusals", f.Target)
			}
			f.refusals = n
		}
	case "witness_invalid":
		if f.Target != "" && g.dags[strings.ToUpper(f.Target)] == nil {
			return fmt.Errorf("fault witness_invalid: unknown DAG %q", f.Target)
		}
	case "clock_skew":
		d, err := time.ParseDuration(f.Target)
		if err != nil || f.Server == "" {
			return fmt.Errorf("fault clock_skew: want a server and a duration as target (\"7m\", \"-30s\"), got %q on %q", f.Target, f.Server)
		}
		g.lookup(f.Server).clockSkew = d
	case "patch_exit_code":
		if _, err := strconv.Atoi(f.Target); err != nil {
			return fmt.Errorf("fault patch_exit_code: target %q is not an exit code", f.Target)
		}
	case "pending_reboot":
		if f.Server == "" {
			return fmt.Errorf("fault pending_reboot: a server is required")
		}
		if err := markPendingReboot(g.lookup(f.Server), f.Target); err != nil {
			return err
		}
	case "setup_running":
		if f.Server == "" {
			return fmt.Errorf("fault setup_running: a server is required")
		}
		g.lookup(f.Server).setupRunning = true
	case "copy_failure":
		d := g.dbs[strings.ToUpper(f.Target)]
		if d == nil {
			return fmt.Errorf("fault copy_failure: unknown database %q", f.Target)
		}
		for _, c := range d.copies {
			if f.Server == "" || c.server == strings.ToUpper(f.Server) {
				if c.status != "Mounted" {
					c.status, c.cq = "FailedAndSuspended", 500
				}
			}
		}
	case "service_stops":
		if f.Server == "" || f.Target == "" {
			return fmt.Errorf("fault service_stops: a server and a target (the service name) are required")
		}
	case "cmdlet_error", "cmdlet_noop", "cmdlet_writes_error":
		if f.Target == "" {
			return fmt.Errorf("fault %s: target (the cmdlet name) is required", f.Kind)
		}
	case "remote_component_state":
		// Someone ran Set-ServerComponentState -RemoteOnly (or AD holds a change the registry has not seen):
		// the entry exists only in RemoteStates, newer than the registry's.
		parts := strings.Split(f.Target, "/")
		if len(parts) != 3 || f.Server == "" {
			return fmt.Errorf("fault remote_component_state: want a server and target Component/Requester/State, got %q", f.Target)
		}
		comp, ok := canonicalComponent(g.lookup(f.Server), parts[0])
		if !ok {
			return fmt.Errorf("fault remote_component_state: unknown component %q", parts[0])
		}
		setRequester(g.lookup(f.Server).remote, comp, parts[1], parts[2], g.clock.Now())
	default:
		return fmt.Errorf("unknown fault kind %q (want stuck_queue, copy_failure, move_fails, move_suppressed, witness_invalid, cmdlet_error, cmdlet_writes_error, cmdlet_noop, service_stops, reboot_never_returns, restart_reply_lost, pam_unknown, setup_running, patch_fails, patch_hangs, patch_no_reboot, patch_disables_services, patch_exit_code, patch_stderr, pending_reboot, remote_component_state, clock_skew)", f.Kind)
	}
	g.faults = append(g.faults, f)
	return nil
}

// ClearFaults removes every model fault (state a fault already changed stays changed).
func (g *Org) ClearFaults() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.faults {
		switch f.Kind {
		case "reboot_never_returns":
			if s := g.lookup(f.Server); s != nil {
				s.neverUp = false
			}
		case "setup_running": // the setup the fault started ends; one the scenario starts with stays
			if s := g.lookup(f.Server); s != nil {
				s.setupRunning = false
			}
		case "clock_skew": // the clock is set right
			if s := g.lookup(f.Server); s != nil {
				s.clockSkew = 0
			}
		}
	}
	now := g.clock.Now()
	for _, j := range g.jobs {
		if j.hangs {
			j.hangs, j.ends = false, now // the install that hung completes now
		}
	}
	g.faults = nil
}
