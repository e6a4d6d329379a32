package ps

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/exmaintd/exmaintd/exchsim/cost"
)

// boundArg is one evaluated command argument before binding.
type boundArg struct {
	param     string // "" for positional
	value     any
	hasValue  bool
	mayBePos  bool // "-Switch value": value is positional if the parameter is a switch
	colonForm bool
}

// commonParams are accepted by every cmdlet (CmdletBinding); exchsim honours ErrorAction and ignores the
// rest.
func commonParams() []string {
	return []string{"ErrorAction", "WarningAction", "InformationAction", "Verbose", "Debug", "ErrorVariable",
		"WarningVariable", "OutVariable", "OutBuffer", "PipelineVariable", "Confirm", "WhatIf"}
}

func (e *env) evalArgs(c *commandNode) ([]boundArg, error) {
	args := make([]boundArg, 0, len(c.args))
	for _, a := range c.args {
		b := boundArg{param: a.param, colonForm: a.colon, mayBePos: a.splatArr}
		if a.value != nil {
			v, err := e.eval(a.value)
			if err != nil {
				return nil, err
			}
			b.value, b.hasValue = v, true
		}
		args = append(args, b)
	}
	return args, nil
}

// invoke runs one command of a pipeline with the given input.
func (e *env) invoke(c *commandNode, input []any, piped bool) ([]any, error) {
	args, err := e.evalArgs(c)
	if err != nil {
		return nil, err
	}
	// -ErrorAction for this command
	stop := e.stopOnError()
	silent := false
	for _, a := range args {
		if a.param != "" && matchesParam("ErrorAction", a.param) {
			switch strings.ToLower(toString(a.value)) {
			case "stop":
				stop = true
			case "silentlycontinue", "ignore":
				silent, stop = true, false
			case "continue":
				stop = false
			}
		}
	}
	out, cerr := e.run(c, args, input, piped)
	if cerr == nil {
		e.p.lastOK = true
		return out, nil
	}
	var rerr *RuntimeError
	var perr *Error
	switch {
	case errors.As(cerr, &rerr):
		if rerr.Command == "" {
			rerr.Command, rerr.Pos = c.text, c.pos
		}
	case errors.As(cerr, &perr):
		rerr = &RuntimeError{Err: perr, Command: c.text, Pos: c.pos}
	default:
		return out, cerr // exit, internal errors
	}
	e.p.lastOK = false
	if silent && !rerr.Err.Terminating {
		return out, nil
	}
	if stop || rerr.Err.Terminating {
		rerr.Stop = rerr.Stop || stop && !rerr.Err.Terminating
		return out, rerr
	}
	e.p.errs = append(e.p.errs, rerr) // non-terminating: written to the error stream, the script goes on
	return out, nil
}

// run finds and executes the command.
func (e *env) run(c *commandNode, args []boundArg, input []any, piped bool) ([]any, error) {
	if c.callee != nil {
		return e.invokeValue(c, args, input, piped)
	}
	name := strings.ToLower(c.name)
	if fn := e.function(name); fn != nil { // functions come before cmdlets (about_Command_Precedence)
		return e.callFunction(fn, args)
	}
	if b := builtin(name); b != nil {
		return b(e, c, args, input)
	}
	cm := e.p.rt.cmdlet(name)
	if cm == nil {
		if n := e.p.rt.natives[nativeName(name)]; n != nil {
			return e.runNative(n, args, input)
		}
	}
	if cm == nil || (cm.Module() == ExchangeSnapin && !e.p.snapin) {
		return nil, notRecognized(c.name)
	}
	params := cm.Parameters()
	bound, pipeParam, err := bindArgs(cm.Name(), params, args)
	if err != nil {
		return nil, err
	}
	charge := cm.Module() == ExchangeSnapin
	invoke := func(a Args) ([]any, error) {
		if charge && !cost.Pay(e.p.ctx, e.p.rt.opts.Cost.Cmdlet) {
			return nil, &RuntimeError{Err: &Error{Message: "The pipeline has been stopped.", Category: "OperationStopped", ErrorID: "PipelineStopped"}}
		}
		for _, p := range params {
			if p.Mandatory && !a.Has(p.Name) {
				return nil, &Error{Message: fmt.Sprintf("Cannot process command because of one or more missing mandatory parameters: %s.", p.Name),
					Category: "InvalidArgument", ErrorID: "MissingMandatoryParameter," + cm.Name(), Terminating: true}
			}
		}
		return cm.Invoke(e.p.ctx, Invocation{Host: e.p.host, Args: a, Now: e.p.rt.now()})
	}
	if !piped || pipeParam == "" {
		if piped && len(input) > 0 && pipeParam == "" {
			return nil, &Error{Message: "The input object cannot be bound to any parameters for the command either because the command does not take pipeline input or the input and its properties do not match any of the parameters that take pipeline input.",
				Category: "InvalidArgument", ErrorID: "InputObjectNotBound," + cm.Name(), Terminating: true}
		}
		return invoke(bound)
	}
	var out []any
	for _, item := range input {
		a := make(Args, len(bound)+1)
		for k, v := range bound {
			a[k] = v
		}
		a[pipeParam] = item
		o, err := invoke(a)
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func matchesParam(canonical, given string) bool {
	return strings.HasPrefix(strings.ToLower(canonical), strings.ToLower(given)) && given != ""
}

// bindArgs binds named, switch and positional arguments to a cmdlet's parameters with PowerShell's rules:
// exact name or alias first, else a unique prefix; ambiguity and unknown names are errors.
func bindArgs(cmdlet string, params []Parameter, args []boundArg) (Args, string, error) {
	bound := Args{}
	var positional []any
	pipeParam := ""
	for _, p := range params {
		if p.ValueFromPipeline {
			pipeParam = p.Name
		}
	}
	for _, a := range args {
		if a.param == "" {
			positional = append(positional, a.value)
			continue
		}
		p, common, err := resolveParam(cmdlet, params, a.param)
		if err != nil {
			return nil, "", err
		}
		if common {
			continue
		}
		if _, dup := bound[p.Name]; dup {
			return nil, "", &Error{Message: fmt.Sprintf("Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".", p.Name),
				Category: "InvalidArgument", ErrorID: "ParameterAlreadyBound," + cmdlet, Terminating: true}
		}
		switch {
		case p.Switch && a.colonForm:
			bound[p.Name] = toBool(a.value)
		case p.Switch:
			bound[p.Name] = true
			if a.hasValue && a.mayBePos {
				positional = append(positional, a.value)
			}
		case !a.hasValue:
			return nil, "", &Error{Message: fmt.Sprintf("Missing an argument for parameter '%s'. Specify a parameter of type 'System.Object' and try again.", p.Name),
				Category: "InvalidArgument", ErrorID: "MissingArgument," + cmdlet, Terminating: true}
		default:
			bound[p.Name] = a.value
		}
	}
	if len(positional) > 0 {
		var pos []Parameter
		for _, p := range params {
			if p.Position >= 0 && !p.Switch {
				if _, done := bound[p.Name]; !done {
					pos = append(pos, p)
				}
			}
		}
		sort.SliceStable(pos, func(i, j int) bool { return pos[i].Position < pos[j].Position })
		for i, v := range positional {
			if i >= len(pos) {
				return nil, "", &Error{Message: fmt.Sprintf("A positional parameter cannot be found that accepts argument '%s'.", toString(v)),
					Category: "InvalidArgument", ErrorID: "PositionalParameterNotFound," + cmdlet, Terminating: true}
			}
			bound[pos[i].Name] = v
		}
	}
	return bound, pipeParam, nil
}

func resolveParam(cmdlet string, params []Parameter, given string) (Parameter, bool, error) {
	lg := strings.ToLower(given)
	for _, p := range params {
		if strings.ToLower(p.Name) == lg {
			return p, false, nil
		}
		for _, al := range p.Aliases {
			if strings.ToLower(al) == lg {
				return p, false, nil
			}
		}
	}
	for _, c := range commonParams() {
		if strings.ToLower(c) == lg || (lg == "ea" && c == "ErrorAction") || (lg == "wa" && c == "WarningAction") {
			return Parameter{Name: c}, true, nil
		}
	}
	var matches []Parameter
	for _, p := range params {
		if strings.HasPrefix(strings.ToLower(p.Name), lg) {
			matches = append(matches, p)
		}
	}
	commonMatch := ""
	for _, c := range commonParams() {
		if strings.HasPrefix(strings.ToLower(c), lg) {
			commonMatch = c
		}
	}
	switch {
	case len(matches) == 1 && commonMatch == "":
		return matches[0], false, nil
	case len(matches) == 0 && commonMatch != "":
		return Parameter{Name: commonMatch}, true, nil
	case len(matches) > 1 || (len(matches) == 1 && commonMatch != ""):
		names := make([]string, 0, len(matches)+1)
		for _, m := range matches {
			names = append(names, m.Name)
		}
		if commonMatch != "" {
			names = append(names, commonMatch)
		}
		return Parameter{}, false, &Error{Message: fmt.Sprintf("Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include: -%s.", given, strings.Join(names, " -")),
			Category: "InvalidArgument", ErrorID: "AmbiguousParameter," + cmdlet, Terminating: true}
	}
	return Parameter{}, false, &Error{Message: fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", given),
		Category: "InvalidArgument", ErrorID: "NamedParameterNotFound," + cmdlet, Terminating: true}
}

// RemoteArg is one argument of a command that arrives by remoting (a PSRP CREATE_PIPELINE): a parameter
// name ("" for a positional value) and a value that is data, never parsed as script.
type RemoteArg struct {
	Param string
	Value any
}

// BindRemote binds remoting arguments to cm's parameters with the rules the language uses (exact name or
// alias, else a unique prefix; unknown and ambiguous names are errors), and checks mandatory parameters.
// A switch with a null value is present (PowerShell's AddParameter(name)); with a boolean it is that value.
func BindRemote(cm Cmdlet, args []RemoteArg) (Args, error) {
	ba := make([]boundArg, len(args))
	for i, a := range args {
		ba[i] = boundArg{param: a.Param, value: a.Value, hasValue: a.Value != nil, colonForm: a.Value != nil}
	}
	bound, _, err := bindArgs(cm.Name(), cm.Parameters(), ba)
	if err != nil {
		return nil, err
	}
	for _, p := range cm.Parameters() {
		if p.Mandatory && !bound.Has(p.Name) {
			return nil, &Error{Message: fmt.Sprintf("Cannot process command because of one or more missing mandatory parameters: %s.", p.Name),
				Category: "InvalidArgument", ErrorID: "MissingMandatoryParameter," + cm.Name(), Terminating: true}
		}
	}
	return bound, nil
}
