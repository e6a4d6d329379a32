package ps

import (
	"fmt"
	"strings"
)

// clixmlErrors renders error records the way Windows PowerShell 5.1 writes its error stream to a redirected
// stderr (winrm-protocol.md §3): a "#< CLIXML" line, then one <Objs> document in which each line of the
// console error view is an <S S="Error"> element with CR/LF encoded as _x000D__x000A_.
func clixmlErrors(errs []*RuntimeError) string {
	if len(errs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("#< CLIXML\r\n")
	b.WriteString(`<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">`)
	for _, e := range errs {
		for _, line := range errorView(e) {
			b.WriteString(`<S S="Error">`)
			b.WriteString(clixmlEscape(line + "\r\n"))
			b.WriteString(`</S>`)
		}
	}
	b.WriteString(`</Objs>`)
	return b.String()
}

// errorView is the console's error view of one record (5.1's default, "NormalView"): "<command> :
// <message>" for an error a command raised, the statement's line and column, the command underlined,
// CategoryInfo with the target object and the command as activity, and the FullyQualifiedErrorId.
func errorView(e *RuntimeError) []string {
	cmd := e.Command
	if cmd == "" {
		cmd = "<script>"
	}
	name, _, _ := strings.Cut(cmd, " ")
	fromCommand := name != "<script>" && !strings.ContainsAny(name[:1], "$[.(@'\"")
	category := e.Err.Category
	if category == "" {
		category = "NotSpecified"
	}
	id := e.Err.ErrorID
	if id == "" {
		id = "RuntimeException"
	}
	msg := e.Err.Message
	activity := ""
	if fromCommand {
		msg = name + " : " + msg
		activity = name
	}
	if id == "CommandNotFoundException" {
		activity = "" // the command never ran: 5.1 shows an empty activity
	}
	exc := exceptionFor(category)
	if e.Err.Type != "" {
		exc = e.Err.Type[strings.LastIndex(e.Err.Type, ".")+1:]
	}
	target := "(:)"
	if e.Err.Target != "" {
		target = "(" + e.Err.Target + ":String)"
	}
	line, col := e.Line, e.Col
	if line == 0 {
		line, col = 1, e.Pos+1
	}
	return []string{
		msg,
		fmt.Sprintf("At line:%d char:%d", line, col),
		"+ " + cmd,
		"+ " + strings.Repeat("~", max(len([]rune(cmd)), 1)),
		fmt.Sprintf("    + CategoryInfo          : %s: %s [%s], %s", category, target, activity, exc),
		"    + FullyQualifiedErrorId : " + id,
		" ",
	}
}

// locate sets each error's line and column from its byte offset in script.
func locate(errs []*RuntimeError, script string) {
	for _, e := range errs {
		if e.Line != 0 || e.Pos < 0 || e.Pos > len(script) {
			continue
		}
		before := script[:e.Pos]
		e.Line = strings.Count(before, "\n") + 1
		e.Col = len([]rune(before[strings.LastIndex(before, "\n")+1:])) + 1
	}
}

func exceptionFor(category string) string {
	switch category {
	case "ObjectNotFound":
		return "CommandNotFoundException"
	case "InvalidArgument":
		return "ParameterBindingException"
	case "InvalidOperation":
		return "RuntimeException"
	}
	return "Exception"
}

// clixmlEscape encodes text as CLIXML does: XML entities, and characters outside printable ASCII
// (including CR and LF) as _xHHHH_.
func clixmlEscape(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r == '_' && i+1 < len(rs) && (rs[i+1] == 'x' || rs[i+1] == 'X'):
			b.WriteString("_x005F_") // an underscore that would read as the start of an escape
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "_x%04X_", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
