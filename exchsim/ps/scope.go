package ps

import (
	"fmt"
	"strings"
)

// scope is a child scope (about_Scopes): a function or a script block run with & gets one; reading a
// variable looks through the scopes outwards to the process's global variables, writing one writes it in
// the innermost scope unless it names $global:. The global scope itself is proc.vars and proc.funcs, so
// a script that defines nothing runs exactly as before scopes existed.
type scope struct {
	vars   map[string]any
	funcs  map[string]*functionNode
	parent *scope
}

// child is an env one scope further in, with no $_ of its own.
func (e *env) child() *env {
	return &env{p: e.p, sc: &scope{vars: map[string]any{}, funcs: map[string]*functionNode{}, parent: e.sc}}
}

// enter counts a call into a function or script block; the returned func leaves it.
func (e *env) enter() (leave func(), err error) {
	if e.p.depth >= maxCallDepth {
		return nil, &RuntimeError{Stop: true, Err: &Error{Message: fmt.Sprintf("The script failed due to call depth overflow. The call depth reached %d and the maximum is %d.", maxCallDepth+1, maxCallDepth),
			Category: "InvalidOperation", ErrorID: "CallDepthOverflow", Type: "System.Management.Automation.ScriptCallDepthException"}}
	}
	e.p.depth++
	return func() { e.p.depth-- }, nil
}

// isGlobal reports whether a variable name carries the $global: modifier.
func isGlobal(name string) bool { return strings.HasPrefix(strings.ToLower(name), "global:") }

// lookup reads a variable through the scopes.
func (e *env) lookup(name string) any {
	k := varKey(name)
	if !isGlobal(name) {
		for s := e.sc; s != nil; s = s.parent {
			if v, ok := s.vars[k]; ok {
				return v
			}
		}
	}
	return e.p.vars[k]
}

// set writes a variable in the innermost scope, or the global one for $global:.
func (e *env) set(name string, v any) {
	if e.sc == nil || isGlobal(name) {
		e.p.vars[varKey(name)] = v
		return
	}
	e.sc.vars[varKey(name)] = v
}

// stopOnError is $ErrorActionPreference as this scope sees it.
func (e *env) stopOnError() bool {
	return strings.EqualFold(toString(e.lookup("ErrorActionPreference")), "Stop")
}

// define records a function in the current scope when its statement runs, as PowerShell does.
func (e *env) define(fn *functionNode) {
	if e.sc == nil {
		e.p.funcs[strings.ToLower(fn.name)] = fn
		return
	}
	e.sc.funcs[strings.ToLower(fn.name)] = fn
}

// function finds a function by lower-case name through the scopes.
func (e *env) function(name string) *functionNode {
	for s := e.sc; s != nil; s = s.parent {
		if fn := s.funcs[name]; fn != nil {
			return fn
		}
	}
	return e.p.funcs[name]
}

// callFunction runs fn in a scope of its own with its parameters bound: by name (-id, or any unambiguous
// prefix), else by position in declaration order; what is left is $args. A typed parameter is converted
// as a cast would (an unbound [string] is ”).
func (e *env) callFunction(fn *functionNode, args []boundArg) ([]any, error) {
	leave, err := e.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	c := e.child()
	bound := map[string]any{}
	var positional []any
	for _, a := range args {
		if a.param == "" {
			positional = append(positional, a.value)
			continue
		}
		var match *paramNode
		for i := range fn.params {
			if strings.HasPrefix(strings.ToLower(fn.params[i].name), strings.ToLower(a.param)) {
				if match != nil {
					return nil, &Error{Message: fmt.Sprintf("Parameter cannot be processed because the parameter name '%s' is ambiguous.", a.param), Category: "InvalidArgument", ErrorID: "AmbiguousParameter," + fn.name, Terminating: true}
				}
				match = &fn.params[i]
			}
		}
		if match == nil {
			return nil, &Error{Message: fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", a.param), Category: "InvalidArgument", ErrorID: "NamedParameterNotFound," + fn.name, Terminating: true}
		}
		var v any = true // a named parameter without a value is a switch
		if a.hasValue {
			v = a.value
		}
		bound[strings.ToLower(match.name)] = v
	}
	for _, pn := range fn.params {
		k := strings.ToLower(pn.name)
		v, ok := bound[k]
		if !ok && len(positional) > 0 {
			v, positional = positional[0], positional[1:]
		}
		if pn.typ != "" {
			cv, err := e.cast(pn.typ, v)
			if err != nil {
				return nil, err
			}
			v = cv
		}
		c.sc.vars[k] = v
	}
	if positional == nil {
		positional = []any{}
	}
	c.sc.vars["args"] = positional
	return c.script(fn.body)
}

// invokeValue is `& <value>`: a script block runs in a scope of its own with its arguments as $args; a
// string names a command.
func (e *env) invokeValue(c *commandNode, args []boundArg, input []any, piped bool) ([]any, error) {
	v, err := e.eval(c.callee)
	if err != nil {
		return nil, err
	}
	switch x := Unwrap(v).(type) {
	case *ScriptBlock:
		leave, err := e.enter()
		if err != nil {
			return nil, err
		}
		defer leave()
		child := e.child()
		rest := []any{}
		for _, a := range args {
			if a.param != "" {
				rest = append(rest, "-"+a.param)
			}
			if a.hasValue {
				rest = append(rest, a.value)
			}
		}
		child.sc.vars["args"] = rest
		if piped {
			child.sc.vars["input"] = input
		}
		return child.script(x.body)
	case string:
		named := *c
		named.name, named.callee = x, nil
		return e.run(&named, args, input, piped)
	}
	return nil, &Error{Message: "The expression after '&' in a pipeline element produced an object that was not valid. It must result in a command name, a script block, or a CommandInfo object.", Category: "InvalidOperation", ErrorID: "BadExpression", Terminating: true}
}
