// Package ps is exchsim's Windows PowerShell 5.1 front end: the lexer, parser and evaluator for the subset of
// the language exmaintd sends (docs/powershell-dialect.md), the powershell.exe command line (-EncodedCommand
// and the persistent session loop of docs/session-protocol.md), ConvertTo-Json with 5.1's quirks, and errors
// written as CLIXML on stderr. Cmdlets are supplied by the caller (exchsim/org) through the Cmdlet interface,
// so the language knows nothing about Exchange.
package ps

import (
	"context"
	"strings"
	"time"
)

// Values flowing through the evaluator are one of:
//
//	nil                 $null
//	bool                $true / $false
//	int64, float64      numbers (PowerShell Int32/Int64/Double; Int32 is enough for what exmaintd reads)
//	string              System.String
//	time.Time           System.DateTime (Kind is taken from the Location: UTC or Local)
//	time.Duration       System.TimeSpan
//	Enum                a .NET enum: ConvertTo-Json on 5.1 writes Value, .ToString() gives Name
//	*Object             a PSObject with ordered properties (cmdlet output, Select-Object output)
//	[]any               object[] (arrays, @(...))
//	*Hashtable          @{...}
//	*ScriptBlock        { ... }
//	dotnet              a modelled .NET object (dotnet.go): byte[], an encoding, [Console]::Out, a StreamReader
//
// Cmdlet implementations must only produce these types (dotnet ones are the language's own).

// Enum is a .NET enum value. Windows PowerShell 5.1 serialises it as its integer Value in ConvertTo-Json;
// .ToString() and string comparison use Name. Type is the .NET type name (for errors and Get-Member).
type Enum struct {
	Type  string
	Name  string
	Value int64
}

// Prop is one property of an Object, in declaration order (ConvertTo-Json keeps it).
type Prop struct {
	Name  string
	Value any
}

// Object is a PSObject: an ordered property bag with a .NET type name (TypeNames[0]).
// Property lookup is case-insensitive, as in PowerShell.
type Object struct {
	TypeName string
	Props    []Prop
	// ToStringValue is what .ToString() returns (e.g. an ADObjectId's distinguished name or a queue's
	// identity "EX01\Submission"); empty means the type name, as .NET's default ToString does.
	ToStringValue string
}

// NewObject builds an Object from alternating name, value pairs.
func NewObject(typeName string, kv ...any) *Object {
	o := &Object{TypeName: typeName}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Props = append(o.Props, Prop{Name: kv[i].(string), Value: kv[i+1]})
	}
	return o
}

// ExchangeSnapin is the Module of Exchange Management Shell cmdlets.
const ExchangeSnapin = "Microsoft.Exchange.Management.PowerShell.SnapIn"

// Parameter describes one parameter of a cmdlet, for binding and for PowerShell-style binding errors.
type Parameter struct {
	Name     string   // canonical name, e.g. "Identity"
	Aliases  []string // e.g. "Server" for Get-ClusterNode -Name
	Position int      // 0-based position for positional binding; -1 if named only
	Switch   bool     // [switch]: present means $true; -Name:$false allowed
	// Mandatory parameters missing from the call fail with a binding error (PowerShell would prompt;
	// a non-interactive host fails).
	Mandatory bool
	// ValueFromPipeline binds each pipeline input object to this parameter.
	ValueFromPipeline bool
}

// Args are the bound arguments of one cmdlet invocation, keyed by canonical parameter name.
type Args map[string]any

// Has reports whether the parameter was given.
func (a Args) Has(name string) bool { _, ok := a[name]; return ok }

// Invocation is what a cmdlet receives.
type Invocation struct {
	// Host is the simulated computer the PowerShell process runs on (the WinRM endpoint's server name).
	Host string
	// Args are the bound parameters. For a ValueFromPipeline parameter, Invoke is called once per input
	// object with that object bound.
	Args Args
	// Now is the simulated clock at the start of the call.
	Now time.Time
}

// Cmdlet is one command the evaluator can run. Implementations live outside this package (exchsim/org).
type Cmdlet interface {
	Name() string // e.g. "Get-ServerComponentState"
	// Module is the snap-in or module that provides the cmdlet. Cmdlets of ExchangeSnapin exist only after
	// Add-PSSnapin (or Connect-ExchangeServer) in that process — as on a real server, where they are "not
	// recognized" before; "" means a Windows built-in that is always available (Get-Service,
	// Get-CimInstance, Restart-Computer, the FailoverClusters cmdlets, which auto-load).
	Module() string
	Parameters() []Parameter
	// Invoke runs the cmdlet. It returns the objects written to the output pipeline. A returned *Error is
	// written as a PowerShell error record (terminating under $ErrorActionPreference = 'Stop', otherwise
	// non-terminating: written to the error stream, execution continues, $? becomes $false).
	Invoke(ctx context.Context, inv Invocation) ([]any, error)
}

// Error is a PowerShell ErrorRecord as exchsim reports it: the message, the category and the
// FullyQualifiedErrorId, which is what CLIXML on stderr and the persistent session's ERR reply carry.
type Error struct {
	Message  string // e.g. "The operation couldn't be performed because object 'EX09' couldn't be found on 'dc1.exlab.local'."
	Category string // e.g. "NotSpecified", "InvalidArgument", "ObjectNotFound"
	ErrorID  string // FullyQualifiedErrorId, e.g. "[Server=EX01,RequestId=...] 9A2C3F,Microsoft.Exchange.Management..."
	// Terminating forces a terminating error regardless of $ErrorActionPreference (e.g. parameter binding).
	Terminating bool
	// Type is the .NET exception type name (e.g.
	// "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"); empty means one derived
	// from Category.
	Type string
	// Target is the error record's target object as its CategoryInfo shows it ("(EX09:String)").
	Target string
	// Written: the cmdlet wrote the error (WriteError) and went on, rather than throwing it; on the
	// remote endpoint it is an ERROR_RECORD message and the pipeline completes (MS-PSRP 2.2.2.20).
	Written bool
}

func (e *Error) Error() string { return e.Message }

// Noted is a value Windows PowerShell wraps in a PSObject carrying ETS note properties: a string from
// Get-Content (PSPath, PSParentPath, PSChildName, PSDrive, PSProvider, ReadCount), a DateTime from Get-Date
// (DisplayHint, DateTime). Everywhere PowerShell sees the base value — comparisons, methods, casts
// ([string] strips the wrapper) — exchsim does too; ConvertTo-Json (5.1) writes the wrapper as an object,
// {"value": <base>, <notes>…} (PowerShell/PowerShell#6458, #5797), which is how a client that decodes a
// plain string gets caught.
type Noted struct {
	Base  any
	Notes []Prop
}

// Unwrap returns v's base value when v is Noted.
func Unwrap(v any) any {
	if n, ok := v.(Noted); ok {
		return n.Base
	}
	return v
}

// ContentLine is a line (or, with -Raw, the whole text) Get-Content read from path on drive C:.
func ContentLine(s, path string, readCount int64) Noted {
	parent, child := path, ""
	if i := strings.LastIndex(path, `\`); i >= 0 {
		parent, child = path[:i], path[i+1:]
	}
	const provider = `Microsoft.PowerShell.Core\FileSystem`
	return Noted{Base: s, Notes: []Prop{
		{"PSPath", provider + "::" + path}, {"PSParentPath", provider + "::" + parent}, {"PSChildName", child},
		{"PSDrive", &Object{TypeName: "System.Management.Automation.PSDriveInfo", ToStringValue: "C", Props: []Prop{{"Name", "C"}, {"Root", `C:\`}}}},
		{"PSProvider", &Object{TypeName: "System.Management.Automation.ProviderInfo", ToStringValue: provider, Props: []Prop{{"Name", "FileSystem"}}}},
		{"ReadCount", readCount},
	}}
}

// DateNow is Get-Date's output: the DateTime with DisplayHint DateTime (2) and the DateTime script
// property's text ("Friday, December 4, 2026 7:20:00 AM", en-US).
func DateNow(t time.Time) Noted {
	return Noted{Base: t, Notes: []Prop{
		{"DisplayHint", Enum{Type: "Microsoft.PowerShell.Commands.DisplayHintType", Name: "DateTime", Value: 2}},
		{"DateTime", t.Format("Monday, January 2, 2006 3:04:05 PM")},
	}}
}
