package exchange

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/psrp"
	"github.com/exmaintd/exmaintd/sessiondoc"
)

// TestLoopMatchesProtocolDoc keeps the loop exmaintd sends identical to docs/session-protocol.md, the
// protocol's one definition, which exchsim's tests run (exchsim interprets the loop).
func TestLoopMatchesProtocolDoc(t *testing.T) {
	if block := sessiondoc.Template(t); block != loopTemplate {
		t.Errorf("loopTemplate differs from docs/session-protocol.md:\n--- doc\n%s\n--- code\n%s", block, loopTemplate)
	}
	s := loopScript(strings.Repeat("ab", 16), "Add-PSSnapin X")
	if !strings.HasPrefix(s, "# exmaintd-session/1\n") || strings.Contains(s, "__") {
		t.Errorf("loopScript left a placeholder or lost the marker line:\n%s", s)
	}
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		file    string
		code    uint64
		subcode string
		msg     string
	}{
		{"fault_timeout.xml", FaultOperationTimeout, "w:TimedOut", "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."},
		{"fault_shell_not_found.xml", FaultShellNotFound, "w:InvalidSelectors", "The request for the Windows Remote Shell with ShellId 67A74734-DD32-4F10-89DE-49A060483810 failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation."},
		{"fault_provider.xml", 2147942606, "w:InternalError", "The filename or extension is too long."},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		f, ok := parseFault(b)
		if !ok || f.Code != tt.code || f.Subcode != tt.subcode || f.Message != tt.msg {
			t.Errorf("%s: parseFault = %+v, %v; want code %d %s %q", tt.file, f, ok, tt.code, tt.subcode, tt.msg)
		}
	}
	for _, bad := range []string{"", "<html>Service Unavailable</html>", "<s:Envelope><s:Body><s:Fa"} {
		if _, ok := parseFault([]byte(bad)); ok {
			t.Errorf("parseFault(%q) claims a fault", bad)
		}
	}
}

func FuzzParseFault(f *testing.F) {
	for _, name := range []string{"fault_timeout.xml", "fault_shell_not_found.xml", "fault_provider.xml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fa, ok := parseFault(b)
		if !ok && (fa.Code != 0 || fa.Message != "") {
			t.Fatalf("no fault but fields set: %+v", fa)
		}
	})
}

func TestCLIXML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "clixml_error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	e := psErrorFromCLIXML("EX01", "Get-Queue", string(b))
	want := &PSError{Server: "EX01", Cmdlet: "Get-Queue", Message: "The operation couldn't be performed because object 'EX09' couldn't be found on 'dc01.exlab.local'.",
		Category: "NotSpecified", ErrorID: "2A1C0B5E,Microsoft.Exchange.Management.QueueViewerTasks.GetQueue"}
	if *e != *want {
		t.Errorf("psErrorFromCLIXML =\n%+v\nwant\n%+v", *e, *want)
	}
	if got := cliXMLText("plain text\r\n"); got != "plain text" {
		t.Errorf("non-CLIXML text = %q", got)
	}
	if got := psrp.Unescape("a_x000D__x000A_b_xD83D__xDE00_"); got != "a\r\nb😀" {
		t.Errorf("unescape = %q", got)
	}
}

func FuzzCLIXML(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "clixml_error.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("#< CLIXML\r\n<Objs><S S=\"Error\">_x</S>")
	f.Fuzz(func(t *testing.T, s string) {
		e := psErrorFromCLIXML("EX01", "X", s)
		if e.Server != "EX01" || e.Cmdlet != "X" {
			t.Fatalf("lost the server or cmdlet: %+v", e)
		}
	})
}

func TestParseReply(t *testing.T) {
	s := &session{nonce: strings.Repeat("0f", 16), sh: &shell{t: &transport{server: "EX01"}}}
	n := s.nonce
	tests := []struct {
		line    string
		ok      bool
		corrupt bool
		payload string
	}{
		{"#EXM1 " + n + " 7 OK 2 W10= #END", true, false, "[]"},
		{"#EXM1 " + n + " 7 ERR 2 e30= #END", true, false, "{}"},
		{"#EXM1 " + n + " 7 OK 3 W10= #END", false, true, ""},                         // length mismatch
		{"#EXM1 " + n + " 7 OK 2 W10=", false, true, ""},                              // no end marker yet: never parsed
		{"#EXM1 " + n + " 7 MAYBE 2 W10= #END", false, true, ""},                      // unknown kind
		{"#EXM1 " + n + " x OK 2 W10= #END", false, true, ""},                         // bad id
		{"#EXM1 " + n + " 7 OK 2 W1!= #END", false, true, ""},                         // bad base64
		{"#EXM1 ffffffffffffffffffffffffffffffff 7 OK 2 W10= #END", false, false, ""}, // another session
		{"WARNING: the snap-in said something", false, false, ""},
		{"", false, false, ""},
	}
	for _, tt := range tests {
		r, ok, err := s.parseReply(tt.line)
		if ok != tt.ok || (err != nil) != tt.corrupt || r.payload != tt.payload {
			t.Errorf("parseReply(%q) = %+v, %v, %v; want ok=%v corrupt=%v payload %q", tt.line, r, ok, err, tt.ok, tt.corrupt, tt.payload)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	n := strings.Repeat("0f", 16)
	f.Add("#EXM1 " + n + " 7 OK 2 W10= #END")
	f.Add("#EXM1 " + n + " 0 ERR 2 e30= #END")
	f.Fuzz(func(t *testing.T, line string) {
		s := &session{nonce: n, sh: &shell{t: &transport{server: "EX01"}}}
		r, ok, err := s.parseReply(line)
		if ok && err != nil {
			t.Fatal("both a reply and an error")
		}
		if ok && !strings.Contains(line, " #END") {
			t.Fatalf("reply %+v parsed without its end marker", r)
		}
	})
}

// clixmlObjects decodes Export-Clixml-like documents into the output objects of one pipeline.
func clixmlObjects(tb testing.TB, doc string) []any {
	tb.Helper()
	v, err := psrp.Decode([]byte(`<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">` + doc + `</Objs>`))
	if err != nil {
		tb.Fatal(err)
	}
	return v.(*psrp.Object).List
}

// TestProjections: what a real server sends — enums as objects with a ToString, RequesterDetails with string
// states, ADObjectIds, EnhancedTimeSpans — projects onto the typed results; a missing property, a wrong
// kind or an impossible value is an error naming the cmdlet.
func TestProjections(t *testing.T) {
	enum := func(name string, v int) string {
		return `<Obj N="State" RefId="9"><TN RefId="9"><T>Microsoft.Exchange.Data.ServiceState</T><T>System.Enum</T></TN><ToString>` + name + `</ToString><I32>` + fmt.Sprint(v) + `</I32></Obj>`
	}
	comp := `<Obj RefId="0"><TN RefId="0"><T>Microsoft.Exchange.Data.Directory.Management.ServerComponentStatePresentationObject</T></TN><Props>` +
		`<S N="ServerFqdn">ex01.exlab.local</S><S N="Component">HubTransport</S>` + enum("Draining", 2) + `<B N="ServerWideOfflineIsOffline">false</B>` +
		`<Obj N="RemoteStates" RefId="2"><LST /></Obj><Obj N="LocalStates" RefId="3"><LST><Obj RefId="4"><Props><S N="Requester">Maintenance</S><S N="State">Draining</S>` +
		`<DT N="Timestamp">2026-11-24T02:12:50.3771494Z</DT><S N="Component">HubTransport</S></Props></Obj></LST></Obj></Props></Obj>`
	cs, err := projectComponentStates(clixmlObjects(t, comp))
	if err != nil || len(cs) != 1 || cs[0].State != "Draining" || len(cs[0].LocalStates) != 1 || len(cs[0].RemoteStates) != 0 ||
		cs[0].LocalStates[0].Requester != "Maintenance" || !cs[0].LocalStates[0].Timestamp.Equal(time.Date(2026, 11, 24, 2, 12, 50, 377149400, time.UTC)) {
		t.Fatalf("component states = %+v, %v", cs, err)
	}
	lag := `<Obj N="Value" RefId="7"><TN RefId="7"><T>Microsoft.Exchange.Data.EnhancedTimeSpan</T></TN><ToString>7.00:00:00</ToString></Obj>`
	db := `<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><Obj RefId="8"><Props>` +
		`<Obj N="Key" RefId="10"><TN RefId="10"><T>Microsoft.Exchange.Data.Directory.ADObjectId</T></TN><ToString>EX02</ToString></Obj><I32 N="Value">2</I32></Props></Obj></LST></Obj>` +
		`<Obj N="ReplayLagTimes" RefId="11"><LST><Obj RefId="12"><Props><S N="Key">EX02</S>` + lag + `</Props></Obj></LST></Obj></Props></Obj>`
	st, err := projectDatabaseSettings(clixmlObjects(t, db))
	if err != nil || st["DB01"].preference["EX02"] != 2 || st["DB01"].lag["EX02"] != 7*24*time.Hour {
		t.Fatalf("database settings = %+v, %v", st, err)
	}
	// The same lists as their items' ToString, what a KeyValuePair past the serialisation depth becomes.
	text := `<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><S>[EX01, 1]</S><S>[EX02, 2]</S></LST></Obj>` +
		`<Obj N="ReplayLagTimes" RefId="11"><LST><S>[EX01, 00:00:00]</S><S>[EX02, 7.00:00:00]</S></LST></Obj></Props></Obj>`
	st, err = projectDatabaseSettings(clixmlObjects(t, text))
	if err != nil || st["DB01"].preference["EX01"] != 1 || st["DB01"].preference["EX02"] != 2 || st["DB01"].lag["EX02"] != 7*24*time.Hour || st["DB01"].lag["EX01"] != 0 {
		t.Fatalf("database settings from text = %+v, %v", st, err)
	}
	for name, tc := range map[string]struct {
		doc     string
		project func([]any) error
		want    string
	}{
		"missing property": {`<Obj RefId="0"><Props><S N="Identity">EX01\Submission</S></Props></Obj>`,
			func(o []any) error { _, err := projectQueues(o); return err }, "Get-Queue: output  has no property DeliveryType"},
		"negative count": {`<Obj RefId="0"><Props><S N="Identity">q</S><S N="DeliveryType">x</S><S N="Status">Ready</S><I32 N="MessageCount">-1</I32><S N="NextHopDomain">x</S><Nil N="LastError" /></Props></Obj>`,
			func(o []any) error { _, err := projectQueues(o); return err }, "MessageCount -1"},
		"not an integer": {`<Obj RefId="0"><Props><S N="Identity">q</S><S N="DeliveryType">x</S><S N="Status">Ready</S><S N="MessageCount">many</S><S N="NextHopDomain">x</S><Nil N="LastError" /></Props></Obj>`,
			func(o []any) error { _, err := projectQueues(o); return err }, `MessageCount is "many"`},
		"date as text": {`<Obj RefId="0"><Props><S N="Name">DB01</S><S N="Server">EX01</S><S N="MountedOnServer">ex01.exlab.local</S><S N="ReplicationType">Remote</S><B N="Recovery">false</B><B N="Mounted">true</B><Nil N="Servers" /><S N="LastFullBackup">\/Date(1700000000000)\/</S><Nil N="LastIncrementalBackup" /></Props></Obj>`,
			func(o []any) error { _, err := projectDatabases(o); return err }, "Get-MailboxDatabase: LastFullBackup is a S, not a date"},
		"no component": {`<Obj RefId="0"><Props><S N="ServerFqdn">x</S><S N="Component"></S><S N="State">Active</S><Nil N="LocalStates" /><Nil N="RemoteStates" /></Props></Obj>`,
			func(o []any) error { _, err := projectComponentStates(o); return err }, "without Component"},
		"not an object": {`<S>text</S>`,
			func(o []any) error { _, err := projectCopies(o); return err }, "output 0 is a string"},
		"copy without a name": {`<Obj RefId="0"><Props><S N="Name"></S><S N="DatabaseName">DB01</S><S N="MailboxServer">EX01</S><S N="Status">Healthy</S><B N="ActiveCopy">false</B><S N="ActiveDatabaseCopy">ex02</S><B N="ActivationSuspended">false</B><I64 N="CopyQueueLength">0</I64><I64 N="ReplayQueueLength">0</I64><S N="ContentIndexState">Healthy</S></Props></Obj>`,
			func(o []any) error { _, err := projectCopies(o); return err }, "a copy without Name or DatabaseName"},
		"preference as bad text": {`<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><S>EX01=1</S></LST></Obj><Nil N="ReplayLagTimes" /></Props></Obj>`,
			func(o []any) error { _, err := projectDatabaseSettings(o); return err }, `ActivationPreference item 0 is "EX01=1"`},
		"preference without its closing bracket": {`<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><S>[EX01, 1</S></LST></Obj><Nil N="ReplayLagTimes" /></Props></Obj>`,
			func(o []any) error { _, err := projectDatabaseSettings(o); return err }, `item 0 is "[EX01, 1"`},
		"preference without its opening bracket": {`<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><S>EX01, 1]</S></LST></Obj><Nil N="ReplayLagTimes" /></Props></Obj>`,
			func(o []any) error { _, err := projectDatabaseSettings(o); return err }, `item 0 is "EX01, 1]"`},
		"preference without a server": {`<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><S>[ , 1]</S></LST></Obj><Nil N="ReplayLagTimes" /></Props></Obj>`,
			func(o []any) error { _, err := projectDatabaseSettings(o); return err }, `item 0 is "[ , 1]"`},
		"preference not a number": {`<Obj RefId="5"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="6"><LST><S>[EX01, first]</S></LST></Obj><Nil N="ReplayLagTimes" /></Props></Obj>`,
			func(o []any) error { _, err := projectDatabaseSettings(o); return err }, `ActivationPreference of EX01: "first" is not a number`},
		"copy with a negative queue": {`<Obj RefId="0"><Props><S N="Name">DB01\\EX01</S><S N="DatabaseName">DB01</S><S N="MailboxServer">EX01</S><S N="Status">Healthy</S><B N="ActiveCopy">false</B><S N="ActiveDatabaseCopy">ex02</S><B N="ActivationSuspended">false</B><I64 N="CopyQueueLength">-1</I64><I64 N="ReplayQueueLength">0</I64><S N="ContentIndexState">Healthy</S></Props></Obj>`,
			func(o []any) error { _, err := projectCopies(o); return err }, "negative queue length"},
	} {
		err := tc.project(clixmlObjects(t, tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestTimeSpan(t *testing.T) {
	for in, want := range map[any]time.Duration{
		"7.00:00:00": 7 * 24 * time.Hour, "00:15:30": 15*time.Minute + 30*time.Second, "1.02:03:04.5": 26*time.Hour + 3*time.Minute + 4500*time.Millisecond,
		"-00:00:01": -time.Second, time.Hour: time.Hour, nil: 0,
		&psrp.Object{Props: []psrp.Property{{Name: "Ticks", Value: int64(36000000000)}}}: time.Hour,
		// TimeSpan.MaxValue's and MinValue's ticks overflow a duration: its ends stand for them.
		&psrp.Object{Props: []psrp.Property{{Name: "Ticks", Value: int64(math.MaxInt64)}}}:       math.MaxInt64,
		&psrp.Object{Props: []psrp.Property{{Name: "Ticks", Value: int64(math.MinInt64)}}}:       math.MinInt64,
		&psrp.Object{Props: []psrp.Property{{Name: "Ticks", Value: int64(math.MaxInt64 / 100)}}}: math.MaxInt64 / 100 * 100,
		&psrp.Object{Props: []psrp.Property{{Name: "Ticks", Value: int64(math.MinInt64 / 100)}}}: math.MinInt64 / 100 * 100,
	} {
		if got, err := timeSpan(in); err != nil || got != want {
			t.Errorf("timeSpan(%v) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []any{"soon", "1:2", true} {
		if _, err := timeSpan(bad); err == nil {
			t.Errorf("timeSpan(%v) accepted", bad)
		}
	}
}

// FuzzProject feeds arbitrary CLIXML to every projection of Exchange output: none may panic, and what they
// accept satisfies their invariants.
func FuzzProject(f *testing.F) {
	f.Add(`<Obj RefId="0"><Props><S N="Identity">EX01\Submission</S><S N="DeliveryType">Undefined</S><S N="Status">Ready</S><I32 N="MessageCount">2</I32><S N="NextHopDomain">Submission</S><Nil N="LastError" /></Props></Obj>`)
	f.Add(`<Obj RefId="0"><Props><S N="Name">DB01\EX01</S><S N="DatabaseName">DB01</S><S N="MailboxServer">EX01</S><S N="Status">Healthy</S><B N="ActiveCopy">false</B><S N="ActiveDatabaseCopy">ex02</S><B N="ActivationSuspended">false</B><I64 N="CopyQueueLength">0</I64><I64 N="ReplayQueueLength">0</I64><S N="ContentIndexState">Healthy</S></Props></Obj>`)
	f.Add(`<Obj RefId="0"><Props><S N="Name">DB01</S><Obj N="ActivationPreference" RefId="1"><LST /></Obj><Obj N="ReplayLagTimes" RefId="2"><LST /></Obj></Props></Obj>`)
	// A self-reference (issue 25): it used to decode into a cycle that Text followed until the stack
	// overflowed.
	f.Add(`<Obj RefId="0"><Props><Obj N="Identity" RefId="1"><Ref RefId="1" /></Obj></Props></Obj>`)
	f.Add(`<Obj RefId="0"><Props><S N="Name">DB01\EX01</S><Ref N="Status" RefId="0" /></Props></Obj>`)
	f.Fuzz(func(t *testing.T, doc string) {
		v, err := psrp.Decode([]byte(`<Objs>` + doc + `</Objs>`))
		if err != nil {
			return
		}
		out := v.(*psrp.Object).List
		if qs, err := projectQueues(out); err == nil {
			for _, q := range qs {
				if q.Identity == "" || q.MessageCount < 0 {
					t.Fatalf("accepted queue %+v", q)
				}
			}
			sum := SummarizeQueues(qs)
			if sum.Unreachable > sum.Active {
				t.Fatalf("summary %+v: unreachable is part of active", sum)
			}
		}
		if cs, err := projectCopies(out); err == nil {
			for _, c := range cs {
				if c.Name == "" || c.CopyQueueLength < 0 || c.ReplayQueueLength < 0 {
					t.Fatalf("accepted copy %+v", c)
				}
			}
		}
		_, _ = projectDatabaseSettings(out)
		_, _ = projectDatabases(out)
		_, _ = projectComponentStates(out)
		_, _ = projectMailboxServer(out, "EX01")
		_, _ = projectDAG(out, "DAG01")
		_, _ = projectExchangeServers(out)
		_, _ = projectServiceHealth(out)
	})
}

// TestWellFormed: a reply is one complete XML document; anything cut short or mismatched is refused.
func TestWellFormed(t *testing.T) {
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>`, true},
		{`<?xml version="1.0"?><a><b>text</b></a>`, true},
		{`<a><b/>`, false},
		{`<a></b>`, false},
		{``, false},
		{`<?xml version="1.0"?>`, false},
		{`<a attr="1`, false},
	} {
		if err := wellFormed([]byte(tc.doc)); (err == nil) != tc.ok {
			t.Errorf("wellFormed(%q) = %v, want ok %v", tc.doc, err, tc.ok)
		}
	}
}

// TestResultClass: every error the transport returns maps to its metric class, wrapped or not, and
// RequestResults lists each class once.
func TestResultClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&Fault{Code: FaultOperationTimeout}, "operation_timeout"},
		{fmt.Errorf("receive: %w", &Fault{Code: FaultOperationTimeout}), "operation_timeout"},
		{&Fault{HTTPStatus: 500}, "fault"},
		{fmt.Errorf("x: %w", &AuthError{Server: "EX01"}), "auth"},
		{&ProtocolError{Server: "EX01"}, "protocol"},
		{&TransportError{Server: "EX01"}, "transport"},
		{fmt.Errorf("winrm: %w", context.DeadlineExceeded), "deadline"},
		{context.Canceled, "deadline"},
		{errNotSent, "error"},
	} {
		if got := resultClass(tc.err); got != tc.want {
			t.Errorf("resultClass(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	all := RequestResults()
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r] {
			t.Errorf("RequestResults lists %s twice", r)
		}
		seen[r] = true
	}
	if len(all) != 8 {
		t.Errorf("RequestResults = %v; want the 8 classes resultClass gives", all)
	}
}

// TestReadyReport: the READY line is recognised for this session's nonce only, with or without a report.
func TestReadyReport(t *testing.T) {
	n := strings.Repeat("0f", 16)
	for _, tc := range []struct {
		line, report string
		ok           bool
	}{
		{"#EXM1 " + n + " READY stdin=pipe in=utf-8 out=utf-8", "stdin=pipe in=utf-8 out=utf-8", true},
		{"  #EXM1 " + n + " READY stdin=pipe\r", "stdin=pipe", true},
		{"#EXM1 " + n + " READY", "", true},
		{"#EXM1 " + n + " READYX stdin=pipe", "", false},
		{"#EXM1 ffffffffffffffffffffffffffffffff READY stdin=pipe", "", false},
		{"#EXM2 " + n + " READY", "", false},
		{"#EXM1 " + n, "", false},
		{"", "", false},
	} {
		report, ok := readyReport(tc.line, n)
		if report != tc.report || ok != tc.ok {
			t.Errorf("readyReport(%q) = %q, %v; want %q, %v", tc.line, report, ok, tc.report, tc.ok)
		}
	}
}

// TestCheckReady: the client takes a session only when its loop reports pipe-mode stdin; a console, an
// unknown mode or no report at all is refused with what the loop said.
func TestCheckReady(t *testing.T) {
	for _, tc := range []struct {
		report string
		ok     bool
	}{
		{"stdin=pipe in=utf-8 out=utf-8", true},
		{"stdin=pipe", true},
		{"in=ibm437 stdin=pipe out=ibm437", true},
		{"stdin=console in=ibm437 out=ibm437", false},
		{"stdin=unknown in=? out=?", false},
		{"", false},
		{"in=utf-8 out=utf-8", false},
	} {
		err := checkReady("EX01", tc.report)
		if (err == nil) != tc.ok {
			t.Errorf("checkReady(%q) = %v, want ok %v", tc.report, err, tc.ok)
		}
		var pe *ProtocolError
		if err != nil && (!errors.As(err, &pe) || !strings.Contains(err.Error(), "EX01") || tc.report != "" && !strings.Contains(err.Error(), tc.report)) {
			t.Errorf("checkReady(%q): %v; want a ProtocolError naming the server and the report", tc.report, err)
		}
	}
}

// TestRestartResult: shutdown.exe's 0, or 1115 (a shutdown already in progress), is a restart requested;
// any other exit code is an error with what shutdown.exe printed, and an unreadable answer is an error.
func TestRestartResult(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want string // "" for success
	}{
		{`{"Output":[],"ExitCode":0}`, ""},
		{`{"Output":["A system shutdown is in progress.(1115)"],"ExitCode":1115}`, ""},
		{`{"Output":["A system shutdown has already been scheduled.(1190)"],"ExitCode":1190}`, "exit code 1190: A system shutdown has already been scheduled.(1190)"},
		{`{"Output":["Access is denied.(5)"],"ExitCode":5}`, "shutdown.exe on EX01: exit code 5: Access is denied.(5)"},
		{`not json`, "shutdown.exe"},
	} {
		err := restartResult("EX01", "shutdown.exe", tc.out)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("restartResult(%s) = %v, want %q", tc.out, err, tc.want)
		}
	}
}
