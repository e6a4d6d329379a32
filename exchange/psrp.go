package exchange

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/masterzen/simplexml/dom"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/exmaintd/exmaintd/psrp"
)

// The Exchange channel: a PSRP runspace pool on Exchange's own remote PowerShell endpoint
// (http(s)://<fqdn>/PowerShell, configuration Microsoft.Exchange), as the Exchange Management Shell connects.
// Commands are sent as command objects with typed parameters; the endpoint is NoLanguage. See
// docs/exchange-client.md.

const (
	resourceExchange = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
	nsPowerShell     = "http://schemas.microsoft.com/powershell"
	signalPSCtrlC    = "http://schemas.microsoft.com/powershell/signal/crtl_c"
	stateDoneURI     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	// fragmentBlob keeps each fragment well inside one WS-Management envelope (153600 bytes, base64 4/3).
	fragmentBlob = 32 << 10
	// maxMessage bounds one reassembled PSRP message: one object of output (the largest exmaintd reads,
	// a copy-status row in full, is ≈ 27 KiB; BENCHMARKS.md) or a state or error record.
	maxMessage = 4 << 20
)

// pool is one runspace pool: the persistent session of the Exchange cmdlets on one server.
type pool struct {
	t       *transport
	params  *winrm.Parameters
	shellID string
	rpid    psrp.GUID
	nextObj uint64
	defrag  psrp.Defragmenter
	budget  func() *psrp.Budget // a fresh one for each command
	logger  *slog.Logger
}

func (p *pool) objectID() uint64 {
	p.nextObj++
	return p.nextObj
}

func (p *pool) header(msg *soap.SoapMessage, action string) *soap.SoapHeader {
	return wsmanHeader(msg, p.t.url, p.params, action, resourceExchange)
}

// wsmanHeader is the WS-Management header of a request exmaintd builds itself (masterzen's defaultHeaders
// is unexported): addressing, the envelope size, a fresh message id, the locale and operation timeout.
func wsmanHeader(msg *soap.SoapMessage, url string, params *winrm.Parameters, action, resource string) *soap.SoapHeader {
	return msg.Header().To(url).ReplyTo("http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous").
		MaxEnvelopeSize(params.EnvelopeSize).Id("uuid:" + psrp.NewGUID().String()).Locale(params.Locale).Timeout(params.Timeout).
		Action(action).ResourceURI(resource)
}

func (p *pool) fragments(t psrp.MessageType, pid psrp.GUID, data []byte) []psrp.Fragment {
	msg := psrp.Message{Destination: psrp.ToServer, Type: t, RPID: p.rpid, PID: pid, Data: data}.Marshal()
	return psrp.Split(p.objectID(), msg, fragmentBlob)
}

func encodeFragments(fs ...psrp.Fragment) string {
	var b []byte
	for _, f := range fs {
		b = f.Append(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// openPool creates the runspace pool (SESSION_CAPABILITY and INIT_RUNSPACEPOOL travel in the Create's
// creationXml, MS-PSRP 3.1.5.3.1) and waits until the server reports it Opened.
func openPool(ctx context.Context, t *transport, params *winrm.Parameters, budget func() *psrp.Budget, logger *slog.Logger) (*pool, error) {
	p := &pool{t: t, params: params, rpid: psrp.NewGUID(), defrag: psrp.Defragmenter{Max: maxMessage}, budget: budget, logger: logger}
	p.shellID = p.rpid.Upper()
	creation := append(p.fragments(psrp.SessionCapability, psrp.GUID{}, psrp.SessionCapabilityData("2.0")),
		p.fragments(psrp.InitRunspacePool, psrp.GUID{}, psrp.InitRunspacePoolData(1, 1))...)
	msg := soap.NewMessage()
	p.header(msg, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create").
		AddOption(soap.NewHeaderOption("protocolversion", psrp.ProtocolVersion)).Build()
	shell := msg.CreateBodyElement("Shell", soap.DOM_NS_WIN_SHELL)
	shell.SetAttr("ShellId", p.shellID)
	msg.CreateElement(shell, "InputStreams", soap.DOM_NS_WIN_SHELL).SetContent("stdin pr")
	msg.CreateElement(shell, "OutputStreams", soap.DOM_NS_WIN_SHELL).SetContent("stdout")
	cx := msg.CreateElement(shell, "creationXml", dom.Namespace{Prefix: "ps", Uri: nsPowerShell})
	cx.DeclareNamespace(dom.Namespace{Prefix: "ps", Uri: nsPowerShell})
	cx.SetContent(encodeFragments(creation...))
	reply, err := t.post(ctx, "Create", msg)
	if err != nil {
		return nil, err
	}
	id, err := winrm.ParseOpenShellResponse(string(reply))
	if err == nil && id == "" {
		err = errors.New("no ShellId selector")
	}
	if err != nil {
		return nil, &ProtocolError{Server: t.server, What: "Create reply (runspace pool)", Err: err}
	}
	p.shellID = id
	for {
		msgs, _, err := p.receive(ctx, "")
		if err != nil {
			p.discard(time.Second)
			return nil, err
		}
		for _, m := range msgs {
			if m.Type != psrp.RunspacePoolStateMsg {
				continue
			}
			st, rec, err := psrp.State(m.Data)
			if err != nil {
				p.discard(time.Second)
				return nil, &ProtocolError{Server: t.server, What: "RUNSPACEPOOL_STATE", Err: err}
			}
			switch st {
			case psrp.PoolOpened:
				return p, nil
			case psrp.PoolBroken, psrp.PoolClosed:
				p.discard(time.Second)
				if rec != nil {
					return nil, &PSError{Server: t.server, Cmdlet: "runspace pool", Message: rec.Message, ErrorID: rec.FullyQualifiedErrorID, Category: rec.Category}
				}
				return nil, &ProtocolError{Server: t.server, What: "runspace pool", Err: fmt.Errorf("state %d", st)}
			}
		}
	}
}

// receiveReply is the part of a ReceiveResponse PSRP reads.
type receiveReply struct {
	Streams []struct {
		Name      string `xml:"Name,attr"`
		CommandID string `xml:"CommandId,attr"`
		Data      string `xml:",chardata"`
	} `xml:"Body>ReceiveResponse>Stream"`
	States []struct {
		CommandID string `xml:"CommandId,attr"`
		State     string `xml:"State,attr"`
	} `xml:"Body>ReceiveResponse>CommandState"`
}

// receive performs one Receive for the pool (commandID "") or a pipeline and returns the whole messages it
// completed and whether the command is done. An OperationTimeout fault is an empty answer.
func (p *pool) receive(ctx context.Context, commandID string) ([]psrp.Message, bool, error) {
	msg := soap.NewMessage()
	h := p.header(msg, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive").ShellId(p.shellID)
	h.Build()
	body := msg.CreateBodyElement("Receive", soap.DOM_NS_WIN_SHELL)
	ds := msg.CreateElement(body, "DesiredStream", soap.DOM_NS_WIN_SHELL)
	ds.SetContent("stdout")
	if commandID != "" {
		ds.SetAttr("CommandId", commandID)
	}
	reply, err := p.t.post(ctx, "Receive", msg)
	if err != nil {
		if f, ok := asFault(err); ok && f.Code == FaultOperationTimeout {
			return nil, false, nil
		}
		return nil, false, err
	}
	var r receiveReply
	if err := xml.Unmarshal(reply, &r); err != nil {
		return nil, false, &ProtocolError{Server: p.t.server, What: "Receive reply", Err: err}
	}
	var out []psrp.Message
	for _, s := range r.Streams {
		if !strings.EqualFold(s.Name, "stdout") {
			continue // MS-PSRP 3.1.5.3.8: anything but stdout is discarded
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.Data))
		if err != nil {
			return nil, false, &ProtocolError{Server: p.t.server, What: "Receive stream", Err: err}
		}
		frags, err := psrp.ParseFragments(raw)
		if err != nil {
			return nil, false, &ProtocolError{Server: p.t.server, What: "PSRP fragments", Err: err}
		}
		for _, f := range frags {
			whole, err := p.defrag.Add(f)
			if err != nil {
				return nil, false, &ProtocolError{Server: p.t.server, What: "PSRP fragments", Err: err}
			}
			if whole == nil {
				continue
			}
			m, err := psrp.ParseMessage(whole)
			if err != nil {
				return nil, false, &ProtocolError{Server: p.t.server, What: "PSRP message", Err: err}
			}
			out = append(out, m)
		}
	}
	done := false
	for _, st := range r.States {
		if st.State == stateDoneURI {
			done = true
		}
	}
	return out, done, nil
}

// result is what one pipeline returned.
type result struct {
	Output   []any
	Warnings []string
}

// run executes cmd as a pipeline and waits for its end. A pipeline that fails, or writes an error record,
// is a *PSError (the Exchange cmdlets exmaintd runs stop on their first error). When ctx ends, the pipeline
// is stopped (Signal) before run returns. sent reports whether the server may have started the command.
func (p *pool) run(ctx context.Context, cmd psrp.Command) (res result, sent bool, err error) {
	data, err := psrp.CreatePipelineData(cmd)
	if err != nil {
		return res, false, fmt.Errorf("%s: %w", cmd.Name, err)
	}
	pid := psrp.NewGUID()
	commandID := pid.Upper()
	frags := p.fragments(psrp.CreatePipeline, pid, data)
	msg := soap.NewMessage()
	p.header(msg, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command").ShellId(p.shellID).Build()
	cl := msg.CreateBodyElement("CommandLine", soap.DOM_NS_WIN_SHELL)
	cl.SetAttr("CommandId", commandID)
	msg.CreateElement(cl, "Command", soap.DOM_NS_WIN_SHELL)
	msg.CreateElement(cl, "Arguments", soap.DOM_NS_WIN_SHELL).SetContent(encodeFragments(frags[0]))
	if _, err := p.t.post(ctx, "Command", msg); err != nil {
		return res, !notDelivered(err), err
	}
	for _, f := range frags[1:] {
		if err := p.send(ctx, commandID, f); err != nil {
			p.stop(commandID)
			return res, true, err
		}
	}
	var errRec *psrp.ErrorRecord
	var final error // set once PIPELINE_STATE ended the pipeline
	ended := false
	budget := p.budget() // everything this command's replies decode to: a server cannot make it hold more
	decode := func(data []byte, what string) (any, error) {
		v, err := psrp.DecodeWithin(data, budget)
		if err != nil {
			p.stop(commandID)
			return nil, &ProtocolError{Server: p.t.server, What: cmd.Name + " " + what, Err: err}
		}
		return v, nil
	}
	for {
		msgs, done, err := p.receive(ctx, commandID)
		if err != nil {
			if ctx.Err() != nil {
				p.stop(commandID)
			}
			return res, true, err
		}
		for _, m := range msgs {
			switch m.Type {
			case psrp.PipelineOutput:
				v, err := decode(m.Data, "output")
				if err != nil {
					return res, true, err
				}
				res.Output = append(res.Output, v)
			case psrp.ErrorRecordMsg:
				if errRec == nil {
					v, err := decode(m.Data, "error record")
					if err != nil {
						return res, true, err
					}
					o, _ := v.(*psrp.Object)
					if o == nil {
						return res, true, &ProtocolError{Server: p.t.server, What: cmd.Name + " error record", Err: fmt.Errorf("a %T, not an object", v)}
					}
					r := psrp.ParseErrorRecord(o)
					errRec = &r
				}
			case psrp.WarningRecord:
				v, err := decode(m.Data, "warning")
				if err != nil {
					return res, true, err
				}
				res.Warnings = append(res.Warnings, informational(v)) // within the command's decode budget
			case psrp.PipelineStateMsg:
				st, rec, err := psrp.State(m.Data)
				if err != nil {
					return res, true, &ProtocolError{Server: p.t.server, What: "PIPELINE_STATE", Err: err}
				}
				if rec != nil && errRec == nil {
					errRec = rec
				}
				switch st {
				case psrp.PipelineCompleted:
					ended = true
					if errRec != nil {
						final = psError(p.t.server, cmd.Name, errRec)
					}
				case psrp.PipelineFailed, psrp.PipelineStopped:
					ended = true
					if errRec == nil {
						errRec = &psrp.ErrorRecord{Message: "pipeline ended in state " + strconv.Itoa(int(st))}
					}
					final = psError(p.t.server, cmd.Name, errRec)
				}
			}
		}
		// The command is over for WS-Management only with CommandState Done (MS-PSRP 3.1.5.3.8), which the
		// server sends once the pipeline has ended and everything was received; receiving up to it leaves no
		// command behind in the shell.
		switch {
		case done && ended:
			return res, true, final
		case done:
			return res, true, &ProtocolError{Server: p.t.server, What: cmd.Name, Err: errors.New("the command ended without a PIPELINE_STATE")}
		}
	}
}

// informational is the message of a warning/verbose/debug record (MS-PSRP 2.2.3.16).
func informational(v any) string {
	o, _ := v.(*psrp.Object)
	if m, ok := o.Get("InformationalRecord_Message"); ok {
		return psrp.Text(m)
	}
	return psrp.Text(v)
}

func psError(server, cmdlet string, r *psrp.ErrorRecord) *PSError {
	return &PSError{Server: server, Cmdlet: cmdlet, Message: r.Message, ErrorID: r.FullyQualifiedErrorID, Category: r.Category}
}

func (p *pool) send(ctx context.Context, commandID string, f psrp.Fragment) error {
	msg := soap.NewMessage()
	p.header(msg, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send").ShellId(p.shellID).Build()
	send := msg.CreateBodyElement("Send", soap.DOM_NS_WIN_SHELL)
	st := msg.CreateElement(send, "Stream", soap.DOM_NS_WIN_SHELL)
	st.SetAttr("Name", "stdin")
	st.SetAttr("CommandId", commandID)
	st.SetContent(encodeFragments(f))
	_, err := p.t.post(ctx, "Send", msg)
	return err
}

// stop stops a pipeline (MS-PSRP 3.1.4.4), bounded and best effort: the pool may already be gone.
func (p *pool) stop(commandID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := soap.NewMessage()
	p.header(msg, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal").ShellId(p.shellID).Build()
	sig := msg.CreateBodyElement("Signal", soap.DOM_NS_WIN_SHELL)
	sig.SetAttr("CommandId", commandID)
	msg.CreateElement(sig, "Code", soap.DOM_NS_WIN_SHELL).SetContent(signalPSCtrlC)
	_, _ = p.t.post(ctx, "Signal", msg)
}

// discard closes the pool (Delete), bounded and best effort.
func (p *pool) discard(within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	msg := soap.NewMessage()
	p.header(msg, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete").ShellId(p.shellID).Build()
	msg.NewBody()
	_, _ = p.t.post(ctx, "Delete", msg)
}
