package wsman

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"strings"
)

// The response envelope uses Windows' exact prefixes: some clients (npm winrm-client) look elements up by
// prefixed name, not by namespace.
const envelopeOpen = `<s:Envelope xml:lang="en-US" xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr +
	`" xmlns:x="` + nsTransfer + `" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `" xmlns:p="` + nsMSWSMan + `">`

// envelope wraps body in a response envelope for action, relating it to the request's MessageID.
func envelope(action, relatesTo, body string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(envelopeOpen)
	b.WriteString(`<s:Header><a:Action>`)
	b.WriteString(esc(action))
	b.WriteString(`</a:Action><a:MessageID>uuid:`)
	b.WriteString(newUUID())
	b.WriteString(`</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>`)
	if relatesTo != "" {
		b.WriteString(`<a:RelatesTo>`)
		b.WriteString(esc(relatesTo))
		b.WriteString(`</a:RelatesTo>`)
	}
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
}

// fault is a WS-Management fault as Windows returns it: HTTP 500 with a SOAP fault whose f:WSManFault
// carries the Windows error code.
type fault struct {
	Subcode string // e.g. "w:TimedOut"
	Code    uint32 // e.g. 2150858793
	Text    string
	Machine string
}

// The faults WinRM clients branch on (winrm-protocol.md §2.3).
const (
	codeTimedOut      = 2150858793 // Receive: no output within OperationTimeout; clients retry
	codeShellNotFound = 2150858843 // unknown, deleted or expired shell
	codeQuotaLimit    = 2150859173 // MaxShellsPerUser
	codeInvalidMsg    = 2150858817 // malformed request (the WSMAN "InvalidMessageInformation" family)
	codeNotSupported  = 2150858782 // unknown action or resource (the "ActionNotSupported" family)
)

func timedOutFault(machine string) fault {
	return fault{Subcode: "w:TimedOut", Code: codeTimedOut, Machine: machine,
		Text: "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "}
}

func shellNotFoundFault(machine, shellID string) fault {
	return fault{Subcode: "w:InvalidSelectors", Code: codeShellNotFound, Machine: machine,
		Text: fmt.Sprintf("The request for the Windows Remote Shell with ShellId %s failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. ", shellID)}
}

func quotaFault(machine string, limit int) fault {
	return fault{Subcode: "w:QuotaLimit", Code: codeQuotaLimit, Machine: machine,
		Text: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. ", limit)}
}

func (f fault) body() string {
	return `<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>` + esc(f.Subcode) +
		`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">` + esc(f.Text) +
		`</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="` + nsFault + `" Code="` + fmt.Sprint(f.Code) +
		`" Machine="` + esc(f.Machine) + `"><f:Message>` + esc(f.Text) + `</f:Message></f:WSManFault></s:Detail></s:Fault>`
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder cannot fail
	return b.String()
}

// newUUID returns a random (version 4) UUID in upper case, as Windows writes them.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on Linux
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}
