package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/masterzen/winrm"

	"github.com/exmaintd/exmaintd/sentinel"
)

// maxPending bounds the stdout a session buffers while waiting for a reply's end marker.
const maxPending = 64 << 20

// session is one persistent PowerShell process on a WinRM shell, speaking docs/session-protocol.md. Not safe
// for concurrent use: the Client serialises calls.
type session struct {
	sh      *shell
	cmd     string
	nonce   string
	next    uint64
	pending []byte // stdout not yet consumed: at most one partial line after each read
	logger  *slog.Logger
}

// errNotSent marks a failure that provably happened before a request reached the PowerShell process (the
// shell was already gone, or the connection was refused): a state-changing call may be retried on a new
// session.
const errNotSent = sentinel.Error("request not delivered")

// startSession creates a shell, starts the loop and waits for READY. load is the loading statement.
func startSession(ctx context.Context, t *transport, params *winrm.Parameters, load string, logger *slog.Logger) (*session, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("session nonce: %w", err)
	}
	nonce := hex.EncodeToString(raw[:])
	sh, err := t.createShell(ctx, params)
	if err != nil {
		return nil, err
	}
	s := &session{sh: sh, nonce: nonce, next: 1, logger: logger}
	cmd, err := sh.command(ctx, "powershell.exe", powershellArgs(loopScript(nonce, load)))
	if err != nil {
		sh.discard("", 5*time.Second)
		return nil, err
	}
	s.cmd = cmd
	for {
		line, err := s.readLine(ctx)
		if err != nil {
			s.close()
			return nil, err
		}
		if report, ok := readyReport(line, nonce); ok {
			if err := checkReady(t.server, report); err != nil {
				s.close()
				return nil, err
			}
			s.logger.Debug("session ready", "server", t.server, "report", report)
			return s, nil
		}
		r, ok, perr := s.parseReply(line)
		if perr != nil {
			s.close()
			return nil, perr
		}
		if ok && r.id == 0 {
			s.close()
			return nil, r.psError(t.server, "loading Exchange ("+firstWord(load)+")")
		}
		if line != "" { // the loop starts every reply on a fresh line: empty lines are its own
			s.logger.Debug("foreign output before READY", "server", t.server, "line", line)
		}
	}
}

// readyReport recognises the loop's READY line for this session's nonce and returns what follows READY.
func readyReport(line, nonce string) (report string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "#EXM1" || f[1] != nonce || f[2] != "READY" {
		return "", false
	}
	return strings.Join(f[3:], " "), true
}

// checkReady refuses a session whose loop did not report pipe-mode standard input (docs/session-protocol.md):
// on a console, Windows PowerShell 5.1 cuts every line read at 254 characters, and most requests are longer.
func checkReady(server, report string) error {
	for _, f := range strings.Fields(report) {
		if mode, ok := strings.CutPrefix(f, "stdin="); ok {
			if mode == "pipe" {
				return nil
			}
			return &ProtocolError{Server: server, What: "session start", Err: fmt.Errorf("the session loop reports stdin=%s (%s): exmaintd needs a pipe (WINRS_CONSOLEMODE_STDIN=FALSE); a console cuts request lines at 254 characters", mode, report)}
		}
	}
	return &ProtocolError{Server: server, What: "session start", Err: fmt.Errorf("the session loop's READY line does not report its stdin (%q): an older or altered loop", report)}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimLeft(s, ". "), " ")
	return w
}

// close ends the session: EOF on stdin lets the loop exit; Signal and Delete remove the shell. Bounded,
// best effort.
func (s *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.sh.send(ctx, s.cmd, nil, true)
	s.sh.discard(s.cmd, 5*time.Second)
}

// do sends one request script and returns its reply payload. A PowerShell error is a *PSError (the session
// stays usable); any other error means the session is lost: wrapped in errNotSent when the request never
// reached the process.
func (s *session) do(ctx context.Context, server, cmdlet, script string) (string, error) {
	id := s.next
	s.next++
	line := "#EXM1 " + strconv.FormatUint(id, 10) + " " + base64.StdEncoding.EncodeToString([]byte(script)) + "\r\n"
	if err := s.sh.send(ctx, s.cmd, []byte(line), false); err != nil {
		if notDelivered(err) {
			return "", fmt.Errorf("%w: %w", errNotSent, err)
		}
		return "", err
	}
	for {
		l, err := s.readLine(ctx)
		if err != nil {
			return "", err
		}
		r, ok, err := s.parseReply(l)
		switch {
		case err != nil:
			return "", err
		case !ok:
			if l != "" { // the loop starts every reply on a fresh line: empty lines are its own
				s.logger.Debug("foreign output in session", "server", server, "line", l)
			}
			continue
		case r.id != id:
			s.logger.Warn("reply for another request ignored", "server", server, "want", id, "got", r.id)
			continue
		case r.kind == "ERR":
			return "", r.psError(server, cmdlet)
		}
		return r.payload, nil
	}
}

// notDelivered tells whether a failed Send certainly did not reach the process: the shell was gone, or no
// connection could be made.
func notDelivered(err error) bool {
	if f, ok := asFault(err); ok && f.Code == FaultShellNotFound {
		return true
	}
	var te *TransportError
	return errors.As(err, &te) && isDialError(te.Err)
}

// sessionEnded is returned when the PowerShell process exited (CommandState Done) while a reply was awaited.
type sessionEnded struct {
	code   int
	stderr string
}

func (e *sessionEnded) Error() string {
	msg := fmt.Sprintf("powershell.exe exited with code %d", e.code)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

// readLine returns the next complete stdout line (without CR LF), receiving as needed.
func (s *session) readLine(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	for {
		if i := bytes.IndexByte(s.pending, '\n'); i >= 0 {
			line := strings.TrimRight(string(s.pending[:i]), "\r")
			s.pending = s.pending[i+1:]
			return line, nil
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		out, err := s.sh.receive(ctx, s.cmd)
		if err != nil {
			return "", err
		}
		s.pending = append(s.pending, out.stdout...)
		if len(out.stderr) > 0 {
			stderr.Write(out.stderr)
			s.logger.Debug("session stderr", "text", string(out.stderr))
		}
		if len(s.pending) > maxPending {
			return "", &ProtocolError{Server: s.sh.t.server, What: "session output", Err: fmt.Errorf("more than %d bytes without a line end", maxPending)}
		}
		if out.done && bytes.IndexByte(s.pending, '\n') < 0 {
			return "", &sessionEnded{code: out.exitCode, stderr: cliXMLText(stderr.String())}
		}
	}
}

// reply is one parsed reply frame.
type reply struct {
	id      uint64
	kind    string // OK or ERR
	payload string
}

// parseReply reads "#EXM1 <nonce> <id> OK|ERR <len> <b64> #END". ok is false for foreign output (no frame of
// this session). A line that starts like a frame of this session but is not a whole, consistent frame is an
// error: the session's output is corrupt and the session must not be trusted further.
func (s *session) parseReply(line string) (r reply, ok bool, err error) {
	f := strings.Split(strings.TrimSpace(line), " ")
	if len(f) < 2 || f[0] != "#EXM1" || f[1] != s.nonce {
		return reply{}, false, nil
	}
	corrupt := func(why string) (reply, bool, error) {
		return reply{}, false, &ProtocolError{Server: s.sh.t.server, What: "session reply", Err: fmt.Errorf("%s in %.80q", why, line)}
	}
	if len(f) != 7 || f[6] != "#END" {
		return corrupt("frame without its end marker")
	}
	if f[3] != "OK" && f[3] != "ERR" {
		return corrupt("unknown reply kind")
	}
	id, perr := strconv.ParseUint(f[2], 10, 64)
	n, nerr := strconv.Atoi(f[4])
	if perr != nil || nerr != nil {
		return corrupt("bad id or length")
	}
	b, berr := base64.StdEncoding.DecodeString(f[5])
	if berr != nil || len(b) != n {
		return corrupt("payload does not match its length")
	}
	return reply{id: id, kind: f[3], payload: string(b)}, true, nil
}

// psError turns an ERR payload into a *PSError.
func (r reply) psError(server, cmdlet string) error {
	var e struct {
		Message  string `json:"message"`
		Category string `json:"category"`
		ErrorID  string `json:"errorId"`
		Type     string `json:"type"`
	}
	if err := json.Unmarshal([]byte(r.payload), &e); err != nil {
		return &PSError{Server: server, Cmdlet: cmdlet, Message: r.payload}
	}
	return &PSError{Server: server, Cmdlet: cmdlet, Message: e.Message, Category: e.Category, ErrorID: e.ErrorID, Type: e.Type}
}
