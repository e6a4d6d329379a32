package exchange

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoopMatchesProtocolDoc keeps the loop exmaintd sends identical to docs/session-protocol.md, the
// protocol's one definition (exchsim recognises it by its patterns, not by running it).
func TestLoopMatchesProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "session-protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## The loop\n\n```powershell\n")
	block, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/session-protocol.md has no powershell block under ## The loop")
	}
	if block != loopTemplate {
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
	if got := unescapeCLIXML("a_x000D__x000A_b_xD83D__xDE00_"); got != "a\r\nb😀" {
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

func TestDecodeTolerance(t *testing.T) {
	// PowerShell 5.1 renders a one-element list as the element and an empty one as null.
	one := `{"ServerFqdn":"ex01","Component":"HubTransport","State":"Active","LocalStates":{"Requester":"Maintenance","State":"Active","Timestamp":"2026-11-24T02:12:50.3771494Z"},"RemoteStates":null}`
	cs, err := decodeComponentStates(one)
	if err != nil || len(cs) != 1 || len(cs[0].LocalStates) != 1 || len(cs[0].RemoteStates) != 0 {
		t.Fatalf("decode = %+v, %v", cs, err)
	}
	if ts := cs[0].LocalStates[0].Timestamp; !ts.Equal(time.Date(2026, 11, 24, 2, 12, 50, 377149400, time.UTC)) {
		t.Errorf("timestamp = %v", ts)
	}
	for _, bad := range []string{`[{"Component":""}]`, `{"Identity":"x","MessageCount":-1}`, `/Date(1700000000000)/`, `[1,2]`} {
		if _, err := decodeComponentStates(bad); err == nil && bad != `{"Identity":"x","MessageCount":-1}` {
			t.Errorf("decodeComponentStates(%q) accepted", bad)
		}
		if _, err := decodeQueues(bad); err == nil {
			t.Errorf("decodeQueues(%q) accepted", bad)
		}
	}
	// A 5.1 \/Date()\/ where an ISO string is expected is an error naming the cmdlet, not a zero time.
	_, err = decodeDatabases(`[{"Name":"DB01","LastFullBackup":"\/Date(1700000000000)\/"}]`)
	if err == nil || !strings.Contains(err.Error(), "Get-MailboxDatabase") {
		t.Errorf("decodeDatabases with /Date()/ = %v", err)
	}
}

// FuzzDecode feeds arbitrary JSON to every decoder of Exchange output: none may panic, and what they accept
// must satisfy their invariants.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`[{"Identity":"EX01\\Submission","DeliveryType":"Undefined","Status":"Ready","MessageCount":2,"NextHopDomain":"Submission"}]`,
		`{"Copies":[{"Name":"DB01\\EX01","DatabaseName":"DB01","MailboxServer":"EX01","CopyQueueLength":0}],"Databases":{"Name":"DB01","ActivationPreference":{"Key":"EX01","Value":1}}}`,
		`[{"Name":"DB01","Servers":"EX01","LastFullBackup":"2026-11-24T02:12:50Z","UserMailboxes":1}]`,
		`[{"ServerFqdn":"x","Component":"HubTransport","LocalStates":[{"Requester":"Maintenance"}]}]`,
		`null`, `[]`, `{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if qs, err := decodeQueues(s); err == nil {
			for _, q := range qs {
				if q.Identity == "" || q.MessageCount < 0 {
					t.Fatalf("accepted queue %+v", q)
				}
			}
			sum := SummarizeQueues(qs)
			if sum.Unreachable > sum.Active && sum.Active >= 0 {
				t.Fatalf("summary %+v: unreachable is part of active", sum)
			}
		}
		if cs, err := decodeCopies(s); err == nil {
			for _, c := range cs {
				if c.Name == "" || c.CopyQueueLength < 0 || c.ReplayQueueLength < 0 {
					t.Fatalf("accepted copy %+v", c)
				}
			}
		}
		_, _ = decodeDatabases(s)
		_, _ = decodeComponentStates(s)
		_, _ = decodeOne[MailboxServer]("Get-MailboxServer", "server", s)
	})
}
