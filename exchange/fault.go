package exchange

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/sentinel"
)

// WS-Management fault codes exmaintd acts on (winrm-protocol.md §2.3).
const (
	// FaultOperationTimeout: a Receive found no output within OperationTimeout. Not an error: poll again.
	FaultOperationTimeout = 2150858793
	// FaultShellNotFound: the shell is gone (idle expiry, WinRM restart, reboot). The session is lost.
	FaultShellNotFound = 2150858843
	// FaultQuotaLimit: the user has too many shells (MaxShellsPerUser).
	FaultQuotaLimit = 2150859173
)

// Fault is a WS-Management fault (an HTTP 500 with a SOAP s:Fault body) or another non-200 answer.
type Fault struct {
	Server     string // exmaintd's name for the host
	Verb       string // Create, Command, Send, Receive, Signal, Delete
	HTTPStatus int
	Code       uint64 // f:WSManFault/@Code; 0 if the body had none
	Subcode    string // s:Subcode/s:Value, e.g. w:TimedOut
	Message    string // f:Message or s:Reason/s:Text, trimmed
}

func (f *Fault) Error() string {
	msg := f.Message
	if msg == "" {
		msg = "no fault message"
	}
	if f.Code != 0 {
		return fmt.Sprintf("winrm %s on %s: fault %d (%s): %s", f.Verb, f.Server, f.Code, f.Subcode, msg)
	}
	return fmt.Sprintf("winrm %s on %s: http %d: %s", f.Verb, f.Server, f.HTTPStatus, msg)
}

// AuthError is an HTTP 401: wrong credentials, a disabled auth scheme, or a failed NTLM handshake. Never
// retried (beyond one NTLM handshake repeat): retrying a wrong password locks accounts.
type AuthError struct {
	Server string
	Scheme string
	Detail string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("winrm on %s: authentication (%s) refused: %s", e.Server, e.Scheme, e.Detail)
}

// ProtocolError is a reply exmaintd cannot read: not SOAP, malformed or truncated XML, an unexpected action, a
// corrupt session frame.
type ProtocolError struct {
	Server string
	What   string
	Err    error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("winrm on %s: %s: %v", e.Server, e.What, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// ErrSessionLost is returned (wrapped with the server and cmdlet) when the persistent session died after a
// state-changing request had been sent: the change may or may not have happened, so the caller must read
// the state back instead of retrying blindly.
const ErrSessionLost = sentinel.Error("session lost after the request was sent; its effect is unknown")

// PSError is a PowerShell error: the cmdlet ran and failed (or the script did not parse). Never retried.
type PSError struct {
	Server   string
	Cmdlet   string // the operation's main cmdlet, e.g. Set-ServerComponentState
	Message  string
	Category string // ErrorRecord.CategoryInfo.Category, e.g. ObjectNotFound
	ErrorID  string // FullyQualifiedErrorId
	Type     string // exception type name
}

func (e *PSError) Error() string {
	s := fmt.Sprintf("%s on %s: %s", e.Cmdlet, e.Server, e.Message)
	if e.Category != "" {
		s += " (" + e.Category
		if e.ErrorID != "" {
			s += ", " + e.ErrorID
		}
		s += ")"
	}
	return s
}

// soapFault is the part of a SOAP 1.2 fault envelope exmaintd reads.
type soapFault struct {
	Body struct {
		Fault *struct {
			Subcode string `xml:"Code>Subcode>Value"`
			Reason  string `xml:"Reason>Text"`
			Detail  struct {
				WSManFault struct {
					Code string `xml:"Code,attr"`
					// Message is the text; for provider errors (w:InternalError) it sits in a nested
					// f:ProviderFault, which innerxml keeps and stripTags flattens.
					Message struct {
						Inner string `xml:",innerxml"`
					} `xml:"Message"`
				} `xml:"WSManFault"`
			} `xml:"Detail"`
		} `xml:"Fault"`
	} `xml:"Body"`
}

// parseFault reads a WS-Management fault from a response body. ok is false when the body is not a SOAP
// fault at all (an HTML error page, a truncated document).
func parseFault(body []byte) (f Fault, ok bool) {
	var env soapFault
	if err := xml.Unmarshal(body, &env); err != nil || env.Body.Fault == nil {
		return Fault{}, false
	}
	sf := env.Body.Fault
	f.Subcode = strings.TrimSpace(sf.Subcode)
	f.Message = stripTags(sf.Detail.WSManFault.Message.Inner)
	if f.Message == "" {
		f.Message = strings.TrimSpace(sf.Reason)
	}
	if c := strings.TrimSpace(sf.Detail.WSManFault.Code); c != "" {
		var code uint64
		if _, err := fmt.Sscan(c, &code); err == nil {
			f.Code = code
		}
	}
	return f, true
}

func asFault(err error) (*Fault, bool) {
	var f *Fault
	ok := errors.As(err, &f)
	return f, ok
}

// stripTags returns the character data of an XML fragment.
func stripTags(frag string) string {
	var b strings.Builder
	dec := xml.NewDecoder(strings.NewReader("<x>" + frag + "</x>"))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			b.Write(cd)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
