package ps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RuntimeError is a terminating error: it stops the script (or, in the session loop, the request).
type RuntimeError struct {
	Err *Error
	// Command is the command text that failed, for CLIXML's "+ <line>" and "CategoryInfo" lines.
	Command string
	Pos     int // byte offset of Command in the script
	// Line and Col locate Command in the script (1-based), for "At line:N char:M"; 0 when unknown.
	Line, Col int
	// Stop: a non-terminating error promoted by ErrorAction Stop (the preference or -ErrorAction), which
	// terminates the whole script (ActionPreferenceStopException). A statement-terminating error — a
	// cmdlet's terminating error, a command that is not recognized, a binding error — ends only its
	// statement unless $ErrorActionPreference is Stop.
	Stop bool
}

func (e *RuntimeError) Error() string { return e.Err.Message }
func (e *RuntimeError) Unwrap() error { return e.Err }

// flowRequest is a break or continue on its way to the innermost enclosing loop — across script blocks and
// functions (about_Break, about_Continue). The dialect has no loop of its own: one reaching the top of a
// script ends the script, as PowerShell does outside any loop; the session loop's foreach contains one
// inside a request (docs/session-protocol.md).
type flowRequest struct{ keyword string }

func (e *flowRequest) Error() string { return e.keyword + " outside a loop" }

// exitRequest is `exit N`.
type exitRequest struct{ code int }

func (e *exitRequest) Error() string { return fmt.Sprintf("exit %d", e.code) }

// proc is one powershell.exe process: its variables, loaded snap-ins and error stream persist across the
// statements of a script and, in the session loop, across requests.
type proc struct {
	rt     *Runtime
	ctx    context.Context
	host   string
	user   string
	vars   map[string]any // lower-case names: the global scope
	funcs  map[string]*functionNode
	snapin bool // Exchange snap-in (or remote session) loaded
	remote bool // RemoteExchange.ps1 dot-sourced: Connect-ExchangeServer exists
	// errs is the error stream of the current script: non-terminating errors and the terminating one.
	errs   []*RuntimeError
	lastOK bool // $?
	// consoleStdin and codepage are how the process's console was set up (Process): what the session
	// loop reports in its READY line.
	consoleStdin bool
	codepage     int
	// console is where Write-Host and [Console]::Out write: the process's standard output.
	console io.Writer
	// stdin is the process's standard input, read through [Console]::OpenStandardInput.
	stdin io.Reader
	// stdinOpen: a reader over stdin exists; a second would split the input between them.
	stdinOpen bool
	// culture is the thread's CurrentCulture and CurrentUICulture as a script set them.
	culture string
	// depth is how many functions and script blocks run with & are active (maxCallDepth bounds it).
	depth int
}

// maxCallDepth is Windows PowerShell's bound on nested calls: "The script failed due to call depth
// overflow. The call depth reached 1001 and the maximum is 1000." (ScriptCallDepthException).
const maxCallDepth = 1000

func newProc(ctx context.Context, rt *Runtime, host, user string) *proc {
	return &proc{rt: rt, ctx: ctx, host: host, user: user, lastOK: true, culture: "en-US", funcs: map[string]*functionNode{}, vars: map[string]any{
		"erroractionpreference": "Continue", "progresspreference": "Continue", "warningpreference": "Continue",
		"lastexitcode": int64(0),
	}}
}

// env is an evaluation context: the process, the scope (nil: global) and $_ of the innermost script block.
type env struct {
	p        *proc
	sc       *scope
	under    any
	hasUnder bool
}

func (p *proc) stopOnError() bool {
	return strings.EqualFold(toString(p.vars["erroractionpreference"]), "Stop")
}

// runScript runs a parsed script and returns its output. A script-terminating error (under ErrorAction
// Stop) or exit is returned as error. A statement-terminating one — a command that is not recognized, a
// parameter that does not bind, a cmdlet's terminating error, a method call on $null — goes to the error
// stream and the next top-level statement runs, as in Windows PowerShell 5.1: $ErrorActionPreference
// 'Stop' promotes both non-terminating and statement-terminating errors to script-terminating, the
// -ErrorAction Stop common parameter only non-terminating ones (MicrosoftDocs/PowerShell-Docs#1583,
// PowerShell/PowerShell#4292, #14819).
func (p *proc) runScript(s *scriptNode) ([]any, error) {
	e := &env{p: p}
	var out []any
	for _, st := range s.stmts {
		o, err := e.script(&scriptNode{stmts: []node{st}})
		out = append(out, o...)
		var rerr *RuntimeError
		if err == nil || !errors.As(err, &rerr) || rerr.Stop || p.stopOnError() || rerr.Err.ErrorID == "PipelineStopped" {
			if err != nil {
				return out, err
			}
			continue
		}
		p.errs = append(p.errs, rerr)
		p.lastOK = false
	}
	return out, nil
}

func (e *env) script(s *scriptNode) ([]any, error) {
	var out []any
	for _, st := range s.stmts {
		if err := e.p.ctx.Err(); err != nil {
			return out, &RuntimeError{Err: &Error{Message: "The pipeline has been stopped.", Category: "OperationStopped", ErrorID: "PipelineStopped"}}
		}
		o, err := e.statement(st)
		out = append(out, o...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (e *env) statement(n node) ([]any, error) {
	switch x := n.(type) {
	case *assignNode:
		v, err := e.pipelineValue(x.value)
		if err != nil {
			return nil, err
		}
		name := varKey(x.name)
		if name == "true" || name == "false" || name == "null" || name == "_" || name == "?" {
			return nil, e.fail(&Error{Message: fmt.Sprintf("Cannot overwrite variable %s because it is read-only or constant.", x.name), Category: "WriteError", ErrorID: "VariableNotWritable"}, "$"+x.name, 0)
		}
		e.set(x.name, v)
		e.p.lastOK = true
		return nil, nil
	case *memberAssignNode:
		v, err := e.pipelineValue(x.value)
		if err != nil {
			return nil, err
		}
		return nil, e.assignMember(x.target, v)
	case *functionNode:
		e.define(x)
		return nil, nil
	case *foreachNode:
		return e.foreach(x)
	case *whileNode:
		return e.while(x)
	case *tryNode:
		return e.try(x)
	case *ifNode:
		for i, c := range x.conds {
			v, err := e.pipelineValue(c)
			if err != nil {
				return nil, err
			}
			if toBool(v) {
				return e.script(x.blocks[i])
			}
		}
		if x.els != nil {
			return e.script(x.els)
		}
		return nil, nil
	case *flowNode:
		return nil, &flowRequest{keyword: x.keyword}
	case *exitNode:
		code := 0
		if x.code != nil {
			v, err := e.eval(x.code)
			if err != nil {
				return nil, err
			}
			n, _ := toNumber(v)
			code = int(n)
		}
		return nil, &exitRequest{code: code}
	case *dotSourceNode:
		v, err := e.eval(x.target)
		if err != nil {
			return nil, err
		}
		path := toString(v)
		if strings.HasSuffix(strings.ToLower(path), `\bin\remoteexchange.ps1`) {
			e.p.remote = true
			e.p.lastOK = true
			return nil, nil
		}
		return nil, e.fail(notRecognized(path), path, 0)
	case *pipelineNode:
		return e.pipeline(x)
	}
	return nil, fmt.Errorf("internal: unknown statement %T", n)
}

// pipelineValue evaluates a pipeline for use as a value (assignment, condition).
func (e *env) pipelineValue(n node) (any, error) {
	if pl, ok := n.(*pipelineNode); ok && len(pl.elems) == 1 {
		if _, isCmd := pl.elems[0].(*commandNode); !isCmd {
			return e.eval(pl.elems[0])
		}
	}
	out, err := e.statement(n)
	if err != nil {
		return nil, err
	}
	return collapse(out), nil
}

func (e *env) pipeline(pl *pipelineNode) ([]any, error) {
	var items []any
	for i, el := range pl.elems {
		if c, ok := el.(*commandNode); ok {
			out, err := e.invoke(c, items, i > 0)
			if err != nil && i == len(pl.elems)-1 {
				return out, err // what the last command wrote before it failed (or broke out) was written
			}
			if err != nil {
				return nil, err
			}
			items = out
			continue
		}
		v, err := e.eval(el)
		if err != nil {
			return nil, err
		}
		e.p.lastOK = true
		items = unroll(v)
	}
	return items, nil
}

// fail turns an error record into a terminating RuntimeError.
func (e *env) fail(err *Error, command string, pos int) error {
	return &RuntimeError{Err: err, Command: command, Pos: pos}
}

func notRecognized(name string) *Error {
	return &Error{Message: fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", name),
		Category: "ObjectNotFound", ErrorID: "CommandNotFoundException", Terminating: true, Target: name}
}

func (e *env) eval(n node) (any, error) {
	switch x := n.(type) {
	case *literalNode:
		return x.v, nil
	case *varNode:
		return e.variable(x.name)
	case *parenNode:
		return e.pipelineValue(x.p)
	case *subexprNode:
		out, err := e.script(x.body)
		if err != nil {
			return nil, err
		}
		if x.array {
			if out == nil {
				out = []any{}
			}
			return out, nil
		}
		return collapse(out), nil
	case *arrayNode:
		arr := make([]any, 0, len(x.elems))
		for _, el := range x.elems {
			v, err := e.eval(el)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case *hashNode:
		h := &Hashtable{Values: map[string]any{}}
		for i, k := range x.keys {
			v, err := e.pipelineValue(x.values[i])
			if err != nil {
				return nil, err
			}
			lk := strings.ToLower(k)
			if _, dup := h.Values[lk]; dup {
				return nil, e.fail(&Error{Message: fmt.Sprintf("Duplicate keys '%s' are not allowed in hash literals.", k), Category: "ParserError", ErrorID: "DuplicateKeyInHashLiteral"}, "@{...}", 0)
			}
			h.Keys = append(h.Keys, k)
			h.Values[lk] = v
		}
		return h, nil
	case *blockNode:
		return &ScriptBlock{body: x.body}, nil
	case *memberNode:
		if x.static {
			return e.staticMember(x.x.(*typeNode).name, x.name)
		}
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		if d, ok := Unwrap(v).(dotnet); ok {
			return d.member(x.name)
		}
		return getMember(v, x.name), nil
	case *typeNode:
		return nil, e.fail(&Error{Message: fmt.Sprintf("A type literal [%s] is a value only as the left of '::' in exchsim's dialect.", x.name), Category: "InvalidOperation", ErrorID: "ExchsimUnsupportedExpression"}, "["+x.name+"]", 0)
	case *indexNode:
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		idx, err := e.eval(x.index)
		if err != nil {
			return nil, err
		}
		switch c := v.(type) {
		case []any:
			n, _ := toNumber(idx)
			i := int(n)
			if i < 0 {
				i += len(c)
			}
			if i < 0 || i >= len(c) {
				return nil, nil
			}
			return c[i], nil
		case *Hashtable:
			r, _ := c.Get(toString(idx))
			return r, nil
		}
		return nil, nil
	case *callNode:
		return e.call(x)
	case *castNode:
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		return e.cast(x.typ, v)
	case *unaryNode:
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		return !toBool(v), nil
	case *binaryNode:
		return e.binary(x)
	case *pipelineNode:
		return e.pipelineValue(x)
	}
	return nil, fmt.Errorf("internal: cannot evaluate %T", n)
}

func (e *env) variable(name string) (any, error) {
	switch strings.ToLower(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "_", "psitem":
		return e.under, nil
	case "?":
		return e.p.lastOK, nil
	case "env:exchangeinstallpath":
		return `C:\Program Files\Microsoft\Exchange Server\V15\`, nil
	case "env:computername":
		return e.p.host, nil
	}
	if strings.HasPrefix(strings.ToLower(name), "env:") {
		return nil, nil
	}
	return e.lookup(name), nil
}

// varKey is a variable's key in the session: case-insensitive, and without a scope modifier. exchsim
// keeps one scope per runspace, so $global:LASTEXITCODE (which a native command sets, and OpRun resets)
// and $LASTEXITCODE read in a script are the same variable, as they are in PowerShell when the script
// declares no local of that name (about_Scopes).
func varKey(name string) string {
	name = strings.ToLower(name)
	for _, scope := range []string{"global:", "script:", "local:", "private:"} {
		if rest, ok := strings.CutPrefix(name, scope); ok {
			return rest
		}
	}
	return name
}

func (e *env) call(x *callNode) (any, error) {
	var v any
	if !x.static {
		var err error
		if v, err = e.eval(x.x); err != nil {
			return nil, err
		}
		v = Unwrap(v) // methods are the base value's
	}
	args := make([]any, len(x.args))
	for i, a := range x.args {
		var err error
		if args[i], err = e.eval(a); err != nil {
			return nil, err
		}
	}
	if x.static {
		return e.staticCall(x.x.(*typeNode).name, x.name, args)
	}
	name := strings.ToLower(x.name)
	if v == nil {
		return nil, e.fail(&Error{Message: "You cannot call a method on a null-valued expression.", Category: "InvalidOperation", ErrorID: "InvokeMethodOnNull"}, "."+x.name+"()", 0)
	}
	if d, ok := v.(dotnet); ok {
		return d.call(e, x.name, args)
	}
	switch name {
	case "tostring":
		if len(args) == 0 {
			return toString(v), nil
		}
		if t, ok := v.(time.Time); ok && len(args) == 1 {
			switch toString(args[0]) {
			case "o", "O":
				if t.Location() == time.UTC {
					return t.Format("2006-01-02T15:04:05.0000000Z"), nil
				}
				return t.Format("2006-01-02T15:04:05.0000000-07:00"), nil
			case "s":
				return t.Format("2006-01-02T15:04:05"), nil
			}
		}
	case "touniversaltime":
		if t, ok := v.(time.Time); ok {
			return t.UTC(), nil
		}
	case "tolocaltime":
		if t, ok := v.(time.Time); ok {
			return t.Local(), nil
		}
	case "tobytes":
		if o, ok := v.(*Object); ok && o.TypeName == "Microsoft.Exchange.Data.ByteQuantifiedSize" {
			b, _ := o.Get("Bytes")
			return b, nil
		}
	case "tolower":
		if s, ok := v.(string); ok {
			return strings.ToLower(s), nil
		}
	case "toupper":
		if s, ok := v.(string); ok {
			return strings.ToUpper(s), nil
		}
	case "trim":
		if s, ok := v.(string); ok {
			return strings.TrimSpace(s), nil
		}
	case "contains":
		if s, ok := v.(string); ok && len(args) == 1 {
			return strings.Contains(s, toString(args[0])), nil
		}
	case "split":
		// String.Split(params char[]): every character of the argument separates; empty fields are kept
		if s, ok := v.(string); ok && len(args) == 1 {
			parts := splitAny(s, toString(args[0]))
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}
	case "gettype":
		if len(args) == 0 {
			t := typeName(v)
			return NewObject("System.RuntimeType", "FullName", t, "Name", t[strings.LastIndex(t, ".")+1:]), nil
		}
	case "getenumerator":
	}
	return nil, e.fail(&Error{Message: fmt.Sprintf("Method invocation failed because [%s] does not contain a method named '%s'.", typeName(v), x.name),
		Category: "InvalidOperation", ErrorID: "MethodNotFound"}, "."+x.name+"()", 0)
}

func (e *env) cast(typ string, v any) (any, error) {
	v = Unwrap(v) // a cast yields the base value, without the note properties
	bad := func() error {
		return e.fail(&Error{Message: fmt.Sprintf("Cannot convert value \"%s\" to type \"%s\".", toString(v), map[string]string{"int": "System.Int32", "long": "System.Int64", "double": "System.Double", "bool": "System.Boolean", "datetime": "System.DateTime"}[typ]),
			Category: "InvalidArgument", ErrorID: "InvalidCastFromStringToInteger"}, "["+typ+"]", 0)
	}
	switch typ {
	case "string":
		if v == nil {
			return "", nil
		}
		return toString(v), nil
	case "int", "long", "double":
		var f float64
		switch x := v.(type) {
		case time.Time, *Object, *Hashtable, []any:
			return nil, bad()
		case string:
			if strings.TrimSpace(x) == "" {
				f = 0
			} else {
				n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
				if err != nil {
					return nil, bad()
				}
				f = n
			}
		default:
			n, ok := toNumber(x)
			if !ok {
				return nil, bad()
			}
			f = n
		}
		if typ == "double" {
			return f, nil
		}
		r := math.RoundToEven(f)
		if typ == "int" && (r > math.MaxInt32 || r < math.MinInt32) {
			return nil, bad()
		}
		return int64(r), nil
	case "bool":
		return toBool(v), nil
	case "datetime":
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			t, err := parseDateTime(x)
			if err != nil {
				return nil, bad()
			}
			return t, nil
		}
		return nil, bad()
	case "array":
		if a, ok := v.([]any); ok {
			return a, nil
		}
		if v == nil {
			return []any{}, nil
		}
		return []any{v}, nil
	}
	return nil, bad()
}

func (e *env) binary(x *binaryNode) (any, error) {
	l, err := e.eval(x.left)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "and":
		if !toBool(l) {
			return false, nil
		}
		r, err := e.eval(x.right)
		if err != nil {
			return nil, err
		}
		return toBool(r), nil
	case "or":
		if toBool(l) {
			return true, nil
		}
		r, err := e.eval(x.right)
		if err != nil {
			return nil, err
		}
		return toBool(r), nil
	}
	r, err := e.eval(x.right)
	if err != nil {
		return nil, err
	}
	op := strings.TrimPrefix(x.op, "i")
	if x.op == "in" || x.op == "notin" {
		op = x.op
	}
	switch op {
	case "add":
		return e.add(l, r)
	case "join":
		parts := make([]string, 0)
		for _, el := range unroll(l) {
			parts = append(parts, toString(el))
		}
		return strings.Join(parts, toString(r)), nil
	case "xor":
		return toBool(l) != toBool(r), nil
	case "contains", "notcontains":
		found := false
		for _, el := range unroll(l) {
			if c, ok := compare(el, r); ok && c == 0 {
				found = true
				break
			}
		}
		return found == (op == "contains"), nil
	case "in", "notin":
		found := false
		for _, el := range unroll(r) {
			if c, ok := compare(el, l); ok && c == 0 {
				found = true
				break
			}
		}
		return found == (op == "in"), nil
	}
	// With an array on the left, comparison operators filter it.
	if arr, ok := l.([]any); ok {
		var out []any
		for _, el := range arr {
			m, err := e.compareOp(op, el, r)
			if err != nil {
				return nil, err
			}
			if m {
				out = append(out, el)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return e.compareOp(op, l, r)
}

func (e *env) compareOp(op string, l, r any) (bool, error) {
	switch op {
	case "like", "notlike", "clike":
		re, err := likeToRegexp(toString(r))
		if err != nil {
			return false, e.fail(&Error{Message: "The specified wildcard character pattern is not valid: " + toString(r), Category: "InvalidArgument", ErrorID: "RuntimeException"}, "-like", 0)
		}
		return re.MatchString(toString(l)) == (op != "notlike"), nil
	case "match", "notmatch":
		re, err := regexp.Compile("(?i)" + toString(r))
		if err != nil {
			return false, e.fail(&Error{Message: fmt.Sprintf("The regular expression pattern %s is not valid.", toString(r)), Category: "InvalidOperation", ErrorID: "InvalidRegularExpression"}, "-match", 0)
		}
		return re.MatchString(toString(l)) == (op == "match"), nil
	}
	c, ok := compare(l, r)
	switch op {
	case "eq", "ceq":
		return ok && c == 0, nil
	case "ne", "cne":
		return !ok || c != 0, nil
	case "gt":
		return ok && c > 0, nil
	case "ge":
		return ok && c >= 0, nil
	case "lt":
		return ok && c < 0, nil
	case "le":
		return ok && c <= 0, nil
	}
	return false, fmt.Errorf("internal: operator %s", op)
}

// runBlock runs a script block with $_ bound to under and returns its output.
func (e *env) runBlock(sb *ScriptBlock, under any) ([]any, error) {
	child := &env{p: e.p, sc: e.sc, under: under, hasUnder: true}
	return child.script(sb.body)
}
