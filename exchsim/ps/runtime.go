package ps

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/cost"
)

// Options configure a Runtime.
type Options struct {
	// Cmdlets are the commands beyond the language's own (exchsim/org's Exchange and Windows cmdlets).
	Cmdlets []Cmdlet
	// Natives are the programs a script can run besides powershell.exe, which the runtime provides itself.
	Natives []Native
	Cost    cost.Profile
	// Now is the simulated clock (Get-Date, Invocation.Now); default time.Now.
	Now func() time.Time
	// Mutex reports whether a named mutex exists on host ([System.Threading.Mutex]::OpenExisting): Windows
	// Installer's Global\_MSIExecute while it installs. nil: none exists.
	Mutex  func(host, name string) bool
	Logger *slog.Logger
}

// Runtime runs powershell.exe processes for exchsim's hosts. It is safe for concurrent use; each process
// has its own state.
type Runtime struct {
	opts    Options
	cmdlets map[string]Cmdlet // lower-case name
	natives map[string]Native // nativeName
	logger  *slog.Logger
}

// NewRuntime returns a runtime with the given cmdlets.
func NewRuntime(o Options) *Runtime {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{opts: o, cmdlets: map[string]Cmdlet{}, natives: map[string]Native{}, logger: o.Logger.With("component", "powershell")}
	for _, c := range o.Cmdlets {
		r.cmdlets[strings.ToLower(c.Name())] = c
	}
	for _, n := range append(o.Natives, childPowerShell{rt: r}) {
		r.natives[nativeName(n.Name())] = n
	}
	return r
}

func (r *Runtime) cmdlet(lowerName string) Cmdlet { return r.cmdlets[lowerName] }
func (r *Runtime) now() time.Time                 { return r.opts.Now() }

// loadExchange makes the Exchange snap-in's cmdlets available in this process, paying the load cost once.
func (p *proc) loadExchange() error {
	if p.snapin {
		return nil
	}
	if !cost.Pay(p.ctx, p.rt.opts.Cost.SnapinLoad) {
		return &Error{Message: "The pipeline has been stopped.", Category: "OperationStopped", ErrorID: "PipelineStopped"}
	}
	p.snapin = true
	return nil
}

// Eval runs script in a fresh process on host with the Exchange snap-in already loaded and returns its
// output, or the terminating error. Non-terminating errors are returned as an error too (joined), so tests
// see them.
func (r *Runtime) Eval(ctx context.Context, host, script string) ([]any, error) {
	s, err := Parse(script)
	if err != nil {
		return nil, err
	}
	p := newProc(ctx, r, host, "test")
	p.snapin = true
	out, err := p.runScript(s)
	if err != nil {
		return out, err
	}
	if len(p.errs) > 0 {
		return out, p.errs[0]
	}
	return out, nil
}
