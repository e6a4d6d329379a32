package psrp

import (
	"errors"
	"fmt"
	"strings"
)

// ProtocolVersion is the PSRP version exmaintd speaks (Windows PowerShell 5.1 and Exchange's endpoint
// announce 2.3; every version from 2.1 understands what exmaintd sends).
const ProtocolVersion = "2.3"

// RunspacePoolState values (MS-PSRP 2.2.3.4).
const (
	PoolBeforeOpen           = 0
	PoolOpening              = 1
	PoolOpened               = 2
	PoolClosed               = 3
	PoolClosing              = 4
	PoolBroken               = 5
	PoolNegotiationSent      = 6
	PoolNegotiationSucceeded = 7
	PoolConnecting           = 8
	PoolDisconnected         = 9
)

// PSInvocationState values, the state of a pipeline (MS-PSRP 2.2.3.5).
const (
	PipelineNotStarted   = 0
	PipelineRunning      = 1
	PipelineStopping     = 2
	PipelineStopped      = 3
	PipelineCompleted    = 4
	PipelineFailed       = 5
	PipelineDisconnected = 6
)

// Parameter is one argument of a command: a named parameter (Name without the dash) or, with Name "", a
// positional one. Value is a CLIXML value: the server binds it as data, never parses it as script.
type Parameter struct {
	Name  string
	Value any
}

// Command is one command of a pipeline. IsScript marks script text (refused by a NoLanguage endpoint such
// as Exchange's).
type Command struct {
	Name     string
	IsScript bool
	Params   []Parameter
}

// String renders the command as PowerShell would show it, for logs, errors and `exmaintd plan`. Values are
// quoted for reading, not for running: nothing is ever executed from this text.
func (c Command) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	for _, p := range c.Params {
		b.WriteByte(' ')
		if p.Name != "" {
			b.WriteString("-" + p.Name)
			if p.Value == nil {
				continue
			}
			if _, isBool := p.Value.(bool); isBool {
				b.WriteString(":")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(displayValue(p.Value))
	}
	return b.String()
}

func displayValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "$null"
	case bool:
		if x {
			return "$true"
		}
		return "$false"
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case *Object:
		if x.ListKind != "" {
			parts := make([]string, len(x.List))
			for i, it := range x.List {
				parts[i] = displayValue(it)
			}
			return "@(" + strings.Join(parts, ", ") + ")"
		}
	}
	return Text(v)
}

// StringList is a string[] parameter value.
func StringList(items ...string) *Object {
	o := &Object{TypeNames: []string{"System.String[]", "System.Array", "System.Object"}, ListKind: ListLST}
	for _, s := range items {
		o.List = append(o.List, s)
	}
	return o
}

func enumObject(typeName, name string, value int32) *Object {
	return &Object{TypeNames: []string{typeName, "System.Enum", "System.ValueType", "System.Object"}, ToString: name, HasToString: true, Value: value}
}

func hostInfo() *Object {
	return &Object{Members: []Property{
		{"_isHostNull", true}, {"_isHostUINull", true}, {"_isHostRawUINull", true}, {"_useRunspaceHost", true},
	}}
}

func apartmentState() *Object {
	return enumObject("System.Threading.ApartmentState", "Unknown", 2)
}

// SessionCapabilityData is the data of a SESSION_CAPABILITY message (MS-PSRP 2.2.2.1).
func SessionCapabilityData(psVersion string) []byte {
	b, _ := Encode(&Object{Members: []Property{
		{"protocolversion", Version(ProtocolVersion)},
		{"PSVersion", Version(psVersion)},
		{"SerializationVersion", Version("1.1.0.1")},
	}})
	return b
}

// InitRunspacePoolData is the data of an INIT_RUNSPACEPOOL message (MS-PSRP 2.2.2.2) for a pool of
// minRunspaces..maxRunspaces without a host.
func InitRunspacePoolData(minRunspaces, maxRunspaces int32) []byte {
	b, _ := Encode(&Object{Members: []Property{
		{"MinRunspaces", minRunspaces},
		{"MaxRunspaces", maxRunspaces},
		{"PSThreadOptions", enumObject("System.Management.Automation.Runspaces.PSThreadOptions", "Default", 0)},
		{"ApartmentState", apartmentState()},
		{"HostInfo", hostInfo()},
		{"ApplicationArguments", nil},
	}})
	return b
}

func pipelineResultTypes(name string) *Object {
	return enumObject("System.Management.Automation.Runspaces.PipelineResultTypes", name, 0)
}

// CreatePipelineData is the data of a CREATE_PIPELINE message (MS-PSRP 2.2.2.10) that runs cmds as one
// pipeline without input.
func CreatePipelineData(cmds ...Command) ([]byte, error) {
	list := &Object{TypeNames: []string{"System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"}, ListKind: ListLST}
	for _, c := range cmds {
		if c.Name == "" {
			return nil, errors.New("create pipeline: a command without a name")
		}
		args := &Object{TypeNames: list.TypeNames, ListKind: ListLST}
		for _, p := range c.Params {
			var n any
			if p.Name != "" {
				n = p.Name
			}
			args.List = append(args.List, &Object{Members: []Property{{"N", n}, {"V", p.Value}}})
		}
		list.List = append(list.List, &Object{Members: []Property{
			{"Cmd", c.Name},
			{"IsScript", c.IsScript},
			{"UseLocalScope", nil},
			{"MergeMyResult", pipelineResultTypes("None")},
			{"MergeToResult", pipelineResultTypes("None")},
			{"MergePreviousResults", pipelineResultTypes("None")},
			{"MergeError", pipelineResultTypes("None")},
			{"MergeWarning", pipelineResultTypes("None")},
			{"MergeVerbose", pipelineResultTypes("None")},
			{"MergeDebug", pipelineResultTypes("None")},
			{"MergeInformation", pipelineResultTypes("None")},
			{"Args", args},
		}})
	}
	return Encode(&Object{Members: []Property{
		{"NoInput", true},
		{"ApartmentState", apartmentState()},
		{"RemoteStreamOptions", enumObject("System.Management.Automation.RemoteStreamOptions", "0", 0)},
		{"AddToHistory", false},
		{"HostInfo", hostInfo()},
		{"PowerShell", &Object{Members: []Property{
			{"Cmds", list},
			{"IsNested", false},
			{"History", nil},
			{"RedirectShellErrorOutputPipe", true},
		}}},
		{"IsNested", false},
	}})
}

// ParseCreatePipeline reads the commands of a CREATE_PIPELINE message's data.
func ParseCreatePipeline(data []byte) ([]Command, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("create pipeline: %w", err)
	}
	root, _ := v.(*Object)
	ps, _ := member(root, "PowerShell").(*Object)
	if ps == nil {
		return nil, errors.New("create pipeline: no PowerShell property")
	}
	cmds, _ := member(ps, "Cmds").(*Object)
	if cmds == nil || cmds.ListKind == "" {
		return nil, errors.New("create pipeline: PowerShell.Cmds is not a list")
	}
	var out []Command
	for i, it := range cmds.List {
		c, _ := it.(*Object)
		name, ok := member(c, "Cmd").(string)
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("create pipeline: command %d has no Cmd", i)
		}
		isScript, _ := member(c, "IsScript").(bool)
		cmd := Command{Name: name, IsScript: isScript}
		if args, ok := member(c, "Args").(*Object); ok && args != nil {
			for j, a := range args.List {
				ao, _ := a.(*Object)
				if ao == nil {
					return nil, fmt.Errorf("create pipeline: command %q argument %d is not an object", name, j)
				}
				n, _ := member(ao, "N").(string)
				cmd.Params = append(cmd.Params, Parameter{Name: n, Value: member(ao, "V")})
			}
		}
		out = append(out, cmd)
	}
	if len(out) == 0 {
		return nil, errors.New("create pipeline: no command")
	}
	return out, nil
}

func member(o *Object, name string) any {
	v, _ := o.Get(name)
	return v
}

// RunspacePoolStateData is the data of a RUNSPACEPOOL_STATE message (MS-PSRP 2.2.2.9).
func RunspacePoolStateData(state int32, rec *ErrorRecord) []byte {
	o := &Object{Members: []Property{{"RunspaceState", state}}}
	if rec != nil {
		o.Members = append(o.Members, Property{"ExceptionAsErrorRecord", rec.Object()})
	}
	b, _ := Encode(o)
	return b
}

// PipelineStateData is the data of a PIPELINE_STATE message (MS-PSRP 2.2.2.21).
func PipelineStateData(state int32, rec *ErrorRecord) []byte {
	o := &Object{Members: []Property{{"PipelineState", state}}}
	if rec != nil {
		o.Members = append(o.Members, Property{"ExceptionAsErrorRecord", rec.Object()})
	}
	b, _ := Encode(o)
	return b
}

// State reads a RUNSPACEPOOL_STATE or PIPELINE_STATE message: the state and, when it failed, the error.
func State(data []byte) (int32, *ErrorRecord, error) {
	v, err := Decode(data)
	if err != nil {
		return 0, nil, fmt.Errorf("state message: %w", err)
	}
	o, _ := v.(*Object)
	var raw any
	var ok bool
	if raw, ok = o.Get("PipelineState"); !ok {
		raw, ok = o.Get("RunspaceState")
	}
	n, isInt := Int(raw)
	if !ok || !isInt {
		return 0, nil, errors.New("state message: no PipelineState or RunspaceState integer")
	}
	var rec *ErrorRecord
	if e, ok := member(o, "ExceptionAsErrorRecord").(*Object); ok && e != nil {
		r := ParseErrorRecord(e)
		rec = &r
	}
	return int32(n), rec, nil //nolint:gosec // states are small enums
}

// ApplicationPrivateDataData is the data of an APPLICATION_PRIVATE_DATA message (MS-PSRP 2.2.2.13): the
// server's PSVersionTable, which is all Windows PowerShell sends.
func ApplicationPrivateDataData(psVersion string) []byte {
	table := &Object{TypeNames: []string{"System.Management.Automation.PSPrimitiveDictionary", "System.Collections.Hashtable", "System.Object"}, IsDict: true,
		Dict: []DictEntry{
			{"PSVersion", Version(psVersion)},
			{"PSEdition", "Desktop"},
			{"PSRemotingProtocolVersion", Version(ProtocolVersion)},
			{"SerializationVersion", Version("1.1.0.1")},
			{"WSManStackVersion", Version("3.0")},
		}}
	outer := &Object{TypeNames: table.TypeNames, IsDict: true, Dict: []DictEntry{{"PSVersionTable", table}}}
	b, _ := Encode(&Object{Members: []Property{{"ApplicationPrivateData", outer}}})
	return b
}
