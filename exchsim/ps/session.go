package ps

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// sessionMarker is the first line of the persistent session loop (docs/session-protocol.md).
const sessionMarker = "# exmaintd-session/1"

// session runs the persistent session protocol natively: load Exchange, READY, then one framed reply per
// framed request, with state (variables, snap-in) kept across requests as in one real process.
func (r *Runtime) session(pr *proc, script string, stdin io.Reader, stdout io.Writer) int {
	// The loop is recognised, not interpreted (it is outside the dialect): these patterns extract its two
	// substitutions.
	nonceRE := regexp.MustCompile(`(?m)^\$exmNonce = '([0-9a-f]{32})'\s*$`)
	loadRE := regexp.MustCompile(`(?m)^try \{ (.*) \} catch \{ exmReply '0' 'ERR'`)
	m := nonceRE.FindStringSubmatch(script)
	if m == nil {
		_, _ = io.WriteString(stdout, "exchsim: session loop without a valid $exmNonce line\r\n")
		return 1
	}
	nonce := m[1]
	pr.vars["erroractionpreference"] = "Stop"
	pr.vars["progresspreference"] = "SilentlyContinue"
	reply := func(id, kind, text string) { // on a fresh line, as the loop's exmReply writes it
		if pr.ctx.Err() != nil {
			return // a process that was stopped (its host went down, its shell was deleted) writes nothing more
		}
		fmt.Fprintf(stdout, "\r\n#EXM1 %s %s %s %d %s #END\r\n", nonce, id, kind, len(text), base64.StdEncoding.EncodeToString([]byte(text)))
	}
	if lm := loadRE.FindStringSubmatch(script); lm != nil && strings.TrimSpace(lm[1]) != "" {
		if _, err := r.request(pr, lm[1]); err != nil {
			reply("0", "ERR", errorJSON(err))
			return 1
		}
	}
	// The loop reports whether its stdin is redirected and the console's encodings (WinRS sets both from
	// the shell's WINRS_CODEPAGE).
	mode := "pipe"
	if pr.consoleStdin {
		mode = "console"
	}
	enc := encodingName(pr.codepage)
	fmt.Fprintf(stdout, "#EXM1 %s READY stdin=%s in=%s out=%s\r\n", nonce, mode, enc, enc)
	br := bufio.NewReader(stdin)
	for {
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			return 0 // stdin closed: the client ended the session
		}
		f := strings.Split(strings.TrimSpace(line), " ")
		if len(f) != 3 || f[0] != "#EXM1" {
			continue
		}
		src, derr := base64.StdEncoding.DecodeString(f[2])
		if derr != nil {
			reply(f[1], "ERR", errorJSON(&RuntimeError{Err: &Error{Message: "Exception calling \"FromBase64String\" with \"1\" argument(s): \"The input is not a valid Base-64 string.\"", Category: "NotSpecified", ErrorID: "FormatException", Type: "System.FormatException"}}))
			continue
		}
		out, rerr := r.request(pr, string(src))
		var exit *exitRequest
		if errors.As(rerr, &exit) {
			return exit.code // exit ends the PowerShell instance, loop and all
		}
		var flow *flowRequest
		if errors.As(rerr, &flow) {
			rerr = nil // the request's foreach of one item ends: what it wrote so far is the reply
		}
		if rerr != nil {
			reply(f[1], "ERR", errorJSON(rerr))
			continue
		}
		parts := make([]string, len(out))
		for i, o := range out {
			parts[i] = toString(o)
		}
		reply(f[1], "OK", strings.Join(parts, "\n"))
		if pr.ctx.Err() != nil {
			return 1
		}
	}
}

// encodingName is .NET's Encoding.WebName for a console code page: 65001 UTF-8, else the OEM code page of
// an en-US server (437), which WinRS uses unless WINRS_CODEPAGE says otherwise.
func encodingName(codepage int) string {
	if codepage == 65001 || codepage == 0 {
		return "utf-8"
	}
	return "ibm" + strconv.Itoa(codepage)
}

// request runs one request script as the loop does: parsed as a whole by [ScriptBlock]::Create, run under
// $ErrorActionPreference = 'Stop'.
func (r *Runtime) request(pr *proc, src string) ([]any, error) {
	pr.errs = nil
	s, err := Parse(src)
	if err != nil {
		var pe *ParseError
		e := &Error{Message: err.Error(), Category: "ParserError", ErrorID: "ParseException", Type: "System.Management.Automation.ParseException"}
		if errors.As(err, &pe) {
			e.Message = fmt.Sprintf("Exception calling \"Create\" with \"1\" argument(s): \"At line:1 char:%d\r\n%s\"", pe.Pos+1, pe.Message)
		}
		return nil, &RuntimeError{Err: e}
	}
	out, err := pr.runScript(s)
	if err != nil {
		return out, err
	}
	if len(pr.errs) > 0 { // cannot happen under Stop, but a cmdlet may force non-terminating
		return out, pr.errs[0]
	}
	return out, nil
}

// errorJSON is the loop's exmError: message, category, FullyQualifiedErrorId and exception type.
func errorJSON(err error) string {
	e := &Error{Message: err.Error(), Category: "NotSpecified"}
	var re *RuntimeError
	if errors.As(err, &re) {
		e = re.Err
	}
	typ := e.Type
	if typ == "" {
		typ = "System.Management.Automation." + exceptionFor(e.Category)
		if exceptionFor(e.Category) == "Exception" {
			typ = "System.Management.Automation.RuntimeException"
		}
	}
	cat := e.Category
	if cat == "" {
		cat = "NotSpecified"
	}
	b, _ := json.Marshal(map[string]string{"message": e.Message, "category": cat, "errorId": e.ErrorID, "type": typ})
	return string(b)
}
