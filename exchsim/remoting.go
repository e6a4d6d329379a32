package exchsim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/ps"
	"github.com/exmaintd/exmaintd/psrp"
)

// remoting is the Microsoft.Exchange configuration of a simulated server's /PowerShell endpoint
// (REALITIES.md, "The Exchange endpoint"): Exchange cmdlets only, NoLanguage, typed parameters bound as
// data, output serialised as CLIXML with the type names and property kinds real servers send.
type remoting struct {
	cmdlets map[string]ps.Cmdlet // lower-case name; Exchange cmdlets only
	cost    cost.Profile
	clock   org.Clock
}

func newRemoting(cmdlets []ps.Cmdlet, c cost.Profile, clock org.Clock) *remoting {
	r := &remoting{cmdlets: map[string]ps.Cmdlet{}, cost: c, clock: clock}
	for _, cm := range cmdlets {
		// RBAC exposes the Exchange cmdlets a role grants; the endpoint has no Windows cmdlets (Get-Service,
		// Get-ClusterNode, Restart-Computer): those run on the server itself, over WinRS.
		if cm.Module() == ps.ExchangeSnapin {
			r.cmdlets[strings.ToLower(cm.Name())] = cm
		}
	}
	return r
}

func recordOf(err error, activity string) *psrp.ErrorRecord {
	var pe *ps.Error
	if !errors.As(err, &pe) {
		return &psrp.ErrorRecord{Message: err.Error(), Category: "NotSpecified", Activity: activity}
	}
	return &psrp.ErrorRecord{Message: pe.Message, FullyQualifiedErrorID: pe.ErrorID, Category: pe.Category, ExceptionType: pe.Type, Activity: activity}
}

// Invoke runs one pipeline.
func (r *remoting) Invoke(ctx context.Context, host, _ string, cmds []psrp.Command) ([]any, []psrp.ErrorRecord, *psrp.ErrorRecord) {
	if len(cmds) != 1 {
		return nil, nil, &psrp.ErrorRecord{Message: fmt.Sprintf("exchsim runs pipelines of one command; this one has %d.", len(cmds)),
			FullyQualifiedErrorID: "ExchsimPipelineLength", Category: "NotImplemented"}
	}
	c := cmds[0]
	if c.IsScript {
		return nil, nil, &psrp.ErrorRecord{Message: "The syntax is not supported by this runspace. This might be because it is in no-language mode.",
			FullyQualifiedErrorID: "ScriptsNotAllowed", Category: "ParserError", ExceptionType: "System.Management.Automation.ParseException", TargetName: c.Name}
	}
	cm := r.cmdlets[strings.ToLower(strings.TrimSpace(c.Name))]
	if cm == nil {
		return nil, nil, &psrp.ErrorRecord{
			Message:               fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", c.Name),
			FullyQualifiedErrorID: "CommandNotFoundException", Category: "ObjectNotFound",
			ExceptionType: "System.Management.Automation.CommandNotFoundException", TargetName: c.Name}
	}
	args := make([]ps.RemoteArg, len(c.Params))
	for i, p := range c.Params {
		args[i] = ps.RemoteArg{Param: p.Name, Value: fromCLIXML(p.Value)}
	}
	bound, err := ps.BindRemote(cm, args)
	if err != nil {
		return nil, nil, recordOf(err, cm.Name())
	}
	if !cost.Pay(ctx, r.cost.Cmdlet) {
		return nil, nil, nil // stopped: the caller reports the pipeline Stopped
	}
	out, err := cm.Invoke(ctx, ps.Invocation{Host: host, Args: bound, Now: r.clock.Now()})
	objs := make([]any, 0, len(out))
	for _, o := range out {
		objs = append(objs, toCLIXML(o, ""))
	}
	if err != nil {
		var pe *ps.Error
		if errors.As(err, &pe) && pe.Written {
			// WriteError: an ERROR_RECORD message, and the pipeline completes (fault cmdlet_writes_error).
			return objs, []psrp.ErrorRecord{*recordOf(err, cm.Name())}, nil
		}
		// Exchange cmdlets write their errors as terminating ones (ThrowTerminatingError): the pipeline fails.
		return objs, nil, recordOf(err, cm.Name())
	}
	return objs, nil, nil
}

// fromCLIXML turns a parameter value into the evaluator's value types.
func fromCLIXML(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x
	case int32:
		return int64(x)
	case *psrp.Object:
		if x.ListKind != "" {
			out := make([]any, len(x.List))
			for i, it := range x.List {
				out[i] = fromCLIXML(it)
			}
			return out
		}
		return psrp.Text(x)
	}
	if n, ok := psrp.Int(v); ok {
		return n
	}
	return psrp.Text(v)
}

// listTypes are the collection type names real servers send for properties exchsim models (from the
// captures in testdata/shapes); a collection not listed is a MultiValuedProperty of strings.
func listTypes(prop string) []string {
	switch prop {
	case "LocalStates", "RemoteStates":
		return []string{"System.Collections.Generic.List`1[[Microsoft.Exchange.Data.Directory.Management.ServerComponentStatePresentationObject+RequesterDetails, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"}
	}
	return []string{"Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]", "Microsoft.Exchange.Data.MultiValuedPropertyBase", "System.Object"}
}

// toCLIXML serialises a model value as the Exchange endpoint sends it. prop is the property it is the value
// of (collection types depend on it).
func toCLIXML(v any, prop string) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case int64:
		// The model has one integer type; the wire has the .NET property's. Int32 is what real servers send
		// for the integers the captures show (ServerVersion parts, MaxTransportSyncDispatchers, TimeSpan
		// parts); the properties documented as Int64 stay I64.
		if int64Property(prop) || x != int64(int32(x)) {
			return x
		}
		return int32(x)
	case time.Time:
		return x.UTC()
	case time.Duration:
		return enhancedTimeSpan(x)
	case ps.Enum:
		return &psrp.Object{TypeNames: []string{x.Type, "System.Enum", "System.ValueType", "System.Object"}, ToString: x.Name, HasToString: true, Value: int32(x.Value)} //nolint:gosec // enum values are small
	case []any:
		o := &psrp.Object{TypeNames: listTypes(prop), ListKind: psrp.ListLST}
		for _, it := range x {
			o.List = append(o.List, toCLIXML(it, ""))
		}
		return o
	case *ps.Object:
		o := &psrp.Object{TypeNames: []string{x.TypeName, "System.Object"}}
		if x.ToStringValue != "" {
			o.ToString, o.HasToString = x.ToStringValue, true
		}
		for _, p := range x.Props {
			o.Props = append(o.Props, psrp.Property{Name: p.Name, Value: toCLIXML(p.Value, p.Name)})
		}
		return o
	}
	return fmt.Sprint(v)
}

// int64Property names the properties the model writes that are Int64 in .NET (DatabaseCopyStatusEntry's
// queue lengths, TimeSpan ticks).
func int64Property(prop string) bool {
	switch prop {
	case "CopyQueueLength", "ReplayQueueLength", "Ticks":
		return true
	}
	return false
}

// enhancedTimeSpan is Microsoft.Exchange.Data.EnhancedTimeSpan as real servers serialise it: ToString
// d.hh:mm:ss and the TimeSpan properties (CSS-Exchange GetMailboxServer.xml, CalendarRepairLogFileAgeLimit).
func enhancedTimeSpan(d time.Duration) *psrp.Object {
	days := int64(d / (24 * time.Hour))
	rest := d - time.Duration(days)*24*time.Hour
	s := fmt.Sprintf("%02d:%02d:%02d", int64(rest/time.Hour), int64(rest%time.Hour/time.Minute), int64(rest%time.Minute/time.Second))
	if days > 0 {
		s = fmt.Sprintf("%d.%s", days, s)
	}
	return &psrp.Object{TypeNames: []string{"Microsoft.Exchange.Data.EnhancedTimeSpan", "System.ValueType", "System.Object"}, ToString: s, HasToString: true,
		Props: []psrp.Property{
			{Name: "Days", Value: int32(days)}, //nolint:gosec // lags are days, not centuries
			{Name: "Hours", Value: int32(rest / time.Hour)},
			{Name: "Milliseconds", Value: int32(rest % time.Second / time.Millisecond)},
			{Name: "Minutes", Value: int32(rest % time.Hour / time.Minute)},
			{Name: "Seconds", Value: int32(rest % time.Minute / time.Second)},
			{Name: "Ticks", Value: int64(d / 100)},
			{Name: "TotalDays", Value: d.Hours() / 24},
			{Name: "TotalHours", Value: d.Hours()},
			{Name: "TotalMilliseconds", Value: float64(d.Milliseconds())},
			{Name: "TotalMinutes", Value: d.Minutes()},
			{Name: "TotalSeconds", Value: d.Seconds()},
		}}
}
