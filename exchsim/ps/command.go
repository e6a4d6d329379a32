package ps

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"

	"github.com/exmaintd/exmaintd/exchsim/cost"
)

// Process is one command a WinRM shell runs (see wsman.Launcher).
type Process struct {
	Host, User string
	Command    string
	Args       []string
	// Codepage is the shell's WINRS_CODEPAGE: powershell.exe writes its console output in it — 437 (the
	// OEM code page of an en-US server, pywinrm's default) turns what it cannot encode into '?'; 65001 is
	// UTF-8. 0 (tests that build a Process themselves) passes text through as UTF-8.
	Codepage int
	// ConsoleStdin gives the process a console for standard input (WINRS_CONSOLEMODE_STDIN=TRUE) rather
	// than a pipe: see consoleInput.
	ConsoleStdin bool
	// Direct is a process another process started (CreateProcess), not a command line WinRS passes to
	// cmd.exe: no cmd.exe line limit.
	Direct bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// RunCommand runs a command line the way a Windows shell would: powershell.exe with -EncodedCommand (or its
// prefixes -enc, -e, -ec) or -Command, including the persistent session loop of docs/session-protocol.md;
// anything else gets cmd.exe's "is not recognized" answer. It returns the process exit code.
func (r *Runtime) RunCommand(ctx context.Context, p Process) int {
	line := strings.TrimSpace(strings.Join(append([]string{p.Command}, p.Args...), " "))
	// WinRS runs the command line through cmd.exe (WINRS_SKIP_CMD_SHELL=FALSE), whose limit is 8191
	// characters (winrm-protocol.md §1.4); a process another starts directly has CreateProcess's limit,
	// which its starter checks.
	if !p.Direct && len([]rune(line)) > 8191 {
		_, _ = io.WriteString(p.Stderr, "The command line is too long.\r\n")
		return 1
	}
	argv := splitCommandLine(line)
	if len(argv) == 0 {
		return 0
	}
	exe := strings.ToLower(path.Base(strings.ReplaceAll(argv[0], `\`, "/")))
	exe = strings.TrimSuffix(exe, ".exe")
	if exe != "powershell" {
		return r.cmdExe(argv, p)
	}
	script, fromStdin, err := powershellScript(argv[1:])
	if err != nil {
		fmt.Fprintf(p.Stderr, "%s\r\n", err)
		return 1 // powershell.exe's answer to a bad command line (it prints usage and exits 1)
	}
	if !cost.Pay(ctx, r.opts.Cost.PowerShellStart) {
		return 1
	}
	if p.Codepage != 0 && p.Codepage != 65001 {
		p.Stdout, p.Stderr = oemWriter{p.Stdout}, oemWriter{p.Stderr}
	}
	pr := newProc(ctx, r, p.Host, p.User)
	pr.consoleStdin, pr.codepage, pr.console = p.ConsoleStdin, p.Codepage, p.Stdout
	if p.ConsoleStdin {
		p.Stdin = consoleInput(ctx, p.Stdin)
	}
	if fromStdin {
		return r.runStdin(pr, p.Stdin, p.Stdout, p.Stderr)
	}
	// Any other script — exmaintd's session loop too (docs/session-protocol.md) — is interpreted as it is
	// written: the loop reads its requests from stdin itself.
	pr.stdin = p.Stdin
	return r.runOneShot(pr, script, p.Stdout, p.Stderr)
}

// runStdin is `powershell -Command -`: statement by statement, as if typed at the prompt — each line runs
// as it arrives, its output written before the next line is read; a line that does not parse on its own
// (an open brace, an unterminated string) is continued by the following lines up to a blank line, which
// ends it (PowerShell/PowerShell#3223); an incomplete statement at the end of input is ignored, and an error
// ends only its own line even under $ErrorActionPreference = 'Stop' (#15331, #21808). The exit code is the
// last executed line's (exit N, or 1 if it failed).
func (r *Runtime) runStdin(pr *proc, stdin io.Reader, stdout, stderr io.Writer) int {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	code := 0
	var pending []string
	run := func() (exited bool) {
		text := strings.Join(pending, "\n")
		pending = nil
		if strings.TrimSpace(text) == "" {
			return false
		}
		c, exit := r.runOne(pr, text, stdout, stderr)
		code = c
		return exit
	}
	parses := func() bool { _, err := Parse(strings.Join(pending, "\n")); return err == nil }
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			if run() {
				return code
			}
			continue
		}
		pending = append(pending, line)
		if parses() && run() {
			return code
		}
	}
	if parses() {
		run()
	}
	return code
}

// runOne runs one stdin command, with its own error stream; it reports whether the command was exit.
func (r *Runtime) runOne(pr *proc, script string, stdout, stderr io.Writer) (int, bool) {
	pr.errs = nil
	return r.runText(pr, script, stdout, stderr)
}

// oemWriter re-encodes the console's UTF-8 text in code page 437: a character the code page lacks
// becomes '?', as Windows' WideCharToMultiByte with the default character does.
type oemWriter struct{ w io.Writer }

func (o oemWriter) Write(b []byte) (int, error) {
	enc, err := charmap.CodePage437.NewEncoder().String(strings.Map(func(r rune) rune {
		if _, ok := charmap.CodePage437.EncodeRune(r); !ok {
			return '?'
		}
		return r
	}, string(b)))
	if err != nil {
		return 0, err
	}
	if _, err := io.WriteString(o.w, enc); err != nil {
		return 0, err
	}
	return len(b), nil
}

// runOneShot runs a whole script: output to stdout as text, errors to stderr as CLIXML, and the exit code
// powershell.exe gives: `exit N` → N, else 0 if the last statement succeeded and 1 if not.
func (r *Runtime) runOneShot(pr *proc, script string, stdout, stderr io.Writer) int {
	code, _ := r.runText(pr, script, stdout, stderr)
	return code
}

// runText parses and runs script, writes its output and error records, and returns the exit code and
// whether the script ended with exit.
func (r *Runtime) runText(pr *proc, script string, stdout, stderr io.Writer) (code int, exited bool) {
	s, err := Parse(script)
	if err != nil {
		var pe *ParseError
		re := &RuntimeError{Err: &Error{Message: err.Error(), Category: "ParserError", ErrorID: "ParseException"}, Command: firstLine(script)}
		if errors.As(err, &pe) {
			re.Err.Message, re.Err.ErrorID, re.Pos = pe.Message, pe.ErrorID, pe.Pos
		}
		_, _ = io.WriteString(stderr, clixmlErrors([]*RuntimeError{re}))
		return 1, false
	}
	out, err := pr.runScript(s)
	renderOutput(stdout, out)
	var exit *exitRequest
	var rerr *RuntimeError
	var flow *flowRequest
	switch {
	case err == nil, errors.As(err, &flow): // a break or continue outside any loop ends the script
		if !pr.lastOK {
			code = 1
		}
	case errors.As(err, &exit):
		code, exited = exit.code, true
	case errors.As(err, &rerr):
		pr.errs = append(pr.errs, rerr)
		code = 1
	default:
		pr.errs = append(pr.errs, &RuntimeError{Err: &Error{Message: err.Error(), Category: "NotSpecified"}})
		code = 1
	}
	locate(pr.errs, script)
	_, _ = io.WriteString(stderr, clixmlErrors(pr.errs))
	return code, exited
}

// renderOutput renders output objects as the console host would: strings as lines, other objects in a
// simple list view (exmaintd only ever reads JSON strings).
func renderOutput(w io.Writer, out []any) {
	for _, o := range out {
		switch x := o.(type) {
		case *Object:
			_, _ = io.WriteString(w, "\r\n")
			for _, p := range x.Props {
				fmt.Fprintf(w, "%-20s : %s\r\n", p.Name, toString(p.Value))
			}
			_, _ = io.WriteString(w, "\r\n")
		default:
			_, _ = io.WriteString(w, toString(o)+"\r\n")
		}
	}
}

// powershellScript reads powershell.exe's arguments and returns the script to run.
func powershellScript(args []string) (script string, fromStdin bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "/") {
			return strings.Join(args[i:], " "), false, nil // a bare script is -Command
		}
		name := strings.ToLower(strings.TrimLeft(a, "-/"))
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", usageError(fmt.Sprintf("Missing argument for parameter %s.", a))
			}
			i++
			return args[i], nil
		}
		switch {
		case name == "e" || name == "ec" || (len(name) >= 3 && strings.HasPrefix("encodedcommand", name)):
			v, err := value()
			if err != nil {
				return "", false, err
			}
			s, err := decodeUTF16Base64(v)
			if err != nil {
				return "", false, usageError("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.")
			}
			return s, false, nil
		case name == "c" || (len(name) >= 2 && strings.HasPrefix("command", name)):
			rest := strings.Join(args[i+1:], " ")
			if rest == "-" {
				return "", true, nil
			}
			return strings.Trim(rest, `"`), false, nil
		case name == "nologo" || name == "noprofile" || name == "noninteractive" || name == "noexit" || name == "sta" || name == "mta":
		case strings.HasPrefix("executionpolicy", name) && len(name) >= 2, strings.HasPrefix("inputformat", name) && len(name) >= 2,
			strings.HasPrefix("outputformat", name) && len(name) >= 2, strings.HasPrefix("windowstyle", name) && len(name) >= 2,
			name == "ep", name == "if", name == "of", name == "w":
			if _, err := value(); err != nil {
				return "", false, err
			}
		case strings.HasPrefix("file", name):
			return "", false, usageError("-File is not modelled by exchsim.")
		default:
			return "", false, usageError(fmt.Sprintf("-%s : The term '-%s' is not recognized as a parameter of powershell.exe.", name, name))
		}
	}
	return "", true, nil // no command: powershell reads commands from stdin
}

func decodeUTF16Base64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", err
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("odd UTF-16 length")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// splitCommandLine splits like CommandLineToArgvW for the simple cases (spaces, double quotes).
func splitCommandLine(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// cmdExe answers what cmd.exe would for a non-PowerShell command: echo and `exit /b N`, else "not
// recognized".
func (r *Runtime) cmdExe(argv []string, p Process) int {
	switch strings.ToLower(argv[0]) {
	case "echo":
		fmt.Fprintf(p.Stdout, "%s\r\n", strings.Join(argv[1:], " "))
		return 0
	case "exit":
		if len(argv) == 3 && strings.EqualFold(argv[1], "/b") {
			var n int
			_, _ = fmt.Sscan(argv[2], &n)
			return n
		}
		return 0
	}
	fmt.Fprintf(p.Stderr, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", argv[0])
	return 1
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// usageError is powershell.exe's own message for a bad command line, printed verbatim (hence capitalised
// and punctuated like Windows prints it).
type usageError string

func (e usageError) Error() string { return string(e) }
