package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/masterzen/winrm"

	"github.com/exmaintd/exmaintd/psrp"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/sentinel"
)

// Endpoint is one server's WinRM listener and how to authenticate to it.
type Endpoint struct {
	Name               string // exmaintd's name for the server (EX01): in every error, log line and metric
	Host               string // DNS name or address of the listener
	Port               int    // 5985 (HTTP) or 5986 (HTTPS) by default on Windows
	HTTPS              bool
	TLSServerName      string // certificate name to verify, when it differs from Host
	CACertPEM          []byte // trust these CAs instead of the system pool
	InsecureSkipVerify bool   // only when the operator asks for it
	Auth               string // AuthBasic, AuthNTLM or AuthCertificate
	User               string // DOMAIN\user or user@domain
	Password           secret.Value
	ClientCertPEM      []byte // AuthCertificate
	ClientKeyPEM       []byte
	// AllowUnencrypted permits plain HTTP without message encryption, on either channel (a lab; loopback).
	AllowUnencrypted bool
	Kerberos         *Kerberos // AuthKerberos
	// ExchangeURL is Exchange's remote PowerShell endpoint, where the Exchange cmdlets run (PSRP,
	// configuration Microsoft.Exchange), when Exchange is empty: then the server's own endpoint is used
	// with the listener's auth. Empty: http(s)://<Host>/PowerShell.
	ExchangeURL string
	// Exchange lists the Exchange endpoints that run this server's Exchange cmdlets, in the order they are
	// tried: healthy peers first, so that the cmdlets for a server being drained, patched or rebooted do
	// not depend on that server's IIS (docs/exchange-client.md, "Through a peer").
	Exchange []ExchangeEndpoint
}

// ExchangeEndpoint is one Exchange remote PowerShell endpoint (/PowerShell) able to run a server's
// Exchange cmdlets: a peer's or the server's own. Every cmdlet exmaintd sends names the server it acts on
// (-Identity, -Server), as Microsoft's maintenance scripts do when run from another server, so it acts the
// same whichever Exchange server runs it.
type ExchangeEndpoint struct {
	Server string // whose endpoint it is (EX02): skipped while that server is itself in maintenance
	URL    string // http(s)://<fqdn>/PowerShell: one server's own name, never a load-balanced one
	// Auth is AuthKerberos (the only method the /PowerShell virtual directory takes as Exchange ships it),
	// AuthNTLM or AuthBasic (when the administrator enabled them).
	Auth               string
	User               string
	Password           secret.Value
	Kerberos           *Kerberos // SPN: HTTP/<the URL's host> unless set
	TLSServerName      string
	CACertPEM          []byte
	InsecureSkipVerify bool
	AllowUnencrypted   bool
	// SameRelease marks a peer chosen automatically (not listed in exchange_via): it is used only when it
	// runs the managed server's Exchange release (peerRelease), checked when a pool opens on it.
	SameRelease bool
}

// endpoint is x as a transport's Endpoint; managed names the server whose cmdlets it runs, for errors.
func (x ExchangeEndpoint) endpoint(managed string) (Endpoint, error) {
	u, err := url.Parse(x.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return Endpoint{}, fmt.Errorf("server %s: Exchange endpoint %q: want http(s)://host[:port]/PowerShell", managed, x.URL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Endpoint{}, fmt.Errorf("server %s: Exchange endpoint %q: no user, query or fragment", managed, x.URL)
	}
	name := managed
	if x.Server != managed {
		name = managed + " via " + x.Server
	}
	return Endpoint{Name: name, Host: u.Hostname(), TLSServerName: x.TLSServerName, CACertPEM: x.CACertPEM,
		InsecureSkipVerify: x.InsecureSkipVerify, Auth: x.Auth, User: x.User, Password: x.Password, AllowUnencrypted: x.AllowUnencrypted,
		Kerberos: x.Kerberos}, nil
}

// Kerberos is how to get tickets for AuthKerberos: the user (Endpoint.User, without realm) logs in with
// Endpoint.Password or, when Keytab is set, with its keys (a service account's keytab: no password to
// store), at the KDCs that Krb5Conf names.
type Kerberos struct {
	Realm    string // e.g. EXLAB.LOCAL
	Krb5Conf string // krb5.conf text (KDCs, realm mapping)
	SPN      string // service principal of the listener; default HTTP/<TLSServerName or Host>
	Keytab   []byte // optional: the user's keytab (binary, MIT format)
}

// Modes of running operations.
const (
	// ModeSession keeps one shell and one powershell.exe per server (docs/session-protocol.md).
	ModeSession = "session"
	// ModeCommand opens a shell and starts powershell.exe for every operation (the runbook way); the fallback
	// and the benchmark baseline.
	ModeCommand = "command"
)

// Options tune a Client. Zero values take the documented defaults.
type Options struct {
	Mode string // ModeSession (default) or ModeCommand
	Load string // LoadSnapin (default), LoadRemoteExchange or LoadNone
	// OperationTimeout is the WS-Management OperationTimeout of each Receive long poll (default 20 s).
	OperationTimeout time.Duration
	// StartTimeout bounds starting a session: shell, powershell.exe and the Exchange load (default 120 s).
	StartTimeout time.Duration
	// PoolTimeout bounds opening the runspace pool on Exchange's endpoint (default 120 s: a real server
	// takes seconds to load the user's RBAC roles and cmdlets).
	PoolTimeout time.Duration
	// ReadTimeout and WriteTimeout are the default deadlines of one read and one state-changing operation,
	// retries included (defaults 60 s and 10 min: Move-ActiveMailboxDatabase can take minutes).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// BeforeWrite, when set, runs before every attempt of a state-changing operation; an error refuses the
	// operation without sending it and is never retried. A cluster's leader checks there that its
	// leadership still holds (journal/etcdstore's CheckFence), so a deposed leader cannot start one more
	// change in the middle of a step.
	BeforeWrite func(context.Context) error
	// Attempts is how many times an operation is tried when failures are transient (default 3).
	Attempts int
	// Backoff is the first pause between attempts (default 1 s), doubled each time up to 30 s, with jitter.
	Backoff  time.Duration
	Logger   *slog.Logger
	Observer RequestObserver
	// DecodeBudget gives each Exchange command the budget its replies decode within (default
	// psrp.DefaultBudget; docs/exchange-client.md).
	DecodeBudget func() *psrp.Budget
	// InMaintenance, when set, reports whether a server is in maintenance itself; its Exchange endpoint is
	// then not used for another server's cmdlets (its IIS may stop at any moment).
	InMaintenance func(server string) bool
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Mode == "" {
		o.Mode = ModeSession
	}
	def(&o.OperationTimeout, 20*time.Second)
	def(&o.StartTimeout, 120*time.Second)
	def(&o.PoolTimeout, 120*time.Second)
	def(&o.ReadTimeout, 60*time.Second)
	def(&o.WriteTimeout, 10*time.Minute)
	def(&o.Backoff, time.Second)
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.DecodeBudget == nil {
		o.DecodeBudget = psrp.DefaultBudget
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Client runs Exchange operations on one server. Safe for concurrent use: operations are serialised (one
// PowerShell session answers one request at a time).
type Client struct {
	ep   Endpoint
	opts Options
	load string
	t    *transport // the WinRM listener (operating-system operations, WinRS)
	// xts are the Exchange endpoints that run this server's cmdlets (PSRP), in the order of xeps; xi is the
	// one the pool was last opened on, where the next pool is tried first.
	xts  []*transport
	xeps []ExchangeEndpoint
	xi   int
	// releases caches each server's Exchange release as a peer's pool read it (peerRelease).
	releases map[string]string
	params   *winrm.Parameters
	logger   *slog.Logger

	sem  chan struct{} // held while an operation runs; acquiring honours the caller's context
	sess *session      // nil until first use and after a loss
	pool *pool         // the Exchange runspace pool; nil until first use and after a loss
	// sessions counts sessions started: tests and benchmarks read it through Stats.
	stats Stats

	closers sync.WaitGroup // background discards of lost sessions
}

// Stats are counters of a Client's life.
type Stats struct {
	SessionsStarted int
	SessionsLost    int
	PoolsOpened     int
	PoolsLost       int
	Operations      int
	Retries         int
}

// New returns a Client for ep. It does not connect: the first operation does.
func New(ep Endpoint, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if err := ValidateIdentity("server", ep.Name); err != nil {
		return nil, err
	}
	if ep.Host == "" || ep.Port <= 0 || ep.Port > 65535 {
		return nil, fmt.Errorf("server %s: host %q port %d: need a host and a port in 1..65535", ep.Name, ep.Host, ep.Port)
	}
	if opts.Mode != ModeSession && opts.Mode != ModeCommand {
		return nil, fmt.Errorf("server %s: unknown mode %q (want %s or %s)", ep.Name, opts.Mode, ModeSession, ModeCommand)
	}
	load, err := loadStatement(opts.Load)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", ep.Name, err)
	}
	scheme := "http"
	if ep.HTTPS {
		scheme = "https"
	}
	t, err := newTransport(ep, fmt.Sprintf("%s://%s/wsman", scheme, net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))), opts.Logger, opts.Observer)
	if err != nil {
		return nil, err
	}
	c := &Client{
		ep: ep, opts: opts, load: load, t: t, xeps: ep.Exchange, params: shellParams(opts.OperationTimeout),
		logger: opts.Logger.With("server", ep.Name), sem: make(chan struct{}, 1),
	}
	if len(ep.Exchange) == 0 { // the server's own endpoint, with the listener's auth
		xurl, err := exchangeURL(ep)
		if err != nil {
			return nil, err
		}
		xt, err := newTransport(ep, xurl, opts.Logger, opts.Observer)
		if err != nil {
			return nil, err
		}
		c.xeps, c.xts = []ExchangeEndpoint{{Server: ep.Name, URL: xurl, Auth: ep.Auth}}, []*transport{xt}
		return c, nil
	}
	for _, x := range ep.Exchange {
		xep, err := x.endpoint(ep.Name)
		if err != nil {
			return nil, err
		}
		xt, err := newTransport(xep, x.URL, opts.Logger, opts.Observer)
		if err != nil {
			return nil, err
		}
		c.xts = append(c.xts, xt)
	}
	return c, nil
}

// ExchangeVia names the server whose Exchange endpoint runs this server's cmdlets now (the first one
// configured until a pool was opened).
func (c *Client) ExchangeVia() string {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	return c.xeps[c.xi].Server
}

// ReleaseOwnEndpoint closes the runspace pool when it is open on the server's own Exchange endpoint, so
// that no remote PowerShell session to Exchange is open on a server while its update runs (ExchangeDsc
// refuses to open one while setup runs: a session there hinders setup). The next Exchange operation opens
// a pool again, on the first endpoint that answers.
func (c *Client) ReleaseOwnEndpoint() { c.ReleaseVia(c.ep.Name) }

// ReleaseVia closes the runspace pool when it is open on server's Exchange endpoint — a peer entering
// maintenance, whose IIS will stop — after the operation in progress, if any (each is bounded by its
// deadline); the next Exchange operation opens a pool elsewhere (Options.InMaintenance).
func (c *Client) ReleaseVia(server string) {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if c.pool != nil && c.xeps[c.xi].Server == server {
		// Closed before returning, not in the background: an installer may start right after.
		c.pool.discard(5 * time.Second)
		c.pool = nil
		c.logger.Info("Exchange session closed", "via", server, "url", c.xts[c.xi].url)
	}
}

// onOwnEndpoint reports whether the pool's endpoint is the server's own.
func (c *Client) onOwnEndpoint() bool { return c.xeps[c.xi].Server == c.ep.Name }

// Server is the server's name.
func (c *Client) Server() string { return c.ep.Name }

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	return c.stats
}

// Close ends the session (bounded) and waits for background clean-up.
func (c *Client) Close() error {
	c.sem <- struct{}{}
	if c.sess != nil {
		c.sess.close()
		c.sess = nil
	}
	if c.pool != nil {
		c.pool.discard(5 * time.Second)
		c.pool = nil
	}
	<-c.sem
	c.closers.Wait()
	c.t.close()
	for _, xt := range c.xts {
		xt.close()
	}
	return nil
}

// Op is one generated operation and what it is. An Exchange operation is a Command, sent as a command object
// with typed parameters to Exchange's endpoint; an operating-system operation is a Script, run by
// powershell.exe on the server over WinRS (docs/exchange-client.md says which is which and why).
type Op struct {
	Cmdlet  string        // the main cmdlet, named in errors
	Command *psrp.Command // Exchange channel: the command object
	Script  string        // WinRS channel: the exact PowerShell sent
	Write   bool          // changes state: never silently retried after it may have run
	// Timeout overrides the Client's ReadTimeout / WriteTimeout.
	Timeout time.Duration
	// Show, when set, is what an operator reads instead of Script: the same operation with encoded parts
	// decoded (a scheduled task's job script rather than its base64).
	Show string
}

// Channel names where an operation runs.
const (
	ChannelExchange = "exchange" // Exchange's remote PowerShell endpoint (PSRP)
	ChannelWinRS    = "winrs"    // powershell.exe on the server (WinRS)
)

// Channel is where op runs.
func (op Op) Channel() string {
	if op.Command != nil {
		return ChannelExchange
	}
	return ChannelWinRS
}

// Text is op as an operator reads it: the command with its parameters, or the script.
func (op Op) Text() string {
	if op.Command != nil {
		return op.Command.String()
	}
	if op.Show != "" {
		return op.Show
	}
	return op.Script
}

// Exec runs op and returns its output (a JSON document for every operation exmaintd generates). The
// operation's deadline (op.Timeout, else ReadTimeout or WriteTimeout) covers waiting for the session, the
// request and retries; starting a session is bounded by StartTimeout instead and does not count against it
// (a cold Exchange snap-in can take a minute).
func (c *Client) Exec(ctx context.Context, op Op) (string, error) {
	if op.Command != nil {
		return "", fmt.Errorf("%s on %s: an Exchange command object runs with Invoke, not Exec", op.Cmdlet, c.ep.Name)
	}
	var out string
	err := c.do(ctx, op, func(ctx context.Context) (bool, error) {
		if c.opts.Mode == ModeSession && c.sess == nil {
			return true, errNeedStart
		}
		var unsent bool
		var err error
		if c.opts.Mode == ModeSession {
			out, unsent, err = c.execSession(ctx, op)
		} else {
			out, unsent, err = c.execCommand(ctx, op)
		}
		return unsent, err
	})
	return out, err
}

// Invoke runs an Exchange operation (op.Command) in the server's runspace pool and returns the objects it
// output, deserialised.
func (c *Client) Invoke(ctx context.Context, op Op) ([]any, error) {
	if op.Command == nil {
		return nil, fmt.Errorf("%s on %s: not an Exchange command object", op.Cmdlet, c.ep.Name)
	}
	var out []any
	err := c.do(ctx, op, func(ctx context.Context) (bool, error) {
		if c.pool == nil {
			return true, errNeedStart
		}
		res, sent, err := c.pool.run(ctx, *op.Command)
		var pe *PSError
		if err != nil && !errors.As(err, &pe) {
			c.dropPool()
		}
		for _, w := range res.Warnings {
			c.logger.Warn("exchange warning", "cmdlet", op.Cmdlet, "warning", w)
		}
		out = res.Output
		return !sent, err
	})
	return out, err
}

// refusedError is BeforeWrite's refusal of a state-changing operation: final, never retried, and the
// operation was not sent.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return "not sent: " + e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// errNeedStart tells do that the operation's channel has no session yet.
const errNeedStart = sentinel.Error("no session")

// do runs one operation with its deadline, the operation semaphore, and bounded retries of transient
// failures. attempt runs it once; it reports whether the request certainly did not reach PowerShell.
func (c *Client) do(ctx context.Context, op Op, attempt func(context.Context) (bool, error)) error {
	timeout := op.Timeout
	if timeout <= 0 {
		timeout = c.opts.ReadTimeout
		if op.Write {
			timeout = c.opts.WriteTimeout
		}
	}
	if op.Write && c.opts.BeforeWrite != nil {
		inner := attempt
		attempt = func(ctx context.Context) (bool, error) {
			if err := c.opts.BeforeWrite(ctx); err != nil {
				return true, &refusedError{err: err}
			}
			return inner(ctx)
		}
	}
	deadline := time.Now().Add(timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	select {
	case c.sem <- struct{}{}:
		cancel()
	case <-wctx.Done():
		cancel()
		return fmt.Errorf("%s on %s: waiting for the session: %w", op.Cmdlet, c.ep.Name, wctx.Err())
	}
	defer func() { <-c.sem }()
	c.stats.Operations++
	c.logger.Debug("exchange operation", "cmdlet", op.Cmdlet, "write", op.Write, "channel", op.Channel(), "text", op.Text())
	start := time.Now()
	err := c.retry(ctx, op, deadline, attempt)
	if err != nil {
		c.logger.Debug("exchange operation failed", "cmdlet", op.Cmdlet, "took", time.Since(start), "err", err)
	}
	return err
}

func (c *Client) retry(ctx context.Context, op Op, deadline time.Time, attempt func(context.Context) (bool, error)) error {
	backoff := c.opts.Backoff
	var last error
	for n := 1; ; n++ {
		var (
			err     error
			unsent  bool
			expired bool
		)
		actx, cancel := context.WithDeadline(ctx, deadline)
		unsent, err = attempt(actx)
		expired = actx.Err() != nil
		cancel()
		if errors.Is(err, errNeedStart) {
			t0 := time.Now()
			err = c.start(ctx, op.Channel())
			deadline = deadline.Add(time.Since(t0)) // the start has its own bound
			if err == nil {
				actx, cancel := context.WithDeadline(ctx, deadline)
				unsent, err = attempt(actx)
				expired = actx.Err() != nil
				cancel()
			}
		}
		if err == nil {
			return nil
		}
		var pe *PSError
		if errors.As(err, &pe) {
			return err
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("%s on %s: %w", op.Cmdlet, c.ep.Name, err)
		}
		// A change that may have reached the server is ErrSessionLost whatever ended the wait for its reply —
		// a deadline too: a restart's reply is exactly what a host going down does not send, and the caller
		// must read the state back rather than take the change for not made (docs/session-protocol.md).
		if op.Write && !unsent {
			return fmt.Errorf("%s on %s: %w: %w", op.Cmdlet, c.ep.Name, ErrSessionLost, err)
		}
		if expired || ctx.Err() != nil {
			if last != nil {
				err = fmt.Errorf("%w (after %w)", err, last)
			}
			return fmt.Errorf("%s on %s: deadline: %w", op.Cmdlet, c.ep.Name, err)
		}
		if !transient(err) || n >= c.opts.Attempts {
			return fmt.Errorf("%s on %s (attempt %d of %d): %w", op.Cmdlet, c.ep.Name, n, c.opts.Attempts, err)
		}
		last = err
		c.stats.Retries++
		pause := backoff/2 + rand.N(backoff/2+1) //nolint:gosec // jitter needs no cryptographic randomness
		c.logger.Info("exchange operation failed, retrying", "cmdlet", op.Cmdlet, "attempt", n, "pause", pause, "err", err)
		sctx, cancel := context.WithDeadline(ctx, deadline)
		slept := sleepCtx(sctx, pause)
		cancel()
		if !slept {
			return fmt.Errorf("%s on %s: deadline: %w (after %w)", op.Cmdlet, c.ep.Name, context.DeadlineExceeded, err)
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// start opens the channel's persistent session: the runspace pool (bounded by PoolTimeout) or the WinRS
// session (bounded by StartTimeout).
func (c *Client) start(ctx context.Context, channel string) error {
	if channel == ChannelExchange {
		return c.openPool(ctx)
	}
	sctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	s, err := startSession(sctx, c.t, c.params, c.load, c.logger)
	if err != nil {
		return fmt.Errorf("starting the session: %w", err)
	}
	c.sess = s
	c.stats.SessionsStarted++
	c.logger.Debug("session started")
	return nil
}

// openPool opens the runspace pool on the first Exchange endpoint that answers. The peers are tried
// from the one last used (a peer that failed is passed over for the next: reads move on; a write that may
// have run was already reported as ErrSessionLost, and its caller verifies it through the pool opened
// here), the last endpoint — the server's own, as the configuration lists them — always last. A server in
// maintenance is skipped unless it is that last one. Each endpoint has PoolTimeout.
func (c *Client) openPool(ctx context.Context) error {
	var errs []error
	for _, i := range c.poolOrder() {
		x := c.xeps[i]
		if i < len(c.xeps)-1 && c.opts.InMaintenance != nil && c.opts.InMaintenance(x.Server) {
			errs = append(errs, fmt.Errorf("%s: not used: %s is in maintenance itself", c.xts[i].url, x.Server))
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, c.opts.PoolTimeout)
		p, err := openPool(pctx, c.xts[i], c.params, c.opts.DecodeBudget, c.logger)
		cancel()
		if err == nil && x.SameRelease { // never the server's own (config marks its peers only)
			if rerr := c.peerRelease(ctx, p, x.Server); rerr != nil {
				c.closers.Add(1)
				go func() { defer c.closers.Done(); p.discard(5 * time.Second) }()
				c.logger.Warn("Exchange peer not used", "via", x.Server, "url", c.xts[i].url, "err", rerr)
				errs = append(errs, fmt.Errorf("%s: %w", c.xts[i].url, rerr))
				continue
			}
		}
		if err == nil {
			c.pool, c.xi = p, i
			c.stats.PoolsOpened++
			c.logger.Info("Exchange session opened", "via", x.Server, "url", c.xts[i].url)
			return nil
		}
		c.logger.Warn("Exchange endpoint failed", "via", x.Server, "url", c.xts[i].url, "err", err)
		errs = append(errs, fmt.Errorf("opening the runspace pool on %s: %w", c.xts[i].url, err))
	}
	return fmt.Errorf("no Exchange endpoint for %s answered: %w", c.ep.Name, errors.Join(errs...))
}

// poolOrder is the order openPool tries the endpoints in: the peers from the one last used, then the last.
func (c *Client) poolOrder() []int {
	peers := len(c.xeps) - 1
	start := c.xi % max(peers, 1)
	order := make([]int, 0, len(c.xeps))
	for k := range peers {
		order = append(order, (start+k)%peers)
	}
	return append(order, peers)
}

// dropPool discards a lost runspace pool in the background (bounded).
func (c *Client) dropPool() {
	p := c.pool
	c.pool = nil
	c.stats.PoolsLost++
	c.closers.Add(1)
	go func() {
		defer c.closers.Done()
		p.discard(5 * time.Second)
	}()
}

// exchangeURL is the Exchange endpoint of ep: ExchangeURL, or http(s)://<Host>/PowerShell.
func exchangeURL(ep Endpoint) (string, error) {
	if ep.ExchangeURL == "" {
		scheme := "http"
		if ep.HTTPS {
			scheme = "https"
		}
		return scheme + "://" + ep.Host + "/PowerShell", nil
	}
	u, err := url.Parse(ep.ExchangeURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", fmt.Errorf("server %s: exchange_url %q: want http(s)://host[:port]/PowerShell", ep.Name, ep.ExchangeURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server %s: exchange_url %q: no user, query or fragment", ep.Name, ep.ExchangeURL)
	}
	return u.String(), nil
}

// execSession runs op on the persistent session. unsent tells that the request certainly did not reach
// PowerShell.
func (c *Client) execSession(ctx context.Context, op Op) (string, bool, error) {
	out, err := c.sess.do(ctx, c.ep.Name, op.Cmdlet, op.Script)
	var pe *PSError
	if err == nil || errors.As(err, &pe) {
		return out, false, err
	}
	c.dropSession()
	return "", errors.Is(err, errNotSent), err
}

// dropSession discards a lost session in the background (bounded), so that the caller's deadline is not
// spent on a host that no longer answers.
func (c *Client) dropSession() {
	s := c.sess
	c.sess = nil
	c.stats.SessionsLost++
	c.closers.Add(1)
	go func() {
		defer c.closers.Done()
		s.close()
	}()
}

// transient tells whether a failed attempt may succeed when repeated: network trouble, a 5xx, an unreadable
// reply, a lost or exited session. Never auth failures or PowerShell errors.
func transient(err error) bool {
	var (
		te *TransportError
		pe *ProtocolError
		se *sessionEnded
		ae *AuthError
		ps *PSError
	)
	switch {
	case errors.As(err, &ae), errors.As(err, &ps):
		return false
	case errors.Is(err, errNotSent), errors.As(err, &te), errors.As(err, &pe), errors.As(err, &se):
		return true
	}
	if f, ok := asFault(err); ok {
		return f.Code != FaultQuotaLimit && f.HTTPStatus >= 500
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
