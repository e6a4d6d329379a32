package wsman

import (
	"context"
	"io"
)

// CommandRequest is one rsp:Command as the shell received it.
type CommandRequest struct {
	ShellID   string
	CommandID string
	// Host is the simulated server this listener belongs to.
	Host string
	// User is the authenticated user (DOMAIN\user for NTLM, as typed for Basic).
	User string
	// Command is rsp:Command; Arguments are the rsp:Arguments elements in order (masterzen sends the whole
	// command line in Command; pywinrm sends Command plus one joined Arguments element).
	Command   string
	Arguments []string
	// Codepage is the shell's WINRS_CODEPAGE (65001 UTF-8, 437 OEM); output bytes are already encoded.
	Codepage int
	// Env is the shell's rsp:Environment.
	Env map[string]string
	// ConsoleStdin is the Command's WINRS_CONSOLEMODE_STDIN: TRUE gives the process a console for standard
	// input, FALSE a pipe (MS-WSMV 2.2.4.9). No source says what an absent option means; exchsim takes the
	// harsher, a console.
	ConsoleStdin bool
}

// Launcher runs the process behind a command. The shell calls Run on its own goroutine; stdin yields what
// the client Sends and reaches EOF at End="true"; what Run writes to stdout and stderr is returned by
// Receive; Run's return value is the exit code reported with CommandState/Done. ctx is cancelled when the
// client signals terminate or ctrl_c, deletes the shell, the shell expires or the host reboots; Run must
// then return promptly.
type Launcher interface {
	Run(ctx context.Context, req CommandRequest, stdin io.Reader, stdout, stderr io.Writer) (exitCode int)
}

// LauncherFunc adapts a function to Launcher.
type LauncherFunc func(ctx context.Context, req CommandRequest, stdin io.Reader, stdout, stderr io.Writer) int

// Run calls f.
func (f LauncherFunc) Run(ctx context.Context, req CommandRequest, stdin io.Reader, stdout, stderr io.Writer) int {
	return f(ctx, req, stdin, stdout, stderr)
}
