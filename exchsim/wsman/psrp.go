package wsman

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/psrp"
)

// Exchange's remote PowerShell endpoint: IIS hosts it at /PowerShell, and clients name the Microsoft.Exchange
// session configuration by this resource URI (MS-PSRP 3.1.5.3.1; "Connect to Exchange servers using remote
// PowerShell", Microsoft Learn).
const (
	resourcePowerShell = "http://schemas.microsoft.com/powershell/"
	// ResourceExchange is the resource URI of the Microsoft.Exchange configuration.
	ResourceExchange = resourcePowerShell + "Microsoft.Exchange"
	// signalPSCtrlC stops a pipeline (MS-PSRP 3.1.5.3.9 spells it "crtl_c").
	signalPSCtrlC = "http://schemas.microsoft.com/powershell/signal/crtl_c"
	// psrpMaxBlob keeps every fragment well inside one Receive reply (MS-PSRP 2.2.4: a fragment is never
	// split across packets).
	psrpMaxBlob = 32 << 10
)

// Remoting runs the pipelines of the Microsoft.Exchange endpoint. Invoke returns the pipeline's output
// objects, the non-terminating errors it wrote, and the terminating error that failed it (nil if it
// completed). ctx ends when the client stops the pipeline or closes the pool.
type Remoting interface {
	Invoke(ctx context.Context, host, user string, cmds []psrp.Command) (out []any, errs []psrp.ErrorRecord, failed *psrp.ErrorRecord)
}

// fragQueue holds the fragments waiting for the client's Receive. A Receive takes whole fragments only.
type fragQueue struct {
	mu      sync.Mutex
	frags   [][]byte
	closed  bool
	changed chan struct{}
}

func newFragQueue() *fragQueue { return &fragQueue{changed: make(chan struct{})} }

func (q *fragQueue) push(frags ...[]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.frags = append(q.frags, frags...)
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *fragQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.changed)
		q.changed = make(chan struct{})
	}
}

// take returns whole fragments up to budget bytes (at least one when any waits) and whether the queue is
// closed and now empty.
func (q *fragQueue) take(budget int) ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []byte
	n := 0
	for n < len(q.frags) && (n == 0 || len(out)+len(q.frags[n]) <= budget) {
		out = append(out, q.frags[n]...)
		n++
	}
	q.frags = q.frags[n:]
	return out, q.closed && len(q.frags) == 0
}

func (q *fragQueue) state() (int, bool, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frags), q.closed, q.changed
}

// runspacePool is the server side of one PSRP runspace pool: a WS-Management shell of the
// Microsoft.Exchange resource.
type runspacePool struct {
	mu        sync.Mutex
	rpid      psrp.GUID
	nextObj   uint64
	state     int32
	defrag    psrp.Defragmenter
	out       *fragQueue
	pipelines map[string]*rsPipeline
	receiving bool
}

// rsPipeline is one pipeline (a WS-Management command of the pool's shell).
type rsPipeline struct {
	id        string
	pid       psrp.GUID
	defrag    psrp.Defragmenter
	out       *fragQueue
	cancel    context.CancelFunc
	started   bool
	receiving bool
}

// send queues one message for the client.
func (p *runspacePool) send(q *fragQueue, t psrp.MessageType, pid psrp.GUID, data []byte) {
	msg := psrp.Message{Destination: psrp.ToClient, Type: t, RPID: p.rpid, PID: pid, Data: data}.Marshal()
	p.mu.Lock()
	p.nextObj++
	id := p.nextObj
	p.mu.Unlock()
	var frags [][]byte
	for _, f := range psrp.Split(id, msg, psrpMaxBlob) {
		frags = append(frags, f.Append(nil))
	}
	q.push(frags...)
}

func (p *runspacePool) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.pipelines {
		if pl.cancel != nil {
			pl.cancel()
		}
	}
	p.state = psrp.PoolClosed
	p.out.close()
}

func (s *Server) psrpFault(text string) *fault {
	return &fault{Subcode: "w:InvalidParameter", Code: codeInvalidMsg, Machine: s.cfg.Host, Text: text}
}

// fragmentsOf decodes base64 stream content into fragments.
func fragmentsOf(b64 string) ([]psrp.Fragment, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("stream is not base64: %w", err)
	}
	return psrp.ParseFragments(raw)
}

// createPool answers a Create of the Microsoft.Exchange resource: a runspace pool, opened from the
// SESSION_CAPABILITY and INIT_RUNSPACEPOOL messages of creationXml (or of later Sends).
func (s *Server) createPool(sh *shell, body *shellBody, protocolVersion string) *fault {
	if v := strings.TrimSpace(protocolVersion); v != "" && !supportedProtocol(v) {
		return s.psrpFault(fmt.Sprintf("The WS-Management service cannot process the request. The protocol version %s is not supported. ", v))
	}
	p := &runspacePool{out: newFragQueue(), pipelines: map[string]*rsPipeline{}, state: psrp.PoolBeforeOpen}
	sh.pool = p
	if body == nil || strings.TrimSpace(body.CreationXML) == "" {
		return nil
	}
	frags, err := fragmentsOf(body.CreationXML)
	if err != nil {
		return s.psrpFault("The creationXml is not valid: " + err.Error() + ". ")
	}
	for _, f := range frags {
		if f := s.poolFragment(sh, f); f != nil {
			return f
		}
	}
	return nil
}

func supportedProtocol(v string) bool {
	major, minor, _ := strings.Cut(v, ".")
	return major == "2" && minor >= "1" && len(minor) == 1
}

// poolFragment takes one fragment addressed to the pool and processes the message it completes.
func (s *Server) poolFragment(sh *shell, f psrp.Fragment) *fault {
	p := sh.pool
	p.mu.Lock()
	raw, err := p.defrag.Add(f)
	p.mu.Unlock()
	if err != nil {
		return s.psrpFault(err.Error() + ". ")
	}
	if raw == nil {
		return nil
	}
	m, err := psrp.ParseMessage(raw)
	if err != nil {
		return s.psrpFault(err.Error() + ". ")
	}
	switch m.Type {
	case psrp.SessionCapability:
		p.mu.Lock()
		p.rpid = m.RPID
		p.state = psrp.PoolNegotiationSucceeded
		p.mu.Unlock()
		p.send(p.out, psrp.SessionCapability, psrp.GUID{}, psrp.SessionCapabilityData("2.0"))
	case psrp.InitRunspacePool:
		p.mu.Lock()
		negotiated := p.state == psrp.PoolNegotiationSucceeded
		p.state = psrp.PoolOpening
		p.mu.Unlock()
		if !negotiated {
			return s.psrpFault("INIT_RUNSPACEPOOL before SESSION_CAPABILITY. ")
		}
		p.send(p.out, psrp.ApplicationPrivateData, psrp.GUID{}, psrp.ApplicationPrivateDataData("5.1.17763.1"))
		// Opening the Exchange runspace loads the cmdlets and RBAC role entries of the user: seconds on a
		// real server, paid before the pool reports Opened.
		s.procs.Add(1)
		go func() {
			defer s.procs.Done()
			if !cost.Pay(s.base, s.cfg.RunspaceOpen) {
				return
			}
			p.mu.Lock()
			if p.state != psrp.PoolOpening {
				p.mu.Unlock()
				return
			}
			p.state = psrp.PoolOpened
			p.mu.Unlock()
			p.send(p.out, psrp.RunspacePoolStateMsg, psrp.GUID{}, psrp.RunspacePoolStateData(psrp.PoolOpened, nil))
		}()
	default:
		s.logger.Debug("psrp message to the pool ignored", "type", m.Type.String())
	}
	return nil
}

// psrpCommand starts a pipeline: the first fragments of CREATE_PIPELINE arrive in the command's arguments.
func (s *Server) psrpCommand(sh *shell, req *request, user string) (string, *fault) {
	cl := req.Body.CommandLine
	if cl == nil {
		return "", s.psrpFault("The Command request has no rsp:CommandLine. ")
	}
	p := sh.pool
	p.mu.Lock()
	opened := p.state == psrp.PoolOpened
	p.mu.Unlock()
	if !opened {
		return "", s.psrpFault("The runspace pool is not opened; a pipeline cannot be created. ")
	}
	id := strings.ToUpper(strings.TrimSpace(cl.CommandID))
	if id == "" {
		id = newUUID()
	}
	pl := &rsPipeline{id: id, out: newFragQueue()}
	p.mu.Lock()
	if _, dup := p.pipelines[id]; dup {
		p.mu.Unlock()
		return "", s.psrpFault(fmt.Sprintf("A pipeline with CommandId %s already exists. ", id))
	}
	p.pipelines[id] = pl
	p.mu.Unlock()
	for _, a := range cl.Arguments {
		if f := s.pipelineData(sh, pl, a, user); f != nil {
			return "", f
		}
	}
	return `<rsp:CommandResponse><rsp:CommandId>` + id + `</rsp:CommandId></rsp:CommandResponse>`, nil
}

// pipelineData takes base64 fragments for a pipeline and starts it once CREATE_PIPELINE is complete.
func (s *Server) pipelineData(sh *shell, pl *rsPipeline, b64, user string) *fault {
	frags, err := fragmentsOf(b64)
	if err != nil {
		return s.psrpFault(err.Error() + ". ")
	}
	for _, f := range frags {
		sh.pool.mu.Lock()
		raw, err := pl.defrag.Add(f)
		sh.pool.mu.Unlock()
		if err != nil {
			return s.psrpFault(err.Error() + ". ")
		}
		if raw == nil {
			continue
		}
		m, err := psrp.ParseMessage(raw)
		if err != nil {
			return s.psrpFault(err.Error() + ". ")
		}
		switch m.Type {
		case psrp.CreatePipeline:
			if pl.started {
				return s.psrpFault("CREATE_PIPELINE sent twice to one pipeline. ")
			}
			cmds, err := psrp.ParseCreatePipeline(m.Data)
			if err != nil {
				return s.psrpFault(err.Error() + ". ")
			}
			pl.started, pl.pid = true, m.PID
			s.startPipeline(sh.pool, pl, cmds, user)
		case psrp.PipelineInput, psrp.EndOfPipelineInput:
			// The Exchange operations exmaintd and its checks send take no input; accepted and dropped.
		default:
			return s.psrpFault(fmt.Sprintf("The message %s cannot be sent to a pipeline. ", m.Type))
		}
	}
	return nil
}

func (s *Server) startPipeline(p *runspacePool, pl *rsPipeline, cmds []psrp.Command, user string) {
	ctx, cancel := context.WithCancel(s.base)
	p.mu.Lock()
	pl.cancel = cancel
	p.mu.Unlock()
	s.procs.Add(1)
	go func() {
		defer s.procs.Done()
		defer cancel()
		out, errs, failed := s.cfg.Remoting.Invoke(ctx, s.cfg.Host, user, cmds)
		for _, v := range out {
			data, err := psrp.Encode(v)
			if err != nil {
				failed = &psrp.ErrorRecord{Message: "exchsim could not serialise an output object: " + err.Error(), FullyQualifiedErrorID: "ExchsimSerialization"}
				break
			}
			p.send(pl.out, psrp.PipelineOutput, pl.pid, data)
		}
		for _, e := range errs {
			data, _ := psrp.Encode(e.Object())
			p.send(pl.out, psrp.ErrorRecordMsg, pl.pid, data)
		}
		switch {
		case ctx.Err() != nil:
			stopped := &psrp.ErrorRecord{Message: "The pipeline has been stopped.", FullyQualifiedErrorID: "PipelineStopped", Category: "OperationStopped",
				ExceptionType: "System.Management.Automation.PipelineStoppedException"}
			p.send(pl.out, psrp.PipelineStateMsg, pl.pid, psrp.PipelineStateData(psrp.PipelineStopped, stopped))
		case failed != nil:
			p.send(pl.out, psrp.PipelineStateMsg, pl.pid, psrp.PipelineStateData(psrp.PipelineFailed, failed))
		default:
			p.send(pl.out, psrp.PipelineStateMsg, pl.pid, psrp.PipelineStateData(psrp.PipelineCompleted, nil))
		}
		pl.out.close()
	}()
}

func (s *Server) psrpSend(sh *shell, req *request, user string) (string, *fault) {
	if req.Body.Send == nil {
		return "", s.psrpFault("The Send request has no rsp:Send. ")
	}
	for _, st := range req.Body.Send.Streams {
		if !strings.EqualFold(st.Name, "stdin") && !strings.EqualFold(st.Name, "pr") {
			return "", s.psrpFault(fmt.Sprintf("The stream %q is not an input stream of this shell (stdin pr). ", st.Name))
		}
		if st.CommandID == "" {
			frags, err := fragmentsOf(st.Data)
			if err != nil {
				return "", s.psrpFault(err.Error() + ". ")
			}
			for _, f := range frags {
				if f := s.poolFragment(sh, f); f != nil {
					return "", f
				}
			}
			continue
		}
		pl := sh.pool.pipeline(st.CommandID)
		if pl == nil {
			f := commandNotFoundFault(s.cfg.Host, sh.id, st.CommandID)
			return "", &f
		}
		if f := s.pipelineData(sh, pl, st.Data, user); f != nil {
			return "", f
		}
	}
	return `<rsp:SendResponse/>`, nil
}

func (p *runspacePool) pipeline(id string) *rsPipeline {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pipelines[strings.ToUpper(strings.TrimSpace(id))]
}

// psrpReceive long-polls the pool's or a pipeline's output (MS-PSRP 3.1.5.3.7/8): whole fragments in a
// stdout stream; CommandState Done once a pipeline has ended and everything was taken.
func (s *Server) psrpReceive(ctx context.Context, sh *shell, req *request) (string, *fault) {
	if req.Body.Receive == nil {
		return "", s.psrpFault("The Receive request has no rsp:Receive. ")
	}
	p := sh.pool
	id := strings.ToUpper(strings.TrimSpace(req.Body.Receive.DesiredStream.CommandID))
	q := p.out
	flag := &p.receiving
	if id != "" {
		pl := p.pipeline(id)
		if pl == nil {
			f := commandNotFoundFault(s.cfg.Host, sh.id, id)
			return "", &f
		}
		q, flag = pl.out, &pl.receiving
	}
	p.mu.Lock()
	if *flag {
		p.mu.Unlock()
		return "", s.psrpFault("The WS-Management service cannot process the request because another Receive for this target is outstanding. ")
	}
	*flag = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		*flag = false
		p.mu.Unlock()
		sh.touch(s.cfg.Now())
	}()
	timer := time.NewTimer(s.receiveTimeout(req))
	defer timer.Stop()
	for {
		n, closed, ch := q.state()
		if n > 0 || closed {
			return s.psrpReply(req, p, id, q), nil
		}
		select {
		case <-ch:
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

func (s *Server) psrpReply(req *request, p *runspacePool, id string, q *fragQueue) string {
	data, drained := q.take(receiveBudget(req))
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	cmdAttr := ""
	if id != "" {
		cmdAttr = ` CommandId="` + id + `"`
	}
	if len(data) > 0 {
		b.WriteString(`<rsp:Stream Name="stdout"` + cmdAttr + `>` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`)
	}
	switch {
	case id != "" && drained:
		b.WriteString(`<rsp:CommandState` + cmdAttr + ` State="` + stateDone + `"/>`)
		p.mu.Lock()
		delete(p.pipelines, id)
		p.mu.Unlock()
	case id != "":
		b.WriteString(`<rsp:CommandState` + cmdAttr + ` State="` + stateRunning + `"/>`)
	case drained: // the pool was closed
		b.WriteString(`<rsp:CommandState State="` + stateDone + `"/>`)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}

func (s *Server) psrpSignal(sh *shell, req *request) (string, *fault) {
	if req.Body.Signal == nil {
		return "", s.psrpFault("The Signal request has no rsp:Signal. ")
	}
	pl := sh.pool.pipeline(req.Body.Signal.CommandID)
	if pl == nil {
		f := commandNotFoundFault(s.cfg.Host, sh.id, req.Body.Signal.CommandID)
		return "", &f
	}
	switch strings.TrimSpace(req.Body.Signal.Code) {
	case signalPSCtrlC, signalCtrlC:
		sh.pool.mu.Lock()
		cancel := pl.cancel
		sh.pool.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case signalTerminate:
		sh.pool.mu.Lock()
		if pl.cancel != nil {
			pl.cancel()
		}
		delete(sh.pool.pipelines, pl.id)
		sh.pool.mu.Unlock()
	default:
		return "", s.psrpFault(fmt.Sprintf("The signal code %s is not supported. ", req.Body.Signal.Code))
	}
	return `<rsp:SignalResponse/>`, nil
}

// receiveBudget is how many raw bytes fit one Receive reply under the request's MaxEnvelopeSize.
func receiveBudget(req *request) int {
	maxEnv := 153600
	if n, err := fmt.Sscan(strings.TrimSpace(req.Header.MaxEnvelopeSize), &maxEnv); n != 1 || err != nil || maxEnv <= 0 {
		maxEnv = 153600
	}
	return max((maxEnv-2048)*3/4, 1024)
}
