package ps

import (
	"bufio"
	"context"
	"path"
	"strings"
	"time"
)

// Native is a program a script runs by name (shutdown.exe): PowerShell passes its arguments as text, reads
// its standard output as lines of text (the output objects), and sets $LASTEXITCODE to its exit code and
// $? to whether that is 0 (about_Automatic_Variables).
type Native interface {
	Name() string // the file name, e.g. "shutdown.exe"
	// Run runs the program. A non-nil *Error is a program that could not be started: PowerShell's
	// terminating ApplicationFailedException.
	Run(ctx context.Context, inv NativeInvocation) (stdout []string, exitCode int, err *Error)
}

// NativeInvocation is one run of a Native.
type NativeInvocation struct {
	Host string
	Args []string
	// Stdin is what the pipeline wrote to the program's standard input, one line per object; a native
	// command that is not first in a pipeline gets a pipe of its own, closed after the last object.
	Stdin string
	Now   time.Time
}

// nativeName is how a command names a program: its file name, lower case, with ".exe" (a path or a bare
// "shutdown" find the same program, as PATHEXT and the system path do).
func nativeName(command string) string {
	n := strings.ToLower(path.Base(strings.ReplaceAll(command, `\`, "/")))
	if !strings.HasSuffix(n, ".exe") {
		n += ".exe"
	}
	return n
}

// runNative runs program with args as PowerShell runs a native command.
func (e *env) runNative(n Native, args []boundArg, input []any) ([]any, error) {
	texts := make([]string, 0, len(args))
	for _, a := range args {
		if a.param != "" {
			texts = append(texts, "-"+a.param)
		}
		if a.value != nil || a.param == "" {
			texts = append(texts, toString(a.value))
		}
	}
	var stdin strings.Builder
	for _, in := range input {
		stdin.WriteString(toString(in) + "\r\n")
	}
	lines, code, err := n.Run(e.p.ctx, NativeInvocation{Host: e.p.host, Args: texts, Stdin: stdin.String(), Now: e.p.rt.now()})
	if err != nil {
		return nil, err
	}
	e.p.vars["lastexitcode"] = int64(code)
	e.p.lastOK = code == 0
	out := make([]any, len(lines))
	for i, l := range lines {
		out[i] = l
	}
	return out, nil
}

// childPowerShell is powershell.exe started from a script: a new process with its own variables, its
// standard input empty, its output read back as lines; exit N in it ends it alone, with that exit code.
type childPowerShell struct{ rt *Runtime }

func (childPowerShell) Name() string { return "powershell.exe" }

// maxCreateProcessLine is the longest command line CreateProcess takes (lpCommandLine, 32,767 characters:
// Microsoft Learn, CreateProcessW); past it Windows answers ERROR_FILENAME_EXCED_RANGE (206).
const maxCreateProcessLine = 32767

func (c childPowerShell) Run(ctx context.Context, inv NativeInvocation) ([]string, int, *Error) {
	if n := len(`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`) + len(strings.Join(inv.Args, " ")) + 1; n > maxCreateProcessLine {
		return nil, 0, &Error{Message: "Program 'powershell.exe' failed to run: The filename or extension is too long.", Category: "ResourceUnavailable",
			ErrorID: "NativeCommandFailed", Type: "System.Management.Automation.ApplicationFailedException", Terminating: true}
	}
	var out strings.Builder
	code := c.rt.RunCommand(ctx, Process{Host: inv.Host, Command: "powershell.exe", Args: inv.Args, Codepage: 65001, Direct: true,
		Stdin: strings.NewReader(inv.Stdin), Stdout: &out, Stderr: &strings.Builder{}})
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	return lines, code, nil
}
