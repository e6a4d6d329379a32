package ps

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// loop runs one iteration's body and says what the loop does next: a break ends it, a continue goes on to
// the next iteration, from however deep in script blocks and functions they come (about_Break).
func (e *env) loopBody(body *scriptNode, out *[]any) (stop bool, err error) {
	o, err := e.script(body)
	*out = append(*out, o...)
	var flow *flowRequest
	if errors.As(err, &flow) {
		return flow.keyword == "break", nil
	}
	return err != nil, err
}

func (e *env) foreach(x *foreachNode) ([]any, error) {
	v, err := e.pipelineValue(x.in)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, item := range unroll(v) { // $null: no iteration (PowerShell 3 and later)
		if v == nil {
			break
		}
		e.set(x.variable, item)
		if stop, err := e.loopBody(x.body, &out); stop || err != nil {
			return out, err
		}
	}
	return out, nil
}

func (e *env) while(x *whileNode) ([]any, error) {
	var out []any
	for {
		if err := e.p.ctx.Err(); err != nil {
			return out, &RuntimeError{Err: &Error{Message: "The pipeline has been stopped.", Category: "OperationStopped", ErrorID: "PipelineStopped"}}
		}
		c, err := e.pipelineValue(x.cond)
		if err != nil || !toBool(c) {
			return out, err
		}
		if stop, err := e.loopBody(x.body, &out); stop || err != nil {
			return out, err
		}
	}
}

// try runs the try block; a terminating error — script- or statement-terminating, as PowerShell's catch
// takes both — runs the catch block with $_ as its ErrorRecord. A stopped pipeline, exit, break and
// continue are not errors a catch sees (about_Try_Catch_Finally).
func (e *env) try(x *tryNode) ([]any, error) {
	out, err := e.script(x.body)
	var rerr *RuntimeError
	if x.catch != nil && errors.As(err, &rerr) && rerr.Err.ErrorID != "PipelineStopped" {
		if rerr.Command == "" {
			rerr.Command = "try"
		}
		e.p.lastOK = false
		c := &env{p: e.p, sc: e.sc, under: errorRecord(rerr), hasUnder: true}
		var o []any
		o, err = c.script(x.catch)
		out = append(out, o...)
	}
	if x.finally != nil {
		o, ferr := e.script(x.finally)
		out = append(out, o...)
		if ferr != nil {
			err = ferr
		}
	}
	return out, err
}

// errorRecord is the ErrorRecord a catch block sees as $_: its Exception (Message; GetType().FullName),
// CategoryInfo.Category and FullyQualifiedErrorId — what the session loop's exmError reads.
func errorRecord(re *RuntimeError) *Object {
	cat := re.Err.Category
	if cat == "" {
		cat = "NotSpecified"
	}
	exc := NewObject(exceptionType(re.Err), "Message", re.Err.Message)
	rec := NewObject("System.Management.Automation.ErrorRecord",
		"Exception", exc,
		"TargetObject", re.Err.Target,
		"CategoryInfo", NewObject("System.Management.Automation.ErrorCategoryInfo", "Category", Enum{Type: "System.Management.Automation.ErrorCategory", Name: cat}),
		"FullyQualifiedErrorId", re.Err.ErrorID)
	rec.ToStringValue = re.Err.Message
	return rec
}

// exceptionType is the .NET exception type of an error record: its own, or one derived from its category.
func exceptionType(e *Error) string {
	if e.Type != "" {
		return e.Type
	}
	if exc := exceptionFor(e.Category); exc != "Exception" {
		return "System.Management.Automation." + exc
	}
	return "System.Management.Automation.RuntimeException"
}

// assignMember is `x.Name = v`: a property of an object or a key of a hashtable; a modelled .NET object
// decides for itself.
func (e *env) assignMember(m *memberNode, v any) error {
	if m.static {
		return e.fail(&Error{Message: fmt.Sprintf("Setting a static property ([%s]::%s) is not modelled by exchsim.", m.x.(*typeNode).name, m.name), Category: "InvalidOperation", ErrorID: "ExchsimUnsupportedExpression"}, "::"+m.name, 0)
	}
	target, err := e.eval(m.x)
	if err != nil {
		return err
	}
	switch t := Unwrap(target).(type) {
	case dotnet:
		return t.setMember(m.name, v)
	case *Hashtable:
		lk := strings.ToLower(m.name)
		if _, ok := t.Values[lk]; !ok {
			t.Keys = append(t.Keys, m.name)
		}
		t.Values[lk] = v
		return nil
	case *Object:
		for i := range t.Props {
			if strings.EqualFold(t.Props[i].Name, m.name) {
				t.Props[i].Value = v
				return nil
			}
		}
	case nil:
		return e.fail(&Error{Message: fmt.Sprintf("The property '%s' cannot be found on this object. Verify that the property exists and can be set.", m.name), Category: "InvalidOperation", ErrorID: "PropertyAssignmentException"}, "."+m.name, 0)
	}
	return e.fail(&Error{Message: fmt.Sprintf("'%s' is a ReadOnly property.", m.name), Category: "InvalidOperation", ErrorID: "PropertyAssignmentException"}, "."+m.name, 0)
}

// add is `l + r` by the left operand's type: strings concatenate, arrays append, numbers add, $null takes
// the right operand (about_Arithmetic_Operators).
func (e *env) add(l, r any) (any, error) {
	switch x := Unwrap(l).(type) {
	case nil:
		return r, nil
	case string:
		rs := toString(r)
		if len(x)+len(rs) > maxAddLen {
			return nil, e.tooLarge()
		}
		return x + rs, nil
	case []any:
		ru := unroll(r)
		if len(x)+len(ru) > maxAddLen {
			return nil, e.tooLarge()
		}
		return append(append(make([]any, 0, len(x)+len(ru)), x...), ru...), nil
	case int64:
		if y, ok := Unwrap(r).(int64); ok {
			return x + y, nil
		}
	}
	a, aok := toNumber(l)
	b, bok := toNumber(r)
	if s, ok := Unwrap(r).(string); ok && aok { // a number plus a string converts the string ('' is 0)
		b, bok = 0, true
		if t := strings.TrimSpace(s); t != "" {
			f, ferr := fmt.Sscan(t, &b)
			bok = ferr == nil && f == 1
		}
	}
	if !aok || !bok {
		return nil, e.fail(&Error{Message: fmt.Sprintf("Method invocation failed because [%s] does not contain a method named 'op_Addition'.", typeName(Unwrap(l))), Category: "InvalidOperation", ErrorID: "MethodNotFound"}, "+", 0)
	}
	return a + b, nil
}

// maxAddLen bounds what '+' builds (bytes of a string, elements of an array): a loop that doubles a value
// would otherwise take the simulator's memory, where Windows would fail with OutOfMemoryException.
const maxAddLen = 1 << 24

func (e *env) tooLarge() error {
	return e.fail(&Error{Message: "Exception of type 'System.OutOfMemoryException' was thrown (exchsim bounds '+' at 16 Mi bytes or elements).", Category: "NotSpecified", ErrorID: "System.OutOfMemoryException", Type: "System.OutOfMemoryException"}, "+", 0)
}

// splitAny is String.Split(char[]): each character of seps separates (whitespace when seps is empty);
// empty fields are kept.
func splitAny(s, seps string) []string {
	isSep := func(r rune) bool { return strings.ContainsRune(seps, r) }
	if seps == "" {
		isSep = unicode.IsSpace
	}
	var out []string
	start := 0
	for i, r := range s {
		if isSep(r) {
			out = append(out, s[start:i])
			start = i + len(string(r))
		}
	}
	return append(out, s[start:])
}
