package exchange

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

// execCommand runs op the runbook way: a new shell and powershell.exe for this operation only, the script
// (with the Exchange load in front) as -EncodedCommand, or over stdin through the session loop when the
// command line would exceed cmd.exe's limit. unsent tells that PowerShell certainly did not start.
func (c *Client) execCommand(ctx context.Context, op Op) (string, bool, error) {
	script := "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'\n"
	if c.load != "" {
		script += c.load + "\n"
	}
	script += op.Script
	args := powershellArgs(script)
	if commandLineLength("powershell.exe", args) > commandLineLimit {
		return c.execCommandStdin(ctx, op)
	}
	sh, err := c.t.createShell(ctx, c.params)
	if err != nil {
		return "", true, err
	}
	cmd, err := sh.command(ctx, "powershell.exe", args)
	if err != nil {
		sh.discard("", 5*time.Second)
		return "", isDialError(err), err
	}
	var stdout, stderr bytes.Buffer
	for {
		out, err := sh.receive(ctx, cmd)
		if err != nil {
			sh.discard(cmd, 5*time.Second)
			return "", false, err
		}
		stdout.Write(out.stdout)
		stderr.Write(out.stderr)
		if stdout.Len()+stderr.Len() > maxPending {
			sh.discard(cmd, 5*time.Second)
			return "", false, &ProtocolError{Server: c.ep.Name, What: op.Cmdlet + " output", Err: fmt.Errorf("more than %d bytes", maxPending)}
		}
		if out.done {
			sh.discard(cmd, 5*time.Second)
			if out.exitCode != 0 || stderr.Len() > 0 && strings.Contains(stderr.String(), `S="Error"`) {
				e := psErrorFromCLIXML(c.ep.Name, op.Cmdlet, stderr.String())
				if e.Message == "" {
					e.Message = fmt.Sprintf("powershell.exe exited with code %d", out.exitCode)
				}
				return "", false, e
			}
			return strings.TrimSpace(stdout.String()), false, nil
		}
	}
}

// execCommandStdin runs one long script in per-command mode: the session loop, one request, then EOF.
func (c *Client) execCommandStdin(ctx context.Context, op Op) (string, bool, error) {
	s, err := startSession(ctx, c.t, c.params, c.load, c.logger)
	if err != nil {
		return "", true, err
	}
	defer s.close()
	out, err := s.do(ctx, c.ep.Name, op.Cmdlet, op.Script)
	return out, errorsIsNotSent(err), err
}
