package org

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed scenarios/*.toml
var builtinFS embed.FS // read-only embedded data

// Scenario is an organisation's initial state, read from TOML.
type Scenario struct {
	Name      string `toml:"name"`
	Domain    string `toml:"domain"`     // NetBIOS domain, e.g. EXLAB
	DNSDomain string `toml:"dns_domain"` // e.g. exlab.local
	// Credentials are the one account every server's WinRM listener accepts.
	Credentials struct {
		User     string `toml:"user"`
		Password string `toml:"password"`
	} `toml:"credentials"`
	Timing struct {
		// DrainRate is how many queued messages per second a draining transport delivers.
		DrainRate float64 `toml:"drain_rate"`
		// Reboot is how long a rebooting server is unreachable.
		Reboot Duration `toml:"reboot"`
		// TransportBoot is how long Get-Queue is unusable after a transport restart: it fails for the first
		// half and returns no queues for the second, until the bootloader is done (default 1 s; ExchangeDsc
		// waits up to 5 minutes for the Submission queue).
		TransportBoot Duration `toml:"transport_boot"`
		// CopyResync is how long a passive copy takes after its server's reboot to walk Initializing and
		// Resynchronizing back to Healthy (default 1.5 s).
		CopyResync Duration `toml:"copy_resync"`
		// Move is how long Active Manager takes for each database that DatabaseCopyActivationDisabledAndMoveNow
		// moves in the background, one after another (default 0.3 s): Set-MailboxServer returns before they
		// are done.
		Move Duration `toml:"move"`
		// ADReplication is how long a change to a server's Active Directory-held settings (mailbox-server
		// activation settings, component RemoteStates) made through one server's endpoint takes to be read
		// through another's: until then the others read the value from before it (default 0: at once).
		ADReplication Duration `toml:"ad_replication"`
	} `toml:"timing"`
	// Modules are the PowerShell modules installed on every server beyond Windows' own (default none, as on
	// a fresh Windows Server): a job that uses PSWindowsUpdate where it is not installed fails as Windows
	// would (modules.go).
	Modules []string `toml:"modules"`
	// Patch is what a detached job (the configured patch command) does on every server.
	Patch struct {
		Duration Duration `toml:"duration"`
		ExitCode int      `toml:"exit_code"`
		Output   string   `toml:"output"`
	} `toml:"patch"`
	// Cost is the scenario's cost profile (all zero: instant, for fast tests).
	Cost struct {
		RTT             Duration `toml:"rtt"`
		ShellCreate     Duration `toml:"shell_create"`
		PowerShellStart Duration `toml:"powershell_start"`
		SnapinLoad      Duration `toml:"snapin_load"`
		Cmdlet          Duration `toml:"cmdlet"`
		RunspaceOpen    Duration `toml:"runspace_open"`
	} `toml:"cost"`
	Servers   []ServerSpec   `toml:"server"`
	DAGs      []DAGSpec      `toml:"dag"`
	Databases []DatabaseSpec `toml:"database"`
}

// ServerSpec is one Exchange server.
type ServerSpec struct {
	Name    string `toml:"name"`
	Site    string `toml:"site"`
	Version string `toml:"version"` // AdminDisplayVersion, e.g. "Version 15.2 (Build 2562.17)" (SE, the default)
	DAG     string `toml:"dag"`
	// ActivationPolicy is the initial DatabaseCopyAutoActivationPolicy (Unrestricted, IntrasiteOnly, Blocked).
	ActivationPolicy string `toml:"activation_policy"`
	Queues           struct {
		Submission  int64 `toml:"submission"`
		Delivery    int64 `toml:"delivery"`
		Shadow      int64 `toml:"shadow"`
		Poison      int64 `toml:"poison"`
		Unreachable int64 `toml:"unreachable"`
		// Stuck messages never drain (a dead next hop).
		Stuck int64 `toml:"stuck"`
		// SubmissionSuspended leaves the Submission queue Suspended, as an earlier aborted run might.
		SubmissionSuspended bool `toml:"submission_suspended"`
	} `toml:"queues"`
	SetupRunning bool `toml:"setup_running"`
	// ImapPop enables IMAP4 and POP3 (their services start automatically); otherwise they are installed,
	// Manual and Stopped, as Exchange sets them up.
	ImapPop bool `toml:"imap_pop"`
}

// DAGSpec is a database availability group.
type DAGSpec struct {
	Name    string `toml:"name"`
	Witness string `toml:"witness"` // file share witness server
	// PAM is the member that owns the cluster core group at the start (the Primary Active Manager);
	// default the first member.
	PAM string `toml:"pam"`
}

// DatabaseSpec is a mailbox database; Copies lists the servers holding a copy in activation-preference
// order, the first holding the active copy.
type DatabaseSpec struct {
	Name      string   `toml:"name"`
	Copies    []string `toml:"copies"`
	Mailboxes int64    `toml:"mailboxes"`
	// Arbitration is the number of arbitration (system) mailboxes on the database.
	Arbitration int64 `toml:"arbitration"`
	// LastFullBackup is how long before the scenario starts the last full backup ran ("" = never).
	LastFullBackupAgo Duration `toml:"last_full_backup_ago"`
	// Lagged names the servers whose copy is a lagged copy (ReplayLagTime 7 days, a replay queue that is
	// long by design, never a move target).
	Lagged []string `toml:"lagged"`
	// Recovery marks a recovery database (restores only; never part of maintenance decisions).
	Recovery bool `toml:"recovery"`
}

// Duration is a time.Duration in TOML as "90s", "5m".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"5m\")", b)
	}
	d.Duration = v
	return nil
}

// BuiltinScenarioNames lists the scenarios compiled into exchsim.
func BuiltinScenarioNames() []string {
	entries, _ := builtinFS.ReadDir("scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	sort.Strings(names)
	return names
}

// BuiltinScenario returns a built-in scenario by name.
func BuiltinScenario(name string) (*Scenario, error) {
	data, err := builtinFS.ReadFile(path.Join("scenarios", name+".toml"))
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q (have %s)", name, strings.Join(BuiltinScenarioNames(), ", "))
	}
	return ParseScenario(data, name)
}

// LoadScenario reads a scenario file.
func LoadScenario(file string) (*Scenario, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseScenario(data, file)
}

// ParseScenario decodes and validates a scenario; errors name the file, key and line where known, and all
// problems are reported at once.
func ParseScenario(data []byte, source string) (*Scenario, error) {
	var sc Scenario
	md, err := toml.Decode(string(data), &sc)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", source, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("unknown key %q", k.String()))
	}
	if sc.Domain == "" {
		sc.Domain = "EXLAB"
	}
	if sc.DNSDomain == "" {
		sc.DNSDomain = strings.ToLower(sc.Domain) + ".local"
	}
	if sc.Credentials.User == "" {
		sc.Credentials.User = "Administrator"
	}
	if sc.Credentials.Password == "" {
		sc.Credentials.Password = DefaultPassword
	}
	if sc.Timing.DrainRate == 0 {
		sc.Timing.DrainRate = 50
	}
	if sc.Patch.Duration.Duration == 0 {
		sc.Patch.Duration.Duration = 3 * time.Second
	}
	if sc.Patch.Output == "" {
		sc.Patch.Output = "Installing updates... done. A restart is required to complete the installation."
	}
	if sc.Timing.DrainRate < 0 {
		errs = append(errs, errors.New("timing.drain_rate must be positive"))
	}
	servers := map[string]bool{}
	dags := map[string]bool{}
	for _, d := range sc.DAGs {
		if d.Name == "" {
			errs = append(errs, errors.New("dag: name is required"))
		}
		dags[strings.ToUpper(d.Name)] = true
	}
	for i := range sc.Servers {
		s := &sc.Servers[i]
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("server[%d]: name is required", i))
			continue
		}
		if servers[strings.ToUpper(s.Name)] {
			errs = append(errs, fmt.Errorf("server %s: defined twice", s.Name))
		}
		servers[strings.ToUpper(s.Name)] = true
		if s.DAG != "" && !dags[strings.ToUpper(s.DAG)] {
			errs = append(errs, fmt.Errorf("server %s: dag %q is not defined", s.Name, s.DAG))
		}
		if s.Site == "" {
			s.Site = "Default-First-Site-Name"
		}
		if s.Version == "" {
			// Exchange Server Subscription Edition RTM: the version users run now (2016 and 2019 left support
			// on 2025-10-14); SE builds are 15.2 from 2562 (exchange-maintenance.md §6).
			s.Version = "Version 15.2 (Build 2562.17)"
		}
		switch s.ActivationPolicy {
		case "":
			s.ActivationPolicy = "Unrestricted"
		case "Unrestricted", "IntrasiteOnly", "Blocked":
		default:
			errs = append(errs, fmt.Errorf("server %s: activation_policy %q is not one of Unrestricted, IntrasiteOnly, Blocked", s.Name, s.ActivationPolicy))
		}
	}
	for _, d := range sc.DAGs {
		if d.PAM == "" {
			continue
		}
		member := false
		for _, s := range sc.Servers {
			member = member || (strings.EqualFold(s.Name, d.PAM) && strings.EqualFold(s.DAG, d.Name))
		}
		if !member {
			errs = append(errs, fmt.Errorf("dag %s: pam %q is not a member of the DAG", d.Name, d.PAM))
		}
	}
	for _, d := range sc.Databases {
		if len(d.Copies) == 0 {
			errs = append(errs, fmt.Errorf("database %s: copies must name at least one server", d.Name))
		}
		copies := map[string]bool{}
		for _, c := range d.Copies {
			copies[strings.ToUpper(c)] = true
			if !servers[strings.ToUpper(c)] {
				errs = append(errs, fmt.Errorf("database %s: copy on unknown server %q", d.Name, c))
			}
		}
		for i, l := range d.Lagged {
			if !copies[strings.ToUpper(l)] || (len(d.Copies) > 0 && strings.EqualFold(l, d.Copies[0])) {
				errs = append(errs, fmt.Errorf("database %s: lagged[%d] %q must name a passive copy", d.Name, i, l))
			}
		}
	}
	if len(sc.Servers) == 0 {
		errs = append(errs, errors.New("a scenario needs at least one [[server]]"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("scenario %s: %w", source, errors.Join(errs...))
	}
	return &sc, nil
}

// DefaultPassword is the password of the built-in scenarios' Administrator account (documented in
// exchsim/README.md). It protects nothing: exchsim listens on loopback for tests and rehearsals.
const DefaultPassword = "Exch@ngeSim1"
