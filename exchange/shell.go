package exchange

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// shell is one WinRS shell on the listener, driven verb by verb with masterzen's SOAP builders and parsers
// and exmaintd's own transport (deadlines, fault codes).
type shell struct {
	t      *transport
	id     string
	params *winrm.Parameters
}

// shellParams are the WS-Management header values for one client. A fresh Parameters per client: masterzen's
// DefaultParameters is a shared global and is never touched.
func shellParams(opTimeout time.Duration) *winrm.Parameters {
	return winrm.NewParameters(fmt.Sprintf("PT%dS", int(opTimeout.Seconds())), "en-US", 153600)
}

func (t *transport) createShell(ctx context.Context, params *winrm.Parameters) (*shell, error) {
	reply, err := t.post(ctx, "Create", winrm.NewOpenShellRequest(t.url, params))
	if err != nil {
		return nil, err
	}
	id, err := winrm.ParseOpenShellResponse(string(reply))
	if err == nil && id == "" {
		err = fmt.Errorf("no ShellId selector")
	}
	if err != nil {
		return nil, &ProtocolError{Server: t.server, What: "Create reply", Err: err}
	}
	return &shell{t: t, id: id, params: params}, nil
}

// command starts a process in the shell and returns its CommandId.
func (s *shell) command(ctx context.Context, exe string, args []string) (string, error) {
	reply, err := s.t.post(ctx, "Command", commandRequest(s.t.url, s.id, exe, args, s.params))
	if err != nil {
		return "", err
	}
	id, err := winrm.ParseExecuteCommandResponse(string(reply))
	if err == nil && id == "" {
		err = fmt.Errorf("no CommandId")
	}
	if err != nil {
		return "", &ProtocolError{Server: s.t.server, What: "Command reply", Err: err}
	}
	return id, nil
}

// commandRequest is masterzen's Command request (winrm.NewExecuteCommandRequest) with standard input in
// pipe mode: masterzen always sends WINRS_CONSOLEMODE_STDIN=TRUE, which gives the process a console for
// standard input (MS-WSMV 2.2.4.9), and Windows PowerShell 5.1 reads at most 254 characters a line from a
// console (docs/session-protocol.md). Ansible's winrm connection uses pipe mode whenever it streams stdin.
func commandRequest(url, shellID, exe string, args []string, params *winrm.Parameters) *soap.SoapMessage {
	msg := soap.NewMessage()
	wsmanHeader(msg, url, params, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd").
		ShellId(shellID).
		AddOption(soap.NewHeaderOption("WINRS_CONSOLEMODE_STDIN", "FALSE")).
		AddOption(soap.NewHeaderOption("WINRS_SKIP_CMD_SHELL", "FALSE")).
		Build()
	body := msg.CreateBodyElement("CommandLine", soap.DOM_NS_WIN_SHELL)
	msg.CreateElement(body, "Command", soap.DOM_NS_WIN_SHELL).SetContent("<![CDATA[" + exe + "]]>")
	for _, a := range args {
		msg.CreateElement(body, "Arguments", soap.DOM_NS_WIN_SHELL).SetContent("<![CDATA[" + a + "]]>")
	}
	return msg
}

// send writes data to the command's stdin (one Send); eof closes stdin.
func (s *shell) send(ctx context.Context, cmd string, data []byte, eof bool) error {
	_, err := s.t.post(ctx, "Send", winrm.NewSendInputRequest(s.t.url, s.id, cmd, data, eof, s.params))
	return err
}

// output is what one Receive brought.
type output struct {
	stdout, stderr []byte
	done           bool
	exitCode       int
}

// receive performs one Receive. An OperationTimeout fault (no output within the operation timeout) is a
// normal empty answer.
func (s *shell) receive(ctx context.Context, cmd string) (output, error) {
	reply, err := s.t.post(ctx, "Receive", winrm.NewGetOutputRequest(s.t.url, s.id, cmd, "stdout stderr", s.params))
	if err != nil {
		if f, ok := asFault(err); ok && f.Code == FaultOperationTimeout {
			return output{}, nil
		}
		return output{}, err
	}
	var stdout, stderr bytes.Buffer
	done, code, err := winrm.ParseSlurpOutputErrResponse(string(reply), &stdout, &stderr)
	if err != nil {
		return output{}, &ProtocolError{Server: s.t.server, What: "Receive reply", Err: err}
	}
	return output{stdout: stdout.Bytes(), stderr: stderr.Bytes(), done: done, exitCode: code}, nil
}

func (s *shell) signal(ctx context.Context, cmd string) error {
	_, err := s.t.post(ctx, "Signal", winrm.NewSignalRequest(s.t.url, s.id, cmd, s.params))
	return err
}

func (s *shell) delete(ctx context.Context) error {
	_, err := s.t.post(ctx, "Delete", winrm.NewDeleteShellRequest(s.t.url, s.id, s.params))
	return err
}

// discard ends a command and deletes the shell, best effort and bounded: the shell may already be gone
// (reboot, expiry), and a leaked one expires on the server by its idle timeout.
func (s *shell) discard(cmd string, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if cmd != "" {
		_ = s.signal(ctx, cmd)
	}
	_ = s.delete(ctx)
}
