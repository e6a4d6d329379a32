package wsman

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/gsswrap"
)

// Config describes one simulated Windows host's WinRM listener.
type Config struct {
	// Host is the computer name (EX01): the Machine of faults, the NetBIOS computer name in NTLM.
	Host string
	// FQDN is the DNS name (ex01.exlab.local).
	FQDN string
	// Domain is the NetBIOS domain (EXLAB) and DNSDomain its DNS name (exlab.local).
	Domain, DNSDomain string
	// User and Password are the one account the listener accepts. User is the bare account name
	// (Administrator); clients may send it bare, as DOMAIN\user or as user@dnsdomain.
	User, Password string
	// DisableBasic and DisableNTLM turn an authentication scheme off (both are on by default).
	DisableBasic, DisableNTLM bool
	// AllowUnencrypted models the WinRM service setting: when false, requests over plain HTTP are refused
	// with 401 (exchsim does not implement message encryption, so HTTPS is the only way then).
	AllowUnencrypted bool
	// CertMappings turn certificate authentication on (Auth/Certificate) over HTTPS: a request with the
	// https/mutual Authorization header is authenticated by its TLS client certificate. The listener's TLS
	// configuration must ask for client certificates (tls.RequestClientCert).
	CertMappings []CertMapping
	// Kerberos turns on Kerberos in Negotiate (nil: Negotiate means NTLM only).
	Kerberos *Kerberos
	// MaxShellsPerUser is the shell quota (Windows Server 2012+ default 30).
	MaxShellsPerUser int
	// IdleTimeout is the default shell idle timeout (Windows default 7200 s); a shell not used for that
	// long is deleted and later requests get fault 2150858843.
	IdleTimeout time.Duration
	// MaxOperationTimeout caps a request's OperationTimeout (MaxTimeoutms, default 60 s).
	MaxOperationTimeout time.Duration
	// RTT is added to every request and ShellCreate to every Create (the cost profile).
	RTT, ShellCreate time.Duration
	// Launcher runs commands.
	Launcher Launcher
	// Remoting, when set, serves Exchange's remote PowerShell endpoint: /PowerShell with the
	// Microsoft.Exchange configuration (PSRP). RunspaceOpen is what opening its runspace pool costs.
	Remoting     Remoting
	RunspaceOpen time.Duration
	// Now is the clock for shell expiry (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// FaultKind is a transport-level fault the server can be told to inject.
type FaultKind string

// Transport faults (the model's faults — stuck queue, failing copy — live in exchsim/org).
const (
	FaultNone         FaultKind = ""
	FaultHTTP500      FaultKind = "http_500"      // plain 500 with a non-SOAP body (a crashed service/proxy)
	FaultMalformedXML FaultKind = "malformed_xml" // 200 with a body that is not XML
	FaultTruncatedXML FaultKind = "truncated_xml" // 200 with the real reply cut in half
	FaultSlow         FaultKind = "slow"          // every reply delayed by Delay
	FaultAuthFailure  FaultKind = "auth_failure"  // every request answered 401, as after a password change
	FaultReset        FaultKind = "reset"         // the TCP connection is closed without a reply
	// FaultNTLMSplit closes the connection after the next NTLM CHALLENGE, so the AUTHENTICATE arrives on a
	// new connection that holds no challenge and is answered 401 — once; the fault then clears itself.
	FaultNTLMSplit FaultKind = "ntlm_split"
)

// Fault is an injected transport fault. Actions, if set, limits it to those WinRM actions (Create, Command,
// Send, Receive, Signal, Delete).
type Fault struct {
	Kind    FaultKind
	Delay   time.Duration
	Actions []string
}

// Server is a WinRM listener for one simulated host. Its zero value is not usable; call New.
type Server struct {
	cfg    Config
	logger *slog.Logger
	// base is the parent of every process context; Close cancels it.
	base   context.Context
	cancel context.CancelFunc
	procs  sync.WaitGroup

	mu       sync.Mutex
	shells   map[string]*shell
	fault    Fault
	requests map[string]int64
	// bound and rechallenged are ConnectionAuth's counts.
	bound, rechallenged atomic.Int64
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxShellsPerUser == 0 {
		cfg.MaxShellsPerUser = 30
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 7200 * time.Second
	}
	if cfg.MaxOperationTimeout == 0 {
		cfg.MaxOperationTimeout = 60 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, logger: cfg.Logger.With("component", "wsman", "host", cfg.Host),
		base: base, cancel: cancel,
		shells: map[string]*shell{}, requests: map[string]int64{},
	}
}

// Close terminates every shell and waits for their processes to return.
func (s *Server) Close() {
	s.cancel()
	s.DropShells()
	s.procs.Wait()
}

// DropShells terminates and forgets every shell, as a reboot or a WinRM service restart does: clients get
// fault 2150858843 for them afterwards.
func (s *Server) DropShells() {
	s.mu.Lock()
	shells := s.shells
	s.shells = map[string]*shell{}
	s.mu.Unlock()
	for _, sh := range shells {
		sh.terminate()
	}
}

// SetFault injects f until ClearFault.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// takeFault reports whether the injected fault is kind, and clears it: a fault that happens once.
func (s *Server) takeFault(kind FaultKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault.Kind != kind {
		return false
	}
	s.fault = Fault{}
	return true
}

// ClearFault removes the injected fault.
func (s *Server) ClearFault() { s.SetFault(Fault{}) }

// Requests returns the number of requests by WinRM action (Create, Command, Send, Receive, Signal, Delete),
// plus "unauthorized" (401 answers), "fault" (SOAP faults), "context" (empty POSTs setting up a
// connection's Kerberos context), "sealed" (sealed requests), "unsealable" (sealed requests refused) and
// "unencrypted" (clear text refused because AllowUnencrypted is false).
func (s *Server) Requests() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// ResetRequests zeroes the counters.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = map[string]int64{}
}

// ExchangePools counts the runspace pools of the Microsoft.Exchange endpoint (remote PowerShell sessions
// to Exchange) open at now. It takes only the server's own locks, so the model may call it with its lock
// held.
func (s *Server) ExchangePools(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sh := range s.shells {
		if sh.pool != nil && !sh.expired(now) {
			n++
		}
	}
	return n
}

// Shells returns the number of live shells.
func (s *Server) Shells() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shells)
}

func (s *Server) count(key string) {
	s.mu.Lock()
	s.requests[key]++
	s.mu.Unlock()
}

func (s *Server) currentFault(action string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f.Kind == FaultNone || len(f.Actions) == 0 {
		return f
	}
	for _, a := range f.Actions {
		if strings.EqualFold(a, action) {
			return f
		}
	}
	return Fault{}
}

// HTTPServer returns an http.Server for this listener, with the connection-bound state NTLM needs.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s, ConnContext: s.ConnContext, ReadHeaderTimeout: 30 * time.Second}
}

// exchClientVer reports whether r's query names ExchClientVer (any case).
func exchClientVer(r *http.Request) bool {
	for k := range r.URL.Query() {
		if strings.EqualFold(k, "ExchClientVer") {
			return true
		}
	}
	return false
}

// ServeHTTP answers WS-Management requests on /wsman.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !cost.Pay(r.Context(), s.cfg.RTT) {
		return
	}
	exchangeEndpoint := strings.EqualFold(strings.TrimSuffix(r.URL.Path, "/"), "/PowerShell") && s.cfg.Remoting != nil
	if !strings.EqualFold(r.URL.Path, "/wsman") && !exchangeEndpoint {
		http.NotFound(w, r)
		return
	}
	if exchangeEndpoint && exchClientVer(r) {
		// Since Exchange 2013 CU12 / 2016 CU1 a session runs on the server it connects to unless the URL's
		// ExchClientVer asks for a newer version, which is then proxied to a server of that version (Exchange
		// Team Blog, 2016-03-01). exchsim serves every session on the server connected to and proxies
		// nothing: a request asking for a version is refused rather than served as if it had not asked.
		http.Error(w, "exchsim: ExchClientVer (version-based proxying) is not modelled", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return
	}
	// Authenticate before anything else; the body was read first so that keep-alive survives a 401.
	user, ok := s.authenticate(w, r)
	if !ok {
		s.count("unauthorized")
		return
	}
	body, sec, done := s.unseal(w, r, body)
	if done {
		return
	}
	req, perr := parseRequest(body)
	action := ""
	if perr == nil {
		action = shortAction(req.Header.Action)
	}
	f := s.currentFault(action)
	switch f.Kind {
	case FaultReset:
		resetConnection(w)
		return
	case FaultHTTP500:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html><body>Internal Server Error</body></html>")
		return
	case FaultAuthFailure:
		s.count("unauthorized")
		s.challenge(w)
		return
	case FaultSlow:
		if !cost.Pay(r.Context(), f.Delay) {
			return
		}
	}
	if perr != nil {
		s.count("fault")
		s.writeReply(w, sec, http.StatusInternalServerError, envelope(actionFault, "", fault{Subcode: "w:InvalidMessageInformation", Code: codeInvalidMsg, Machine: s.cfg.Host,
			Text: "The WS-Management service cannot process the request because the XML is invalid. "}.body()), exchangeEndpoint)
		return
	}
	s.count(action)
	s.logger.Debug("request", "action", action)
	var cookie string
	if c, err := r.Cookie(affinityCookie); err == nil {
		cookie = c.Value
	}
	status, reply, setCookie := s.dispatch(r.Context(), req, user, exchangeEndpoint, cookie)
	if setCookie != "" {
		http.SetCookie(w, &http.Cookie{Name: affinityCookie, Value: setCookie, Path: "/PowerShell", HttpOnly: true})
	}
	s.logger.Debug("reply", "action", action, "status", status)
	switch f.Kind {
	case FaultMalformedXML:
		reply = []byte("<s:Envelope><s:Body>this is not WS-Management &&& ")
	case FaultTruncatedXML:
		reply = reply[:len(reply)/2]
	}
	if status == http.StatusInternalServerError {
		s.count("fault")
	}
	s.writeReply(w, sec, status, reply, exchangeEndpoint)
}

const soapContentType = "application/soap+xml;charset=UTF-8"

// unseal applies the message-encryption rules to a request from an authenticated client. A sealed body
// (multipart/encrypted, Kerberos) is opened with the connection's security context; an empty POST that
// carried a Negotiate token is the context set-up every sealing client sends first (pywinrm,
// Windows) and is answered 200 with nothing; a clear-text body over plain HTTP is refused with a bare
// HTTP 500 when AllowUnencrypted is false — what Windows answers (pywinrm #129, ansible #33385,
// winrm4j #151; REALITIES.md). done means the request was answered.
func (s *Server) unseal(w http.ResponseWriter, r *http.Request, body []byte) (_ []byte, sec *gsswrap.Context, done bool) {
	ct := r.Header.Get("Content-Type")
	switch {
	case gsswrap.IsSealed(ct):
		cs := connStateOf(r)
		sec = cs.sealing()
		if sec == nil {
			s.logger.Info("sealed request on a connection without a Kerberos context")
			s.count("unsealable")
			w.WriteHeader(http.StatusBadRequest)
			return nil, nil, true
		}
		s.count("sealed")
		msg, _, err := gsswrap.Open(sec, ct, body)
		if err != nil {
			// No public source says what Windows answers; exchsim forgets the context, so the client must
			// authenticate again, and answers 400.
			s.logger.Info("sealed request refused", "err", err)
			s.count("unsealable")
			cs.mu.Lock()
			cs.seal, cs.user = nil, ""
			cs.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return nil, nil, true
		}
		return msg, sec, false
	case len(body) == 0 && strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "negotiate "):
		s.count("context")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil, nil, true
	case r.TLS == nil && !s.cfg.AllowUnencrypted:
		s.logger.Info("refused an unencrypted message over plain HTTP (AllowUnencrypted is false)")
		s.count("unencrypted")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusInternalServerError)
		return nil, nil, true
	}
	return body, nil, false
}

// writeReply sends a SOAP reply, sealed when the request was — on Exchange's /PowerShell with the
// delimiters Exchange writes ("-- Encrypted Boundary", a space after the dashes: jborean93/pypsrp
// encryption.py; exchsim/REALITIES.md), on /wsman as Windows' WinRM does.
func (s *Server) writeReply(w http.ResponseWriter, sec *gsswrap.Context, status int, reply []byte, exchangeEndpoint bool) {
	ct := soapContentType
	if sec != nil {
		seal := gsswrap.Seal
		if exchangeEndpoint {
			seal = gsswrap.SealAsExchange
		}
		sealed, err := seal(sec, soapContentType, reply)
		if err != nil {
			s.logger.Error("sealing the reply", "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		ct, reply = gsswrap.ContentType, sealed
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
	w.WriteHeader(status)
	_, _ = w.Write(reply)
}

// dispatch runs one parsed request and returns the HTTP status and the SOAP reply.
// On /wsman only the cmd shell exists; on /PowerShell only the Microsoft.Exchange configuration (IIS hosts
// it, the WinRM service does not know it).
func (s *Server) dispatch(ctx context.Context, req *request, user string, exchangeEndpoint bool, cookie string) (int, []byte, string) {
	h := &req.Header
	faultReply := func(f fault) (int, []byte, string) {
		return http.StatusInternalServerError, envelope(actionFault, h.MessageID, f.body()), ""
	}
	want := resourceCmd
	if exchangeEndpoint {
		want = ResourceExchange
	}
	if !strings.EqualFold(strings.TrimSpace(h.ResourceURI), want) {
		return faultReply(fault{Subcode: "w:DestinationUnreachable", Code: codeNotSupported, Machine: s.cfg.Host,
			Text: fmt.Sprintf("The WS-Management service cannot process the request. The resource URI (%s) was not found in the WS-Management catalog. ", h.ResourceURI)})
	}
	var f *fault
	var body string
	action := strings.TrimSpace(h.Action)
	if exchangeEndpoint && action != actionCreate && action != actionDelete {
		sh, lf := s.lookupShell(h)
		if lf != nil {
			return faultReply(*lf)
		}
		if sh.cookie != cookie {
			// The pool's requests came back without the affinity cookie its creation set: behind a load
			// balancer they reach another server, which knows no such shell (affinity.go).
			return faultReply(shellNotFoundFault(s.cfg.Host, sh.id))
		}
		if sh.pool == nil {
			return faultReply(*s.psrpFault("The shell is not a runspace pool. "))
		}
		switch action {
		case actionCommand:
			body, f = s.psrpCommand(sh, req, user)
		case actionSend:
			body, f = s.psrpSend(sh, req, user)
		case actionReceive:
			body, f = s.psrpReceive(ctx, sh, req)
		case actionSignal:
			body, f = s.psrpSignal(sh, req)
		default:
			return faultReply(fault{Subcode: "a:ActionNotSupported", Code: codeNotSupported, Machine: s.cfg.Host,
				Text: fmt.Sprintf("The WS-Management service cannot process the request. The action %s is not supported. ", h.Action)})
		}
		if f != nil {
			return faultReply(*f)
		}
		return http.StatusOK, envelope(action+"Response", h.MessageID, body), ""
	}
	setCookie := ""
	switch action {
	case actionCreate:
		if exchangeEndpoint {
			setCookie = newAffinity()
		}
		body, f = s.create(ctx, req, user, exchangeEndpoint, setCookie)
	case actionCommand:
		body, f = s.commandStart(req, user)
	case actionSend:
		body, f = s.send(req)
	case actionReceive:
		body, f = s.receive(ctx, req)
	case actionSignal:
		body, f = s.signal(req)
	case actionDelete:
		body, f = s.delete(req)
	default:
		return faultReply(fault{Subcode: "a:ActionNotSupported", Code: codeNotSupported, Machine: s.cfg.Host,
			Text: fmt.Sprintf("The WS-Management service cannot process the request. The action %s is not supported. ", h.Action)})
	}
	if f != nil {
		return faultReply(*f)
	}
	return http.StatusOK, envelope(strings.TrimSpace(h.Action)+"Response", h.MessageID, body), setCookie
}

func isGUID(s string) bool {
	t := strings.TrimSpace(s)
	if len(t) != 36 {
		return false
	}
	for i, c := range t {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F'):
			return false
		}
	}
	return true
}

func shortAction(a string) string {
	a = strings.TrimSpace(a)
	return a[strings.LastIndex(a, "/")+1:]
}

// lookupShell returns the shell named by the request's ShellId selector, deleting it if it expired.
func (s *Server) lookupShell(h *requestHeader) (*shell, *fault) {
	id := h.selector("ShellId")
	now := s.cfg.Now()
	s.mu.Lock()
	sh := s.shells[id]
	if sh != nil && sh.expired(now) {
		delete(s.shells, id)
		s.mu.Unlock()
		sh.terminate()
		sh = nil
	} else {
		s.mu.Unlock()
	}
	if sh == nil {
		f := shellNotFoundFault(s.cfg.Host, id)
		return nil, &f
	}
	sh.touch(now)
	return sh, nil
}

func (s *Server) create(ctx context.Context, req *request, user string, exchangeEndpoint bool, cookie string) (string, *fault) {
	now := s.cfg.Now()
	idle := s.cfg.IdleTimeout
	env := map[string]string{}
	if b := req.Body.Shell; b != nil {
		if b.IdleTimeOut != "" {
			if d, err := parseDuration(b.IdleTimeOut); err == nil && d > 0 {
				idle = d
			}
		}
		for _, v := range b.Environment {
			env[v.Name] = v.Value
		}
	}
	codepage := 437 // the OEM code page of an en-US Windows, used when the client names none
	if cp, err := strconv.Atoi(req.Header.option("WINRS_CODEPAGE")); err == nil {
		codepage = cp
	}
	s.mu.Lock()
	n := 0
	for id, sh := range s.shells {
		if sh.expired(now) {
			delete(s.shells, id)
			go sh.terminate()
			continue
		}
		if strings.EqualFold(sh.owner, user) {
			n++
		}
	}
	if n >= s.cfg.MaxShellsPerUser {
		s.mu.Unlock()
		f := quotaFault(s.cfg.Host, s.cfg.MaxShellsPerUser)
		return "", &f
	}
	id := newUUID()
	resource := resourceCmd
	if exchangeEndpoint {
		resource = ResourceExchange
		// A PSRP client names its pool's shell (MS-PSRP 3.1.5.3.1); Windows keeps that id.
		if b := req.Body.Shell; b != nil && isGUID(b.ShellID) {
			id = strings.ToUpper(strings.TrimSpace(b.ShellID))
		}
		if _, taken := s.shells[id]; taken {
			s.mu.Unlock()
			return "", s.psrpFault(fmt.Sprintf("A shell with ShellId %s already exists. ", id))
		}
	}
	sh := &shell{id: id, owner: user, codepage: codepage, env: env, idle: idle, lastUsed: now, commands: map[string]*command{}, cookie: cookie}
	if exchangeEndpoint {
		if f := s.createPool(sh, req.Body.Shell, req.Header.option("protocolversion")); f != nil {
			s.mu.Unlock()
			return "", f
		}
	}
	s.shells[sh.id] = sh
	s.mu.Unlock()
	cost.Pay(ctx, s.cfg.ShellCreate)
	addr := "http://" + s.cfg.FQDN + ":5985/wsman"
	if exchangeEndpoint {
		addr = "http://" + s.cfg.FQDN + "/PowerShell"
		return `<x:ResourceCreated><a:Address>` + esc(addr) + `</a:Address><a:ReferenceParameters><w:ResourceURI>` + resource +
			`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + sh.id + `</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
			`<rsp:Shell><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + resource + `</rsp:ResourceUri><rsp:Owner>` + esc(user) +
			`</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>` + formatDuration(idle) +
			`</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
			`<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`, nil
	}
	return `<x:ResourceCreated><a:Address>` + esc(addr) + `</a:Address><a:ReferenceParameters><w:ResourceURI>` + resourceCmd +
		`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + sh.id + `</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
		`<rsp:Shell><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + resourceCmd + `</rsp:ResourceUri><rsp:Owner>` + esc(user) +
		`</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>` + formatDuration(idle) +
		`</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>` +
		`<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`, nil
}

func (s *Server) commandStart(req *request, user string) (string, *fault) {
	sh, f := s.lookupShell(&req.Header)
	if f != nil {
		return "", f
	}
	cl := req.Body.CommandLine
	if cl == nil {
		return "", &fault{Subcode: "w:InvalidMessageInformation", Code: codeInvalidMsg, Machine: s.cfg.Host, Text: "The Command request has no rsp:CommandLine. "}
	}
	ctx, cancel := context.WithCancel(s.base)
	c := &command{id: newUUID(), stdin: newPipe(), stdout: newPipe(), stderr: newPipe(), cancel: cancel, done: make(chan struct{})}
	sh.mu.Lock()
	sh.commands[c.id] = c
	env := make(map[string]string, len(sh.env))
	for k, v := range sh.env {
		env[k] = v
	}
	sh.mu.Unlock()
	cr := CommandRequest{ShellID: sh.id, CommandID: c.id, Host: s.cfg.Host, User: user,
		Command: strings.TrimSpace(cl.Command), Arguments: cl.Arguments, Codepage: sh.codepage, Env: env,
		ConsoleStdin: !strings.EqualFold(req.Header.option("WINRS_CONSOLEMODE_STDIN"), "FALSE")}
	s.procs.Add(1)
	go func() {
		defer s.procs.Done()
		defer cancel()
		code := s.cfg.Launcher.Run(ctx, cr, c.stdin.reader(ctx.Done()), c.stdout, c.stderr)
		c.exitCode = code
		c.stdout.Close()
		c.stderr.Close()
		close(c.done)
	}()
	s.logger.Debug("command started", "shell", sh.id, "command", c.id, "cmdline", truncate(cr.Command, 120))
	return `<rsp:CommandResponse><rsp:CommandId>` + c.id + `</rsp:CommandId></rsp:CommandResponse>`, nil
}

func (s *Server) send(req *request) (string, *fault) {
	sh, f := s.lookupShell(&req.Header)
	if f != nil {
		return "", f
	}
	if req.Body.Send == nil {
		return "", &fault{Subcode: "w:InvalidMessageInformation", Code: codeInvalidMsg, Machine: s.cfg.Host, Text: "The Send request has no rsp:Send. "}
	}
	for _, st := range req.Body.Send.Streams {
		c := sh.command(st.CommandID)
		if c == nil {
			f := commandNotFoundFault(s.cfg.Host, sh.id, st.CommandID)
			return "", &f
		}
		if !strings.EqualFold(st.Name, "stdin") {
			continue
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return "", &fault{Subcode: "w:InvalidMessageInformation", Code: codeInvalidMsg, Machine: s.cfg.Host, Text: "The stdin stream is not valid base64. "}
		}
		_, _ = c.stdin.Write(data)
		if strings.EqualFold(st.End, "true") {
			c.stdin.Close()
		}
	}
	return `<rsp:SendResponse/>`, nil
}

func commandNotFoundFault(machine, shellID, commandID string) fault {
	return fault{Subcode: "w:InvalidSelectors", Code: codeShellNotFound, Machine: machine,
		Text: fmt.Sprintf("The request for the Windows Remote Shell with ShellId %s failed because the command with CommandId %s was not found. ", shellID, commandID)}
}

func (s *Server) receive(ctx context.Context, req *request) (string, *fault) {
	sh, f := s.lookupShell(&req.Header)
	if f != nil {
		return "", f
	}
	if req.Body.Receive == nil {
		return "", &fault{Subcode: "w:InvalidMessageInformation", Code: codeInvalidMsg, Machine: s.cfg.Host, Text: "The Receive request has no rsp:Receive. "}
	}
	id := req.Body.Receive.DesiredStream.CommandID
	c := sh.command(id)
	if c == nil {
		f := commandNotFoundFault(s.cfg.Host, sh.id, id)
		return "", &f
	}
	sh.mu.Lock()
	if c.receiving {
		sh.mu.Unlock()
		return "", &fault{Subcode: "w:InvalidParameter", Code: codeInvalidMsg, Machine: s.cfg.Host,
			Text: "The WS-Management service cannot process the request because another Receive for this command is outstanding. "}
	}
	c.receiving = true
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		c.receiving = false
		sh.mu.Unlock()
		sh.touch(s.cfg.Now())
	}()

	timer := time.NewTimer(s.receiveTimeout(req))
	defer timer.Stop()
	for {
		nOut, _, outCh := c.stdout.state()
		nErr, _, errCh := c.stderr.state()
		select {
		case <-c.done:
			return s.receiveReply(req, c, true), nil
		default:
		}
		if nOut > 0 || nErr > 0 {
			return s.receiveReply(req, c, false), nil
		}
		select {
		case <-outCh:
		case <-errCh:
		case <-c.done:
		case <-timer.C:
			f := timedOutFault(s.cfg.Host)
			return "", &f
		case <-ctx.Done():
			return "", &fault{Subcode: "w:TimedOut", Code: codeTimedOut, Machine: s.cfg.Host, Text: "client went away"}
		case <-s.base.Done():
			f := shellNotFoundFault(s.cfg.Host, sh.id)
			return "", &f
		}
	}
}

// receiveReply takes as much output as fits the request's MaxEnvelopeSize. The command is reported Done
// only when it has exited and both streams are drained.
func (s *Server) receiveReply(req *request, c *command, exited bool) string {
	maxEnv, err := strconv.Atoi(strings.TrimSpace(req.Header.MaxEnvelopeSize))
	if err != nil || maxEnv <= 0 {
		maxEnv = 153600
	}
	budget := max((maxEnv-2048)*3/4, 1024) // base64 grows 4/3; 2 KiB for the envelope
	out, outDone := c.stdout.take(budget)
	errb, errDone := c.stderr.take(budget - len(out))
	done := exited && outDone && errDone
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	stream := func(name string, data []byte, end bool) {
		if len(data) == 0 && !end {
			return
		}
		b.WriteString(`<rsp:Stream Name="` + name + `" CommandId="` + c.id + `"`)
		if end {
			b.WriteString(` End="true"`)
		}
		b.WriteString(`>` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`)
	}
	stream("stdout", out, done)
	stream("stderr", errb, done)
	if done {
		b.WriteString(`<rsp:CommandState CommandId="` + c.id + `" State="` + stateDone + `"><rsp:ExitCode>` +
			strconv.Itoa(c.exitCode) + `</rsp:ExitCode></rsp:CommandState>`)
	} else {
		b.WriteString(`<rsp:CommandState CommandId="` + c.id + `" State="` + stateRunning + `"/>`)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}

func (s *Server) signal(req *request) (string, *fault) {
	sh, f := s.lookupShell(&req.Header)
	if f != nil {
		return "", f
	}
	if req.Body.Signal == nil {
		return "", &fault{Subcode: "w:InvalidMessageInformation", Code: codeInvalidMsg, Machine: s.cfg.Host, Text: "The Signal request has no rsp:Signal. "}
	}
	id := req.Body.Signal.CommandID
	c := sh.command(id)
	if c == nil {
		f := commandNotFoundFault(s.cfg.Host, sh.id, id)
		return "", &f
	}
	switch strings.TrimSpace(req.Body.Signal.Code) {
	case signalTerminate:
		c.cancel()
		c.stdin.Close()
		sh.mu.Lock()
		delete(sh.commands, id)
		sh.mu.Unlock()
	case signalCtrlC, signalCtrlBreak:
		c.cancel()
		c.stdin.Close()
	default:
		return "", &fault{Subcode: "w:InvalidParameter", Code: codeInvalidMsg, Machine: s.cfg.Host,
			Text: fmt.Sprintf("The signal code %s is not supported. ", req.Body.Signal.Code)}
	}
	return `<rsp:SignalResponse/>`, nil
}

func (s *Server) delete(req *request) (string, *fault) {
	id := req.Header.selector("ShellId")
	s.mu.Lock()
	sh := s.shells[id]
	delete(s.shells, id)
	s.mu.Unlock()
	if sh == nil {
		f := shellNotFoundFault(s.cfg.Host, id)
		return "", &f
	}
	sh.terminate()
	return "", nil
}

// resetConnection closes the client's TCP connection without an HTTP reply.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN: what a crashed listener or a firewall drop looks like
	}
	_ = conn.Close()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// receiveTimeout is how long a Receive (WinRS or PSRP) waits for output: the request's OperationTimeout,
// capped by the server's MaxOperationTimeout.
func (s *Server) receiveTimeout(req *request) time.Duration {
	timeout := s.cfg.MaxOperationTimeout
	if d, err := parseDuration(req.Header.OperationTimeout); err == nil && d > 0 && d < timeout {
		timeout = d
	}
	return timeout
}
