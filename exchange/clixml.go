package exchange

import (
	"encoding/xml"
	"strings"

	"github.com/exmaintd/exmaintd/psrp"
)

// cliXMLText returns the text of PowerShell 5.1's redirected error stream: "#< CLIXML" then an <Objs>
// document whose <S S="Error"> elements hold the console error view with CR LF escaped as _x000D__x000A_
// (winrm-protocol.md §3). Progress records and other streams are dropped. Text that is not CLIXML is returned
// trimmed, unchanged.
func cliXMLText(s string) string {
	rest, ok := strings.CutPrefix(strings.TrimLeft(s, "\r\n"), "#< CLIXML")
	if !ok {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	dec := xml.NewDecoder(strings.NewReader(rest))
	inError := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break // end, or a document cut short: keep what was read
		}
		switch t := tok.(type) {
		case xml.StartElement:
			inError = t.Name.Local == "S" && attr(t, "S") == "Error"
		case xml.EndElement:
			inError = false
		case xml.CharData:
			if inError {
				b.WriteString(psrp.Unescape(string(t)))
			}
		}
	}
	return strings.TrimSpace(strings.ReplaceAll(b.String(), "\r\n", "\n"))
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// psErrorFromCLIXML reads the first error record of a console error view: its message (the lines before
// "At line:" or "+ CategoryInfo"), category and FullyQualifiedErrorId.
func psErrorFromCLIXML(server, cmdlet, stderr string) *PSError {
	text := cliXMLText(stderr)
	e := &PSError{Server: server, Cmdlet: cmdlet}
	var msg []string
	inMsg := true
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "At line:") || strings.HasPrefix(t, "+ ") && !strings.HasPrefix(t, "+ CategoryInfo") && !strings.HasPrefix(t, "+ FullyQualifiedErrorId"):
			inMsg = false
		case strings.HasPrefix(t, "+ CategoryInfo"):
			inMsg = false
			if _, v, ok := strings.Cut(t, ":"); ok && e.Category == "" {
				cat, _, _ := strings.Cut(strings.TrimSpace(v), ":")
				e.Category = strings.TrimSpace(cat)
			}
		case strings.HasPrefix(t, "+ FullyQualifiedErrorId"):
			if _, v, ok := strings.Cut(t, ":"); ok && e.ErrorID == "" {
				e.ErrorID = strings.TrimSpace(v)
			}
		case inMsg && t != "":
			msg = append(msg, t)
		}
	}
	e.Message = strings.Join(msg, " ")
	if e.Message == "" {
		e.Message = text
	}
	return e
}
