package ps

import (
	"fmt"
	"io"
	"strings"
)

type builtinFunc func(e *env, c *commandNode, args []boundArg, input []any) ([]any, error)

// builtin returns the language's own cmdlets (Microsoft.PowerShell.Utility/Core, available in every
// process) by lower-case name or alias; nil if name is not one.
func builtin(name string) builtinFunc {
	switch name {
	case "select-object", "select":
		return selectObject
	case "where-object", "where", "?":
		return whereObject
	case "foreach-object", "foreach", "%":
		return foreachObject
	case "sort-object", "sort":
		return sortObject
	case "convertto-json":
		return convertToJSON
	case "get-date":
		return getDate
	case "out-null":
		return func(*env, *commandNode, []boundArg, []any) ([]any, error) { return nil, nil }
	case "write-output", "echo":
		return writeOutput
	case "write-host":
		return writeHost
	case "add-pssnapin":
		return addPSSnapin
	case "join-path":
		return joinPath
	case "new-object":
		return newObject
	case "connect-exchangeserver":
		return connectExchangeServer
	}
	return nil
}

func bindBuiltin(name string, params []Parameter, args []boundArg) (Args, error) {
	a, _, err := bindArgs(name, params, args)
	return a, err
}

func selectObject(e *env, c *commandNode, args []boundArg, input []any) ([]any, error) {
	a, err := bindBuiltin("Select-Object", []Parameter{{Name: "Property", Position: 0}, {Name: "First", Position: -1},
		{Name: "ExpandProperty", Position: -1}, {Name: "InputObject", Position: -1}}, args)
	if err != nil {
		return nil, err
	}
	if a.Has("InputObject") {
		input = unroll(a["InputObject"])
	}
	if a.Has("First") {
		n, _ := toNumber(a["First"])
		if int(n) < len(input) {
			input = input[:max(int(n), 0)]
		}
	}
	if a.Has("ExpandProperty") {
		name := toString(a["ExpandProperty"])
		var out []any
		for _, in := range input {
			v := getMember(in, name)
			if v == nil {
				if o, ok := in.(*Object); !ok || !hasProp(o, name) {
					return out, &Error{Message: fmt.Sprintf("Property \"%s\" cannot be found.", name), Category: "InvalidArgument", ErrorID: "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand"}
				}
			}
			out = append(out, unroll(v)...)
		}
		return out, nil
	}
	if !a.Has("Property") {
		return input, nil
	}
	props := unroll(a["Property"])
	var out []any
	for _, in := range input {
		o := &Object{TypeName: "Selected." + typeName(in)}
		for _, p := range props {
			switch x := p.(type) {
			case string:
				if x == "*" {
					if src, ok := in.(*Object); ok {
						o.Props = append(o.Props, src.Props...)
					}
					continue
				}
				name := x
				if src, ok := in.(*Object); ok {
					for _, sp := range src.Props {
						if strings.EqualFold(sp.Name, x) {
							name = sp.Name
						}
					}
				}
				o.Props = append(o.Props, Prop{Name: name, Value: getMember(in, x)})
			case *Hashtable:
				name, expr, err := calculatedProperty(x)
				if err != nil {
					return out, err
				}
				var v any
				switch ex := expr.(type) {
				case *ScriptBlock:
					res, err := e.runBlock(ex, in)
					if err != nil {
						return out, err
					}
					v = collapse(res)
					if arr, ok := v.([]any); ok {
						// Windows PowerShell 5.1 stores a calculated property's array wrapped in a PSObject, and
						// ConvertTo-Json writes such an array as {"value":[...],"Count":n} (PowerShell/PowerShell
						// #3163, #5579). Modelled so that a client decoding that shape as a list fails here too.
						v = wrappedArray(arr)
					}
				default:
					v = getMember(in, toString(ex))
				}
				o.Props = append(o.Props, Prop{Name: name, Value: v})
			default:
				return out, &Error{Message: fmt.Sprintf("Cannot convert %s to one of the types {System.String, System.Management.Automation.ScriptBlock, System.Collections.Hashtable}.", typeName(p)), Category: "InvalidArgument", ErrorID: "DictionaryKeyUnknownType,Microsoft.PowerShell.Commands.SelectObjectCommand", Terminating: true}
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// wrappedArray is a PSObject-wrapped array as 5.1's ConvertTo-Json sees it: an object with the array as
// "value" and its "Count" (the System.Array type data's ETS property).
func wrappedArray(items []any) *Object {
	return &Object{TypeName: "System.Object[]", Props: []Prop{{Name: "value", Value: items}, {Name: "Count", Value: int64(len(items))}}}
}

func hasProp(o *Object, name string) bool {
	_, ok := o.Get(name)
	return ok
}

// calculatedProperty reads @{Name='X'; Expression={...}} with the key forms PowerShell accepts
// (Name/N/Label/L, Expression/E).
func calculatedProperty(h *Hashtable) (string, any, error) {
	var name string
	var expr any
	haveExpr := false
	for _, k := range h.Keys {
		v := h.Values[strings.ToLower(k)]
		switch strings.ToLower(k) {
		case "n", "name", "l", "label":
			name = toString(v)
		case "e", "expression":
			expr, haveExpr = v, true
		default:
			return "", nil, &Error{Message: fmt.Sprintf("The %s key is not valid.", k), Category: "InvalidArgument", ErrorID: "DictionaryKeyIllegal,Microsoft.PowerShell.Commands.SelectObjectCommand", Terminating: true}
		}
	}
	if !haveExpr {
		return "", nil, &Error{Message: "The Expression key is missing.", Category: "InvalidArgument", ErrorID: "DictionaryKeyMissing,Microsoft.PowerShell.Commands.SelectObjectCommand", Terminating: true}
	}
	if name == "" {
		name = toString(expr)
	}
	return name, expr, nil
}

func scriptBlockArg(cmdlet string, args []boundArg, param string) (*ScriptBlock, error) {
	a, err := bindBuiltin(cmdlet, []Parameter{{Name: param, Position: 0}, {Name: "InputObject", Position: -1}}, args)
	if err != nil {
		return nil, err
	}
	sb, ok := a[param].(*ScriptBlock)
	if !ok {
		return nil, &Error{Message: fmt.Sprintf("Cannot bind parameter '%s'. A script block is required.", param), Category: "InvalidArgument", ErrorID: "CannotConvertArgument," + cmdlet, Terminating: true}
	}
	return sb, nil
}

func whereObject(e *env, _ *commandNode, args []boundArg, input []any) ([]any, error) {
	sb, err := scriptBlockArg("Where-Object", args, "FilterScript")
	if err != nil {
		return nil, err
	}
	var out []any
	for _, in := range input {
		res, err := e.runBlock(sb, in)
		if err != nil {
			return out, err
		}
		if toBool(collapse(res)) {
			out = append(out, in)
		}
	}
	return out, nil
}

func foreachObject(e *env, _ *commandNode, args []boundArg, input []any) ([]any, error) {
	sb, err := scriptBlockArg("ForEach-Object", args, "Process")
	if err != nil {
		return nil, err
	}
	var out []any
	for _, in := range input {
		res, err := e.runBlock(sb, in)
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func sortObject(_ *env, _ *commandNode, args []boundArg, input []any) ([]any, error) {
	a, err := bindBuiltin("Sort-Object", []Parameter{{Name: "Property", Position: 0}, {Name: "Descending", Switch: true, Position: -1}}, args)
	if err != nil {
		return nil, err
	}
	var props []string
	if a.Has("Property") {
		for _, p := range unroll(a["Property"]) {
			props = append(props, toString(p))
		}
	}
	out := append([]any(nil), input...)
	sortValues(out, props, toBool(a["Descending"]))
	return out, nil
}

func convertToJSON(_ *env, _ *commandNode, args []boundArg, input []any) ([]any, error) {
	a, err := bindBuiltin("ConvertTo-Json", []Parameter{{Name: "InputObject", Position: 0}, {Name: "Depth", Position: -1},
		{Name: "Compress", Switch: true, Position: -1}}, args)
	if err != nil {
		return nil, err
	}
	depth := 2
	if a.Has("Depth") {
		n, _ := toNumber(a["Depth"])
		depth = int(n)
		if depth < 1 || depth > 100 {
			return nil, &Error{Message: fmt.Sprintf("Cannot validate argument on parameter 'Depth'. The %d argument is less than the minimum allowed range of 1 or greater than the maximum of 100.", depth),
				Category: "InvalidData", ErrorID: "ParameterArgumentValidationError,Microsoft.PowerShell.Commands.ConvertToJsonCommand", Terminating: true}
		}
	}
	var v any
	switch {
	case a.Has("InputObject"):
		v = a["InputObject"]
	case len(input) == 1:
		v = input[0] // 5.1: @(x) | ConvertTo-Json gives x, not [x]
	case len(input) > 1:
		v = input
	default:
		return nil, nil
	}
	return []any{ConvertToJSON(v, depth, toBool(a["Compress"]))}, nil
}

func getDate(e *env, _ *commandNode, args []boundArg, _ []any) ([]any, error) {
	if _, err := bindBuiltin("Get-Date", nil, args); err != nil {
		return nil, err
	}
	return []any{DateNow(e.p.rt.now())}, nil
}

func writeOutput(_ *env, _ *commandNode, args []boundArg, input []any) ([]any, error) {
	a, err := bindBuiltin("Write-Output", []Parameter{{Name: "InputObject", Position: 0}}, args)
	if err != nil {
		return nil, err
	}
	if a.Has("InputObject") {
		return unroll(a["InputObject"]), nil
	}
	return input, nil
}

// writeHost writes to the host — on powershell.exe under WinRS, the process's standard output — at once and
// outside the pipeline; with -NoNewline it leaves the line open (Microsoft Learn, Write-Host). exchsim writes
// it when the command runs, before the script's pipeline output, which it renders at the end.
func writeHost(e *env, _ *commandNode, args []boundArg, _ []any) ([]any, error) {
	a, err := bindBuiltin("Write-Host", []Parameter{{Name: "Object", Position: 0}, {Name: "NoNewline", Position: -1, Switch: true},
		{Name: "Separator", Position: -1}, {Name: "ForegroundColor", Position: -1}, {Name: "BackgroundColor", Position: -1}}, args)
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, o := range unroll(a["Object"]) {
		parts = append(parts, toString(o))
	}
	text := strings.Join(parts, " ")
	if !a.Has("NoNewline") || !toBool(a["NoNewline"]) {
		text += "\r\n"
	}
	if e.p.console != nil {
		_, _ = io.WriteString(e.p.console, text)
	}
	return nil, nil
}

// isExchangeSnapin reports whether name is a snap-in Exchange 2013+ registers (E2010 is the legacy name
// Microsoft's own DAG scripts load).
func isExchangeSnapin(name string) bool {
	switch strings.ToLower(name) {
	case "microsoft.exchange.management.powershell.snapin", "microsoft.exchange.management.powershell.e2010":
		return true
	}
	return false
}

func addPSSnapin(e *env, _ *commandNode, args []boundArg, _ []any) ([]any, error) {
	a, err := bindBuiltin("Add-PSSnapin", []Parameter{{Name: "Name", Position: 0, Mandatory: true}}, args)
	if err != nil {
		return nil, err
	}
	for _, n := range unroll(a["Name"]) {
		if !isExchangeSnapin(toString(n)) {
			return nil, &Error{Message: fmt.Sprintf("The Windows PowerShell snap-in '%s' is not installed on this computer.", toString(n)),
				Category: "InvalidArgument", ErrorID: "AddPSSnapInRead,Microsoft.PowerShell.Commands.AddPSSnapinCommand"}
		}
	}
	return nil, e.p.loadExchange()
}

func connectExchangeServer(e *env, c *commandNode, args []boundArg, _ []any) ([]any, error) {
	if !e.p.remote {
		return nil, notRecognized(c.name)
	}
	if _, err := bindBuiltin("Connect-ExchangeServer", []Parameter{{Name: "ServerFqdn", Position: 0}, {Name: "Auto", Switch: true, Position: -1},
		{Name: "ClientApplication", Position: -1}, {Name: "UserName", Position: -1}, {Name: "AllowClobber", Switch: true, Position: -1}}, args); err != nil {
		return nil, err
	}
	return nil, e.p.loadExchange()
}

func joinPath(_ *env, _ *commandNode, args []boundArg, _ []any) ([]any, error) {
	a, err := bindBuiltin("Join-Path", []Parameter{{Name: "Path", Position: 0, Mandatory: true}, {Name: "ChildPath", Position: 1, Mandatory: true}}, args)
	if err != nil {
		return nil, err
	}
	return []any{strings.TrimRight(toString(a["Path"]), `\`) + `\` + strings.TrimLeft(toString(a["ChildPath"]), `\`)}, nil
}

// newObject is New-Object -TypeName T [-ArgumentList a, b]: of .NET types, only System.Text.UTF8Encoding
// (the session loop's encoder) is modelled.
func newObject(e *env, _ *commandNode, args []boundArg, _ []any) ([]any, error) {
	a, err := bindBuiltin("New-Object", []Parameter{{Name: "TypeName", Position: 0, Mandatory: true}, {Name: "ArgumentList", Aliases: []string{"Args"}, Position: 1}}, args)
	if err != nil {
		return nil, err
	}
	typ := toString(a["TypeName"])
	if t, ok := canonicalType(typ); ok && t == "System.Text.UTF8Encoding" {
		v, err := e.staticCall(t, "new", unroll(a["ArgumentList"]))
		if err != nil {
			return nil, err
		}
		return []any{v}, nil
	}
	return nil, &Error{Message: fmt.Sprintf("Cannot find type [%s]: verify that the assembly containing this type is loaded.", typ),
		Category: "InvalidType", ErrorID: "TypeNotFound,Microsoft.PowerShell.Commands.NewObjectCommand", Terminating: true}
}
