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

// errorView is the console's error view of one record (5.1's default, "NormalView").
func errorView(e *RuntimeError) []string {
	cmd := e.Command
	if cmd == "" {
		cmd = "<script>"
	}
	name, _, _ := strings.Cut(cmd, " ")
	category := e.Err.Category
	if category == "" {
		category = "NotSpecified"
	}
	id := e.Err.ErrorID
	if id == "" {
		id = "RuntimeException"
	}
	return []string{
		e.Err.Message,
		fmt.Sprintf("At line:1 char:%d", e.Pos+1),
		"+ " + cmd,
		"+ " + strings.Repeat("~", max(len([]rune(cmd)), 1)),
		fmt.Sprintf("    + CategoryInfo          : %s: (:) [%s], %s", category, name, exceptionFor(category)),
		"    + FullyQualifiedErrorId : " + id,
		" ",
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
