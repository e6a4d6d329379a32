package ps

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dotnet is a .NET object the dialect reaches through a type's static members ([Console]::Out,
// [System.IO.StreamReader]::new, New-Object System.Text.UTF8Encoding): only the members exmaintd's session
// loop uses (docs/session-protocol.md) are modelled; any other is PowerShell's own error for a missing
// member, so a script that strays outside them fails here as loudly as a typo would on Windows.
type dotnet interface {
	typeName() string
	String() string // what [string] and .ToString() give
	member(name string) (any, error)
	setMember(name string, v any) error
	call(e *env, name string, args []any) (any, error)
}

// void is what a method returning void gives: nothing to the pipeline.
func void() any { return []any{} }

func noMember(d dotnet, name string) error {
	return &RuntimeError{Err: &Error{Message: fmt.Sprintf("The property '%s' cannot be found on this object (exchsim models only what docs/session-protocol.md uses of [%s]).", name, d.typeName()), Category: "InvalidOperation", ErrorID: "PropertyNotFound"}}
}

func noMethod(typ, name string) error {
	return &RuntimeError{Err: &Error{Message: fmt.Sprintf("Method invocation failed because [%s] does not contain a method named '%s'.", typ, name), Category: "InvalidOperation", ErrorID: "MethodNotFound"}}
}

func readOnly(name string) error {
	return &RuntimeError{Err: &Error{Message: fmt.Sprintf("'%s' is a ReadOnly property.", name), Category: "InvalidOperation", ErrorID: "PropertyAssignmentException"}}
}

// methodException is what PowerShell makes of an exception a .NET method throws: a
// MethodInvocationException whose message quotes the inner one and whose FullyQualifiedErrorId is the inner
// exception's short type name.
func methodException(method string, nargs int, innerType, inner string) error {
	return &RuntimeError{Err: &Error{Message: fmt.Sprintf("Exception calling \"%s\" with \"%d\" argument(s): \"%s\"", method, nargs, inner),
		Category: "NotSpecified", ErrorID: innerType, Type: "System.Management.Automation.MethodInvocationException"}}
}

// canonicalType resolves a type literal's name as PowerShell does for the modelled types: "System." may be
// left out, [ScriptBlock] is an accelerator; case does not matter.
func canonicalType(name string) (string, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "system.")
	switch n {
	case "console":
		return "System.Console", true
	case "convert":
		return "System.Convert", true
	case "threading.thread":
		return "System.Threading.Thread", true
	case "threading.mutex":
		return "System.Threading.Mutex", true
	case "scriptblock", "management.automation.scriptblock":
		return "System.Management.Automation.ScriptBlock", true
	case "io.streamreader":
		return "System.IO.StreamReader", true
	case "text.utf8encoding":
		return "System.Text.UTF8Encoding", true
	case "text.encoding":
		return "System.Text.Encoding", true
	}
	return "", false
}

func typeNotFound(name string) error {
	return &RuntimeError{Err: &Error{Message: fmt.Sprintf("Unable to find type [%s] (exchsim models [Console], [Convert], [System.Threading.Thread], [System.Threading.Mutex], [ScriptBlock], [System.IO.StreamReader], [System.Text.UTF8Encoding], [System.Text.Encoding]).", name),
		Category: "InvalidOperation", ErrorID: "TypeNotFound"}}
}

// staticMember is [Type]::Name.
func (e *env) staticMember(typ, name string) (any, error) {
	t, ok := canonicalType(typ)
	if !ok {
		return nil, typeNotFound(typ)
	}
	switch t + "::" + strings.ToLower(name) {
	case "System.Console::out":
		return consoleWriter{e.p}, nil
	case "System.Console::isinputredirected":
		// WinRS gives the process a console for stdin when WINRS_CONSOLEMODE_STDIN is TRUE, a pipe otherwise
		return !e.p.consoleStdin, nil
	case "System.Console::inputencoding", "System.Console::outputencoding":
		return consoleEncoding{e.p.codepage}, nil
	case "System.Threading.Thread::currentthread":
		return thread{e.p}, nil
	case "System.Text.Encoding::utf8":
		return utf8Encoding{bom: true}, nil
	}
	return nil, &RuntimeError{Err: &Error{Message: fmt.Sprintf("The property '%s' cannot be found on [%s] (exchsim models only what docs/session-protocol.md uses).", name, t), Category: "InvalidOperation", ErrorID: "PropertyNotFound"}}
}

// staticCall is [Type]::Name(args), including [Type]::new(args).
func (e *env) staticCall(typ, name string, args []any) (any, error) {
	t, ok := canonicalType(typ)
	if !ok {
		return nil, typeNotFound(typ)
	}
	switch t + "::" + strings.ToLower(name) {
	case "System.Console::openstandardinput":
		if len(args) <= 1 {
			return stdinStream{e.p}, nil
		}
	case "System.Convert::tobase64string":
		if b, ok := Unwrap(argAt(args, 0)).(byteArray); ok && len(args) == 1 {
			return base64.StdEncoding.EncodeToString(b), nil
		}
	case "System.Convert::frombase64string":
		if len(args) == 1 {
			return fromBase64(toString(args[0]))
		}
	case "System.Management.Automation.ScriptBlock::create":
		if len(args) == 1 {
			src := toString(args[0])
			s, err := Parse(src)
			if err != nil {
				var pe *ParseError
				msg := err.Error()
				if errors.As(err, &pe) {
					msg = fmt.Sprintf("At line:1 char:%d\r\n%s", pe.Pos+1, pe.Message)
				}
				return nil, methodException("Create", 1, "ParseException", msg)
			}
			return &ScriptBlock{body: s, src: src}, nil
		}
	case "System.IO.StreamReader::new":
		if in, ok := Unwrap(argAt(args, 0)).(stdinStream); ok && len(args) <= 2 {
			in.p.stdinOpen = true
			var r io.Reader = strings.NewReader("") // a process run without standard input (Runtime.Eval)
			if in.p.stdin != nil {
				r = in.p.stdin
			}
			return &streamReader{p: in.p, r: bufio.NewReaderSize(r, 65536)}, nil
		}
	case "System.Threading.Mutex::openexisting":
		// the mutex exists or it does not; exchsim's never refuses access to one that does
		if len(args) == 1 {
			name := toString(args[0])
			if f := e.p.rt.opts.Mutex; f != nil && f(e.p.host, name) {
				return mutex{name}, nil
			}
			return nil, methodException("OpenExisting", 1, "WaitHandleCannotBeOpenedException", "No handle of the given name exists.")
		}
	case "System.Text.UTF8Encoding::new":
		if len(args) <= 1 {
			return utf8Encoding{bom: toBool(argAt(args, 0))}, nil
		}
	}
	return nil, &RuntimeError{Err: &Error{Message: fmt.Sprintf("Method invocation failed because [%s] does not contain a method named '%s' with %d argument(s) of these types (exchsim models only what docs/session-protocol.md uses).", t, name, len(args)), Category: "InvalidOperation", ErrorID: "MethodNotFound"}}
}

func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// fromBase64 is Convert.FromBase64String on .NET Framework 4.x: white space is ignored; a length that is
// not a multiple of four and a character outside the alphabet are FormatExceptions with these messages.
func fromBase64(s string) (any, error) {
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if len(clean)%4 != 0 {
		return nil, methodException("FromBase64String", 1, "FormatException", "Invalid length for a Base-64 char array or string.")
	}
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, methodException("FromBase64String", 1, "FormatException", "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. ")
	}
	return byteArray(b), nil
}

// mutex is an open handle to a named mutex: it can only be released (Dispose, Close).
type mutex struct{ name string }

func (mutex) typeName() string { return "System.Threading.Mutex" }
func (m mutex) String() string { return m.typeName() }
func (m mutex) member(name string) (any, error) {
	return nil, noMember(m, name)
}
func (mutex) setMember(name string, _ any) error { return readOnly(name) }
func (m mutex) call(_ *env, name string, args []any) (any, error) {
	if (strings.EqualFold(name, "Dispose") || strings.EqualFold(name, "Close")) && len(args) == 0 {
		return void(), nil
	}
	return nil, noMethod(m.typeName(), name)
}

// byteArray is System.Byte[].
type byteArray []byte

func (byteArray) typeName() string { return "System.Byte[]" }
func (b byteArray) String() string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return strings.Join(parts, " ")
}

func (b byteArray) member(name string) (any, error) {
	switch strings.ToLower(name) {
	case "length", "count":
		return int64(len(b)), nil
	}
	return nil, noMember(b, name)
}
func (byteArray) setMember(name string, _ any) error { return readOnly(name) }
func (b byteArray) call(_ *env, name string, _ []any) (any, error) {
	return nil, noMethod(b.typeName(), name)
}

// utf8Encoding is System.Text.UTF8Encoding; bom is its encoderShouldEmitUTF8Identifier, which GetBytes
// does not use.
type utf8Encoding struct{ bom bool }

func (utf8Encoding) typeName() string { return "System.Text.UTF8Encoding" }
func (u utf8Encoding) String() string { return u.typeName() }
func (u utf8Encoding) member(name string) (any, error) {
	switch strings.ToLower(name) {
	case "webname":
		return "utf-8", nil
	case "codepage":
		return int64(65001), nil
	}
	return nil, noMember(u, name)
}
func (utf8Encoding) setMember(name string, _ any) error { return readOnly(name) }
func (u utf8Encoding) call(_ *env, name string, args []any) (any, error) {
	switch strings.ToLower(name) {
	case "getbytes":
		if len(args) == 1 {
			return byteArray(toString(args[0])), nil
		}
	case "getstring":
		if b, ok := Unwrap(argAt(args, 0)).(byteArray); ok && len(args) == 1 {
			return strings.ToValidUTF8(string(b), "\uFFFD"), nil // invalid bytes decode to U+FFFD
		}
	}
	return nil, noMethod(u.typeName(), name)
}

// consoleEncoding is [Console]::InputEncoding and OutputEncoding: the console's code page, which WinRS
// sets from the shell's WINRS_CODEPAGE.
type consoleEncoding struct{ codepage int }

func (consoleEncoding) typeName() string { return "System.Text.Encoding" }
func (c consoleEncoding) String() string { return c.typeName() }
func (c consoleEncoding) member(name string) (any, error) {
	switch strings.ToLower(name) {
	case "webname":
		return encodingName(c.codepage), nil
	case "codepage":
		if c.codepage == 0 {
			return int64(65001), nil
		}
		return int64(c.codepage), nil
	}
	return nil, noMember(c, name)
}
func (consoleEncoding) setMember(name string, _ any) error { return readOnly(name) }
func (c consoleEncoding) call(_ *env, name string, _ []any) (any, error) {
	return nil, noMethod(c.typeName(), name)
}

// encodingName is .NET's Encoding.WebName for a console code page: 65001 UTF-8, else the OEM code page of
// an en-US server (437), which WinRS uses unless WINRS_CODEPAGE says otherwise.
func encodingName(codepage int) string {
	if codepage == 65001 || codepage == 0 {
		return "utf-8"
	}
	return "ibm" + strconv.Itoa(codepage)
}

// consoleWriter is [Console]::Out: the process's standard output, the same stream Write-Host writes to, so
// the two interleave as written. A process that was stopped (its host went down, its shell was deleted)
// writes nothing more.
type consoleWriter struct{ p *proc }

func (consoleWriter) typeName() string { return "System.IO.TextWriter+SyncTextWriter" }
func (c consoleWriter) String() string { return c.typeName() }
func (c consoleWriter) member(name string) (any, error) {
	return nil, noMember(c, name)
}
func (consoleWriter) setMember(name string, _ any) error { return readOnly(name) }
func (c consoleWriter) call(_ *env, name string, args []any) (any, error) {
	var text string
	switch {
	case strings.EqualFold(name, "WriteLine") && len(args) <= 1:
		text = toString(argAt(args, 0)) + "\r\n"
	case strings.EqualFold(name, "Write") && len(args) == 1:
		text = toString(args[0])
	case strings.EqualFold(name, "Flush") && len(args) == 0:
		return void(), nil
	default:
		return nil, noMethod(c.typeName(), name)
	}
	if c.p.ctx.Err() == nil && c.p.console != nil {
		_, _ = io.WriteString(c.p.console, text)
	}
	return void(), nil
}

// stdinStream is [Console]::OpenStandardInput(): the process's standard input as a byte stream, read by a
// StreamReader over it.
type stdinStream struct{ p *proc }

func (stdinStream) typeName() string { return "System.IO.__ConsoleStream" }
func (s stdinStream) String() string { return s.typeName() }
func (s stdinStream) member(name string) (any, error) {
	return nil, noMember(s, name)
}
func (stdinStream) setMember(name string, _ any) error { return readOnly(name) }
func (s stdinStream) call(_ *env, name string, _ []any) (any, error) {
	return nil, noMethod(s.typeName(), name)
}

// streamReader is a System.IO.StreamReader over standard input. ReadLine returns a line without its line
// break (\n, \r\n or \r ends one), $null at the end of input; a read that ends because the process was
// stopped stops the pipeline.
type streamReader struct {
	p *proc
	r *bufio.Reader
}

func (*streamReader) typeName() string { return "System.IO.StreamReader" }
func (s *streamReader) String() string { return s.typeName() }
func (s *streamReader) member(name string) (any, error) {
	return nil, noMember(s, name)
}
func (*streamReader) setMember(name string, _ any) error { return readOnly(name) }
func (s *streamReader) call(_ *env, name string, args []any) (any, error) {
	if !strings.EqualFold(name, "ReadLine") || len(args) != 0 {
		return nil, noMethod(s.typeName(), name)
	}
	line, err := s.r.ReadString('\n')
	if err != nil && s.p.ctx.Err() != nil {
		return nil, &RuntimeError{Err: &Error{Message: "The pipeline has been stopped.", Category: "OperationStopped", ErrorID: "PipelineStopped"}}
	}
	if err != nil && line == "" {
		return nil, nil // end of input
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	return strings.ToValidUTF8(line, "\uFFFD"), nil
}

// thread is [System.Threading.Thread]::CurrentThread: its CurrentCulture and CurrentUICulture can be set
// (exchsim formats in en-US whatever they say, which is what the loop sets them to).
type thread struct{ p *proc }

func (thread) typeName() string { return "System.Threading.Thread" }
func (t thread) String() string { return t.typeName() }
func (t thread) member(name string) (any, error) {
	switch strings.ToLower(name) {
	case "currentculture", "currentuiculture":
		o := NewObject("System.Globalization.CultureInfo", "Name", t.p.culture)
		o.ToStringValue = t.p.culture
		return o, nil
	}
	return nil, noMember(t, name)
}
func (t thread) setMember(name string, v any) error {
	switch strings.ToLower(name) {
	case "currentculture", "currentuiculture":
		t.p.culture = toString(v)
		return nil
	}
	return noMember(t, name)
}
func (t thread) call(_ *env, name string, _ []any) (any, error) {
	return nil, noMethod(t.typeName(), name)
}
