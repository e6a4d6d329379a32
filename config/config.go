package config

// Config is the whole file. Field comments name the TOML keys; defaults are in Default and documented in
// config.example.toml.
type Config struct {
	Daemon       Daemon       `toml:"daemon"`
	WinRM        WinRM        `toml:"winrm"`
	Steps        Steps        `toml:"steps"`
	DAGs         []DAG        `toml:"dag"`
	Servers      []Server     `toml:"server"`
	Procedures   []Procedure  `toml:"procedure"`
	Patches      []Patch      `toml:"patch"`
	Windows      []Window     `toml:"window"`
	Prometheus   Prometheus   `toml:"prometheus"`
	Alertmanager Alertmanager `toml:"alertmanager"`
	Notify       []Notify     `toml:"notify"`
	Cluster      Cluster      `toml:"cluster"`

	// Resolved once by Parse, after validation (target.go).
	targets  map[string]*Target
	rollouts map[string][]RolloutGroup
}

// Daemon is [daemon].
type Daemon struct {
	StateDir string `toml:"state_dir"`
	Listen   string `toml:"listen"`
	APIToken Secret `toml:"api_token"`
	// AllowedHosts are the names clients may use for the API (Host header) besides IP addresses,
	// localhost and this machine's name: a DNS-rebinding defence. ".example.com" allows every name below.
	AllowedHosts []string `toml:"allowed_hosts"`
	// TLSCert and TLSKey (PEM files) serve the API over HTTPS.
	TLSCert        string   `toml:"tls_cert"`
	TLSKey         string   `toml:"tls_key"`
	LogLevel       string   `toml:"log_level"`
	LogFormat      string   `toml:"log_format"`
	TimeZone       string   `toml:"time_zone"`
	Recovery       string   `toml:"recovery"`
	ReverseTimeout Duration `toml:"reverse_timeout"`
	Parallel       int      `toml:"parallel"`
}

// Secret says where a secret comes from: exactly one of file, env, credential (a systemd credential name,
// read from $CREDENTIALS_DIRECTORY).
type Secret struct {
	File       string `toml:"file"`
	Env        string `toml:"env"`
	Credential string `toml:"credential"`
}

// WinRM is [winrm] (defaults for every server) and the per-server overrides.
type WinRM struct {
	Port               int    `toml:"port"`
	HTTPS              *bool  `toml:"https"`
	Auth               string `toml:"auth"`
	User               string `toml:"user"`
	Password           Secret `toml:"password"`
	CAFile             string `toml:"ca_file"`
	ClientCertFile     string `toml:"client_cert_file"`
	ClientKeyFile      string `toml:"client_key_file"`
	InsecureSkipVerify *bool  `toml:"insecure_skip_verify"`
	// AllowUnencrypted permits plain HTTP without message encryption (a lab network); refused otherwise.
	AllowUnencrypted *bool  `toml:"allow_unencrypted"`
	Mode             string `toml:"mode"`
	Load             string `toml:"load"` // only "none": the Exchange cmdlets run on the Exchange endpoint
	// ExchangeURL is the server's Exchange remote PowerShell endpoint (per server; default
	// http(s)://<fqdn>/PowerShell with the scheme of https).
	ExchangeURL string `toml:"exchange_url"`
	// ExchangeAuth is how exmaintd authenticates to Exchange's /PowerShell: kerberos (the default, the only
	// method its virtual directory takes as Exchange ships it), ntlm or basic. Independent of auth, which is
	// the WinRM listener's; user, password, keytab, realm and krb5_conf are shared.
	ExchangeAuth     string   `toml:"exchange_auth"`
	PoolTimeout      Duration `toml:"pool_timeout"`
	OperationTimeout Duration `toml:"operation_timeout"`
	StartTimeout     Duration `toml:"start_timeout"`
	ReadTimeout      Duration `toml:"read_timeout"`
	WriteTimeout     Duration `toml:"write_timeout"`
	Attempts         int      `toml:"attempts"`
	// Kerberos (auth = "kerberos").
	Realm    string `toml:"realm"`     // e.g. EXLAB.LOCAL
	Krb5Conf string `toml:"krb5_conf"` // default /etc/krb5.conf
	SPN      string `toml:"spn"`       // default HTTP/<fqdn>
	Keytab   Secret `toml:"keytab"`    // the user's keytab instead of a password (file or credential)
}

// Steps is [steps]: thresholds and timings of steps and gates.
type Steps struct {
	PollInterval        Duration `toml:"poll_interval"`
	DrainTimeout        Duration `toml:"drain_timeout"`
	DrainStall          Duration `toml:"drain_stall"`
	DrainPolicy         string   `toml:"drain_policy"`
	MoveTimeout         Duration `toml:"move_timeout"`
	MoveSettle          Duration `toml:"move_settle"`
	MoveAttempts        int      `toml:"move_attempts"`
	MoveRetryInterval   Duration `toml:"move_retry_interval"`
	RebootTimeout       Duration `toml:"reboot_timeout"`
	RestartDelay        Duration `toml:"restart_delay"`
	TransportBoot       Duration `toml:"transport_boot_timeout"`
	ADReplicationWait   Duration `toml:"ad_replication_wait"`
	BackPolls           int      `toml:"back_polls"`
	RedundancyMinCopies int      `toml:"redundancy_min_copies"`
	QueueMax            int64    `toml:"queue_max"`
	CopyQueueMax        int64    `toml:"copy_queue_max"`
	ReplayQueueMax      int64    `toml:"replay_queue_max"`
	UndoAttempts        int      `toml:"undo_attempts"`
	UndoBackoff         Duration `toml:"undo_backoff"`
	PatchGrace          Duration `toml:"patch_grace"`
	AllowPendingReboot  bool     `toml:"allow_pending_reboot"`
	BackupMaxAge        Duration `toml:"backup_max_age"`
	DefaultStepEstimate Duration `toml:"default_step_estimate"`
	FixOtherRequesters  bool     `toml:"fix_other_requesters"`
	Rebalance           bool     `toml:"rebalance"`
	WatchFor            Duration `toml:"watch_for"`
	Services            []string `toml:"services"`
}

// DAG is one [[dag]].
type DAG struct {
	Name          string   `toml:"name"`
	Servers       []string `toml:"servers"`
	FailureBudget int      `toml:"failure_budget"`
}

// Server is one [[server]].
type Server struct {
	Name        string `toml:"name"`
	Host        string `toml:"host"`
	FQDN        string `toml:"fqdn"`
	Site        string `toml:"site"`
	Procedure   string `toml:"procedure"`
	AllowOutage bool   `toml:"allow_outage"`
	// ExchangeVia names, in order, the servers whose Exchange endpoints run this server's Exchange cmdlets.
	// Empty: the other members of its DAG, else the other servers of its site, else its own endpoint.
	ExchangeVia []string `toml:"exchange_via"`
	WinRM       WinRM    `toml:"winrm"`
}

// Procedure is one [[procedure]]: a custom ordered step list.
type Procedure struct {
	Name  string   `toml:"name"`
	Steps []string `toml:"steps"`
}

// Patch is one [[patch]]: a command run on each server while it is in maintenance.
type Patch struct {
	Name     string   `toml:"name"`
	Command  string   `toml:"command"`
	Detached bool     `toml:"detached"`
	Timeout  Duration `toml:"timeout"`
	// RunAs is the detached task's account: SYSTEM when empty (or "SYSTEM"), a group managed service
	// account (DOMAIN\name$), or a named account (DOMAIN\name) with RunAsPassword.
	RunAs         string `toml:"run_as"`
	RunAsPassword Secret `toml:"run_as_password"`
	// Reboot is the restart policy: always, if-required (default) or never.
	Reboot string `toml:"reboot"`
	// RestartBefore: if-pending (default) restarts the server first when a restart is pending; never.
	RestartBefore string `toml:"restart_before"`
}

// Window is one [[window]].
type Window struct {
	Name         string   `toml:"name"`
	Schedule     string   `toml:"schedule"`
	TimeZone     string   `toml:"time_zone"`
	Duration     Duration `toml:"duration"`
	Servers      []string `toml:"servers"`
	Patches      []string `toml:"patches"`
	MinRemaining Duration `toml:"min_remaining"`
	Enabled      *bool    `toml:"enabled"`
}

// Prometheus is [prometheus]: the alert gate.
type Prometheus struct {
	Service
	AlertMatchers []string `toml:"alert_matchers"`
	FailOpen      bool     `toml:"fail_open"`
	Timeout       Duration `toml:"timeout"`
}

// Alertmanager is [alertmanager]: silences while a server is in maintenance.
type Alertmanager struct {
	Service
	SilenceMatchers []string `toml:"silence_matchers"`
	Margin          Duration `toml:"margin"`
	CreatedBy       string   `toml:"created_by"`
	// OnError is what a server does when its silence cannot be created: "continue" (the default: it runs,
	// its alerts may fire) or "refuse" (it is skipped).
	OnError string `toml:"on_error"`
}

// NotifyKey names the i-th [[notify]] in messages: notify "users", or notify[i] when it has no name.
func NotifyKey(n Notify, i int) string { return tableKey("notify", i, n.Name) }

// Notify is one [[notify]] webhook.
type Notify struct {
	Name   string   `toml:"name"`
	URL    URL      `toml:"url"`
	Events []string `toml:"events"`
	Lead   Duration `toml:"lead"`
	Token  Secret   `toml:"token"`
	CAFile string   `toml:"ca_file"`
}
