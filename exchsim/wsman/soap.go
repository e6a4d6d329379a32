package wsman

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/sentinel"
)

// Namespace URIs (MS-WSMV); requests are matched by these, never by prefix.
const (
	nsSOAP     = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr     = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	nsWSMan    = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsMSWSMan  = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsFault    = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

	resourceCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

	actionCreate  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actionDelete  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	actionCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	actionSend    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	actionReceive = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	actionSignal  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	actionFault   = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

	signalTerminate = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
	signalCtrlC     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"
	signalCtrlBreak = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break"

	stateRunning = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
	stateDone    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
)

// request is a parsed WS-Man request envelope.
type request struct {
	XMLName xml.Name      `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  requestHeader `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    requestBody   `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type requestHeader struct {
	To               string       `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
	Action           string       `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID        string       `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	ResourceURI      string       `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
	MaxEnvelopeSize  string       `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
	OperationTimeout string       `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
	SelectorSet      selectorSet  `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	OptionSet        optionSet    `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet"`
	Locale           *emptyMarker `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Locale"`
}

type emptyMarker struct{}

type selectorSet struct {
	Selectors []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
}

type optionSet struct {
	Options []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Option"`
}

type nameValue struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type requestBody struct {
	Shell       *shellBody   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandLine *commandLine `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
	Send        *sendBody    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
	Receive     *receiveBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
	Signal      *signalBody  `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
}

type shellBody struct {
	ShellID       string      `xml:"ShellId,attr"`
	CreationXML   string      `xml:"http://schemas.microsoft.com/powershell creationXml"`
	InputStreams  string      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams string      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
	IdleTimeOut   string      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
	Environment   []nameValue `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Environment>Variable"`
}

type commandLine struct {
	CommandID string   `xml:"CommandId,attr"`
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type sendBody struct {
	Streams []stream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type stream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

type receiveBody struct {
	DesiredStream struct {
		CommandID string `xml:"CommandId,attr"`
		Streams   string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type signalBody struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

// errMalformed marks a request the server cannot parse (answered with a w:InvalidMessageInformation-like
// fault, as WinRM answers garbage).
const errMalformed = sentinel.Error("malformed WS-Management request")

// parseRequest decodes a request envelope. It never panics on any input (FuzzParseRequest).
func parseRequest(data []byte) (*request, error) {
	var r request
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if r.Header.Action == "" {
		return nil, fmt.Errorf("%w: no wsa:Action header", errMalformed)
	}
	return &r, nil
}

// selector returns the value of the named selector (e.g. ShellId).
func (h *requestHeader) selector(name string) string {
	for _, s := range h.SelectorSet.Selectors {
		if strings.EqualFold(s.Name, name) {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

// option returns the value of the named option (e.g. WINRS_CODEPAGE).
func (h *requestHeader) option(name string) string {
	for _, o := range h.OptionSet.Options {
		if strings.EqualFold(o.Name, name) {
			return strings.TrimSpace(o.Value)
		}
	}
	return ""
}

// parseDuration parses an xs:duration as used in OperationTimeout and IdleTimeOut, in the forms WinRM
// clients send: PT60S, PT60.000S, PT1M30S, PT2H, P0DT1H (days, then T and hours, minutes, seconds in order).
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid xs:duration %q", s)
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "P")
	if !ok || rest == "" {
		return 0, bad
	}
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return 0, bad
	}
	var d time.Duration
	if datePart != "" {
		n, ok := strings.CutSuffix(datePart, "D")
		days, err := strconv.ParseUint(n, 10, 31)
		if !ok || !digits(n) || err != nil {
			return 0, bad
		}
		d += time.Duration(days) * 24 * time.Hour
	}
	for _, u := range []struct {
		designator string
		unit       time.Duration
	}{{"H", time.Hour}, {"M", time.Minute}} {
		n, after, found := strings.Cut(timePart, u.designator)
		if !found {
			continue
		}
		v, err := strconv.ParseUint(n, 10, 31)
		if !digits(n) || err != nil {
			return 0, bad
		}
		d += time.Duration(v) * u.unit
		timePart = after
	}
	if timePart != "" {
		n, ok := strings.CutSuffix(timePart, "S")
		whole, frac, hasFrac := strings.Cut(n, ".")
		if !ok || !digits(whole) || (hasFrac && !digits(frac)) {
			return 0, bad
		}
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || f > 1e7 {
			return 0, bad
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// formatDuration writes a duration the way Windows does in rsp:IdleTimeOut (PT7200.000S).
func formatDuration(d time.Duration) string {
	return fmt.Sprintf("PT%.3fS", d.Seconds())
}
