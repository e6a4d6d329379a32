package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/api"
	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/daemon"
	"github.com/exmaintd/exmaintd/election"
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/sdnotify"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newLogger(c *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Daemon.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.Daemon.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// cmdRun is the daemon: recovery, the API, the schedule; SIGHUP reloads, SIGTERM (ctx) stops scheduling
// and waits for running servers to finish their reverse.
func cmdRun(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	fs := flags("run", stderr)
	path := fs.String("config", "", "configuration file")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	// Every server's password, keytab and files now, all at once: a missing one would otherwise surface only
	// when that server's window starts at night, as a failed run. (Connecting reads them again, on purpose:
	// a rotated password takes effect without a restart.)
	if problems := unreadableSecrets(c, getenv); len(problems) > 0 {
		return exitError{code: 2, msg: "cannot read what the configuration names:\n  " + strings.Join(problems, "\n  ")}
	}
	logger := newLogger(c, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg, version, known(c))
	var d *daemon.Daemon
	opts := daemon.Options{ConfigPath: *path, Config: c, Getenv: getenv, Logger: logger, Version: version, Observer: m, Metrics: m,
		OnReload: func(ok bool) {
			m.ConfigReloaded(ok)
			if ok { // d is set: reloads happen only once the daemon runs
				m.Track(known(d.Config()))
			}
		},
		ExchangeOptions: func(o exchange.Options) exchange.Options { o.Observer = m.WinRMRequest; return o }}
	if err := integrations(c, getenv, logger, &opts, func(server, id string, ends time.Time, expired bool) { d.RecordSilence(server, id, ends, expired) }); err != nil {
		return err
	}
	opts.Instance = c.InstanceName()
	var k *cluster
	if c.Cluster.Backend == config.BackendEtcd {
		// The observer reports other instances' leadership to a standby; this instance's own leadership is set
		// by lead (after it won, before Open), never by a report that may come first. d and k are set before
		// the election starts (serve), so before the first report.
		k, err = newCluster(c, logger, func(id election.Identity) {
			if id.Name == opts.Instance || k.leading.Load() {
				return
			}
			d.SetLeader(false, id.Name, id.Advertise)
		})
		if err != nil {
			return err
		}
		defer k.client.Close()
		opts.Store, opts.Standby = k.store, true
		// Every change on a server is preceded by a check with etcd that this instance still leads.
		observe := opts.ExchangeOptions
		opts.ExchangeOptions = func(o exchange.Options) exchange.Options {
			o = observe(o)
			o.BeforeWrite = k.store.CheckFence
			return o
		}
	}
	d, err = daemon.New(opts)
	if err != nil {
		return err
	}
	if k == nil {
		m.Leader(true, opts.Instance)
	} else {
		m.Leader(false, "")
	}
	notify := sdnotify.New(getenv, os.Getpid())
	return serve(ctx, d, c, m.Handler(reg, logger), logger, getenv, notify, k)
}

// serve runs the API and the daemon until ctx ends. With k (an etcd cluster) the daemon stands by until
// it wins the election, then takes over; it returns election.ErrLost when it loses the leadership, and the
// process exits so that systemd starts it again as a standby with no stale state.
func serve(ctx context.Context, d *daemon.Daemon, c *config.Config, metricsHandler http.Handler, logger *slog.Logger, getenv func(string) string, notify *sdnotify.Notifier, k *cluster) error {
	token, err := config.LoadSecret(c.Daemon.APIToken, getenv)
	if err != nil && c.Daemon.APIToken != (config.Secret{}) {
		return fmt.Errorf("daemon.api_token: %w", err)
	}
	// SIGHUP is caught from the start: an uncaught one ends the process, and it may come during start-up
	// recovery (a reverse in progress) or the moment systemd sees READY. One that arrives before the
	// loop below is handled there.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ln, err := net.Listen("tcp", c.Daemon.Listen)
	if err != nil {
		return fmt.Errorf("daemon.listen: %w", err)
	}
	if c.Daemon.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.Daemon.TLSCert, c.Daemon.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("daemon.tls_cert: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	hostname, _ := os.Hostname() // "" on failure: localhost and IP addresses still work
	allowed := append(api.DefaultAllowedHosts(hostname), c.Daemon.AllowedHosts...)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	apiErr := make(chan error, 1)
	go func() {
		apiErr <- api.Serve(ctx, ln, api.NewHandler(api.Options{Controller: d, Metrics: metricsHandler, Token: token, Logger: logger, AllowedHosts: allowed}), 10*time.Second)
	}()
	schedDone := make(chan error, 1)
	alive := func() bool { return d.Alive(2 * time.Minute) }
	if k == nil {
		// Recovering an interrupted run reverses servers (up to reverse_timeout): keep systemd's start
		// timeout from killing it, one extension at a time, while Open runs.
		_ = notify.Status("recovering interrupted runs from the journal")
		stopExtend := notify.ExtendWhile(ctx, 90*time.Second)
		err = d.Open(ctx)
		stopExtend()
		if err != nil {
			cancel()
			if aerr := <-apiErr; aerr != nil {
				logger.Debug("api stopped", "err", aerr) // the open error is the one to report
			}
			return err
		}
		_ = notify.Ready("scheduling " + strings.Join(windowNames(c), ", "))
		go func() { schedDone <- d.Schedule(ctx) }()
	} else {
		// A standby is up as soon as it answers: it serves status and metrics and campaigns.
		_ = notify.Ready("standing by as " + k.self.Name)
		alive = func() bool { return k.alive(d) }
		go func() {
			schedDone <- k.elector.Run(ctx, func(lctx context.Context, l election.Leadership) error {
				return k.lead(lctx, l, d, c, logger, notify)
			})
		}()
	}
	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		notify.RunWatchdog(ctx, alive)
	}()
	logger.Info("exmaintd running", "version", version, "listen", ln.Addr().String())
	for _, w := range c.Warnings() {
		logger.Warn("insecure setting", "detail", w)
	}
	// shutdown stops scheduling and waits for running servers to finish their reverse (the daemon aborts
	// them), then for the API; failure is the error that caused it (nil on SIGTERM).
	shutdown := func(failure error, apiDone bool) error {
		_ = notify.Stopping("stopping: running servers finish their reverse")
		cancel()
		if serr := <-schedDone; serr != nil && failure == nil {
			failure = serr
		}
		if !apiDone {
			if aerr := <-apiErr; aerr != nil && failure == nil {
				failure = aerr
			}
		}
		<-wdDone
		if cerr := d.Close(); cerr != nil && failure == nil {
			failure = cerr
		}
		logger.Info("exmaintd stopped")
		return failure
	}
	for {
		select {
		case <-hup:
			_ = notify.Reloading()
			status := "configuration reloaded"
			if err := d.Reload(); err != nil {
				status = "reload failed, previous configuration kept: " + err.Error()
			}
			_ = notify.Ready(status)
		case <-ctx.Done():
			return shutdown(nil, false)
		case err := <-apiErr:
			if ctx.Err() != nil {
				return shutdown(nil, true)
			}
			logger.Error("api stopped", "err", err)
			return shutdown(err, true)
		case err := <-schedDone:
			schedDone <- err // shutdown reads it
			return shutdown(err, false)
		}
	}
}

func windowNames(c *config.Config) []string {
	var out []string
	for _, w := range c.Windows {
		out = append(out, w.Name)
	}
	return out
}

// known lists the windows and servers whose series exist from the start.
func known(c *config.Config) metrics.Known {
	var k metrics.Known
	for _, w := range c.Windows {
		k.Windows = append(k.Windows, w.Name)
	}
	for _, s := range c.Servers {
		k.Servers = append(k.Servers, s.Name)
	}
	return k
}

// integrations builds the Alertmanager silencer, the Prometheus alert gate and the webhooks from c.
func integrations(c *config.Config, getenv func(string) string, logger *slog.Logger, o *daemon.Options, record func(string, string, time.Time, bool)) error {
	if c.Alertmanager.URL.Set() {
		ep, err := config.ServiceEndpoint("alertmanager", c.Alertmanager.Service, 0, getenv)
		if err != nil {
			return err
		}
		s, err := alerting.NewSilencer(alerting.SilencerOptions{Endpoint: ep, Matchers: c.Alertmanager.SilenceMatchers,
			CreatedBy: c.Alertmanager.CreatedBy, Logger: logger, Record: record})
		if err != nil {
			return err
		}
		o.Silencer, o.SilenceMargin, o.SilenceRequired = s, c.Alertmanager.Margin.Duration, c.Alertmanager.OnError == "refuse"
	}
	if c.Prometheus.URL.Set() {
		ep, err := config.ServiceEndpoint("prometheus", c.Prometheus.Service, c.Prometheus.Timeout.Duration, getenv)
		if err != nil {
			return err
		}
		g, err := alerting.NewAlertGate(ep, c.Prometheus.AlertMatchers, c.Prometheus.FailOpen)
		if err != nil {
			return err
		}
		o.AlertGate = g
	}
	for i, n := range c.Notify {
		key := config.NotifyKey(n, i)
		ep, err := config.ServiceEndpoint(key, config.Service{URL: n.URL, CAFile: n.CAFile}, 0, getenv)
		if err != nil {
			return err
		}
		if n.Token != (config.Secret{}) {
			if ep.BearerToken, err = config.LoadSecret(n.Token, getenv); err != nil {
				return fmt.Errorf("%s.token: %w", key, err)
			}
		}
		hc, err := ep.Client()
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		o.Webhooks = append(o.Webhooks, alerting.Webhook{Name: n.Name, Endpoint: ep, Events: n.Events, Lead: n.Lead.Duration, Client: hc})
	}
	return nil
}

// unreadableSecrets lists each secret or file the configuration names that cannot be read: the API token and
// every server's endpoint (password or keytab, CA, client certificate, krb5.conf).
func unreadableSecrets(c *config.Config, getenv func(string) string) []string {
	var problems []string
	if c.Daemon.APIToken != (config.Secret{}) {
		if _, err := config.LoadSecret(c.Daemon.APIToken, getenv); err != nil {
			problems = append(problems, "daemon.api_token: "+err.Error())
		}
	}
	for _, s := range c.Servers {
		ps := c.SecretProblems(s, getenv)
		if t, ok := c.Target(s.Name); ok && len(ps) == 0 { // what is left for Connect to refuse is not a secret or a file
			if _, _, err := t.Connect(getenv); err != nil {
				ps = append(ps, err.Error())
			}
		}
		problems = append(problems, ps...)
	}
	services := map[string]config.Service{}
	if c.Prometheus.URL.Set() {
		services["prometheus"] = c.Prometheus.Service
	}
	if c.Alertmanager.URL.Set() {
		services["alertmanager"] = c.Alertmanager.Service
	}
	for i, n := range c.Notify {
		key := config.NotifyKey(n, i)
		services[key] = config.Service{URL: n.URL, CAFile: n.CAFile}
		if n.Token != (config.Secret{}) {
			if _, err := config.LoadSecret(n.Token, getenv); err != nil {
				problems = append(problems, key+".token: "+err.Error())
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(services)) {
		if _, err := config.ServiceEndpoint(key, services[key], 0, getenv); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}
