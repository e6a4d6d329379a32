package ps

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/exmaintd/exmaintd/sessiondoc"
	"github.com/exmaintd/exmaintd/syncbuf"
)

// fakeCmdlet is a cmdlet defined by a function, for tests of the language.
type fakeCmdlet struct {
	name   string
	module string
	params []Parameter
	fn     func(inv Invocation) ([]any, error)
}

func (f fakeCmdlet) Name() string            { return f.name }
func (f fakeCmdlet) Module() string          { return f.module }
func (f fakeCmdlet) Parameters() []Parameter { return f.params }
func (f fakeCmdlet) Invoke(_ context.Context, inv Invocation) ([]any, error) {
	return f.fn(inv)
}

var t0 = time.Date(2026, 11, 24, 21, 30, 0, 0, time.UTC)

func queue(id, dt string, dtv int64, n int64, hop string) *Object {
	return &Object{TypeName: "Microsoft.Exchange.Data.QueueViewer.ExtensibleQueueInfo", ToStringValue: id, Props: []Prop{
		{"Identity", &Object{TypeName: "Microsoft.Exchange.Data.QueueViewer.QueueIdentity", ToStringValue: id, Props: []Prop{{"Server", "EX01"}, {"RowId", int64(1)}}}},
		{"DeliveryType", Enum{Type: "Microsoft.Exchange.Data.DeliveryType", Name: dt, Value: dtv}},
		{"Status", Enum{Type: "Microsoft.Exchange.Data.QueueViewer.QueueStatus", Name: "Ready", Value: 2}},
		{"MessageCount", n},
		{"NextHopDomain", hop},
		{"LastRetryTime", t0},
		{"NextRetryTime", nil},
	}}
}

func testRuntime() *Runtime {
	cmdlets := []Cmdlet{
		fakeCmdlet{name: "Get-Queue", module: ExchangeSnapin, params: []Parameter{{Name: "Server", Position: -1}, {Name: "Identity", Position: 0}},
			fn: func(inv Invocation) ([]any, error) {
				if s, ok := inv.Args["Server"]; ok && !strings.EqualFold(toString(s), "EX01") {
					return nil, &Error{Message: fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on 'DC01.exlab.local'.", toString(s)), Category: "NotSpecified", ErrorID: "A3F2,Microsoft.Exchange.Management.QueueViewerTasks.GetQueue"}
				}
				return []any{
					queue(`EX01\Submission`, "Undefined", 0, 3, "Submission"),
					queue(`EX01\Shadow\4`, "ShadowRedundancy", 13, 7, "ex02.exlab.local"),
					queue(`EX01\Poison`, "Undefined", 0, 1, "Poison Message"),
				}, nil
			}},
		fakeCmdlet{name: "Set-ServerComponentState", module: ExchangeSnapin, params: []Parameter{{Name: "Identity", Position: 0, Mandatory: true},
			{Name: "Component", Position: -1, Mandatory: true}, {Name: "State", Position: -1, Mandatory: true}, {Name: "Requester", Position: -1, Mandatory: true}},
			fn: func(inv Invocation) ([]any, error) { return nil, nil }},
		fakeCmdlet{name: "Get-Service", params: []Parameter{{Name: "Name", Position: 0, ValueFromPipeline: true}},
			fn: func(inv Invocation) ([]any, error) {
				return []any{NewObject("System.ServiceProcess.ServiceController", "Name", toString(inv.Args["Name"]),
					"Status", Enum{Type: "System.ServiceProcess.ServiceControllerStatus", Name: "Running", Value: 4})}, nil
			}},
		fakeCmdlet{name: "Get-MailboxDatabase", module: ExchangeSnapin, params: []Parameter{{Name: "Identity", Position: 0}, {Name: "Status", Switch: true, Position: -1}},
			fn: func(inv Invocation) ([]any, error) {
				return []any{NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase", "Name", "DB01",
					"LastFullBackup", t0.Add(-20*time.Hour), "LastIncrementalBackup", nil, "Mounted", inv.Args.Has("Status"))}, nil
			}},
	}
	return NewRuntime(Options{Cmdlets: cmdlets, Now: func() time.Time { return t0 }})
}

func eval(t *testing.T, script string) any {
	t.Helper()
	out, err := testRuntime().Eval(t.Context(), "EX01", script)
	if err != nil {
		t.Fatalf("Eval(%s): %v", script, err)
	}
	return collapse(out)
}

func TestLexQuotes(t *testing.T) {
	tests := []struct{ src, want string }{
		{`'plain'`, "plain"},
		{`'it''s'`, "it's"},
		{"'a\u2019\u2019b'", "a\u2019b"},
		{"'a'\u2018b'", "a\u2018b"},    // mixed pair: the second character is kept
		{"\u2018smart\u2019", "smart"}, // smart quotes delimit
		{"'x\u201A\u201Ay\u201B\u201Bz'", "x\u201Ay\u201Bz"},
		{`''`, ""},
		{`''''`, "'"},
		{`"double ""q"""`, `double "q"`},
		{"\"tick`n`t`$`\"``\"", "tick\n\t$\"`"}, // backtick escapes (about_Special_Characters)
	}
	for _, tt := range tests {
		toks, err := Lex(tt.src)
		if err != nil {
			t.Errorf("Lex(%q): %v", tt.src, err)
			continue
		}
		if len(toks) != 2 || toks[0].Kind != TokString || toks[0].Value != tt.want {
			t.Errorf("Lex(%q) = %+v, want one string %q", tt.src, toks, tt.want)
		}
	}
	for _, bad := range []string{`'unterminated`, "'a\u2019\u2019", `"exp $x"`} {
		if _, err := Lex(bad); err == nil {
			t.Errorf("Lex(%q) accepted", bad)
		}
	}
}

func TestEvaluator(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"enum tostring", `(Get-Queue -Server 'EX01' | Select-Object -First 1).DeliveryType.ToString()`, "Undefined"},
		{"identity tostring", `@(Get-Queue)[1].Identity.ToString()`, `EX01\Shadow\4`},
		{"microsoft filter", `@(Get-Queue | Where-Object { $_.DeliveryType -ne 'ShadowRedundancy' -and $_.NextHopDomain -ne 'Poison Message' }).Count`, "1"},
		{"enum compare by name", `@(Get-Queue | Where-Object { $_.DeliveryType -eq 'shadowredundancy' }).Count`, "1"},
		{"date iso", `(Get-MailboxDatabase 'DB01').LastFullBackup.ToUniversalTime().ToString('o')`, "2026-11-24T01:30:00.0000000Z"},
		{"null date guarded", `Get-MailboxDatabase | Select-Object @{Name='I'; Expression={ if ($_.LastIncrementalBackup) { $_.LastIncrementalBackup.ToString('o') } else { 'none' } }} | ForEach-Object { $_.I }`, "none"},
		{"long cast", `[long](Get-Queue | Select-Object -First 1).MessageCount + ''`, "3"},
		{"string plus", `'a' + 1 + $null + (2, 3)`, "a12 3"},
		{"array plus", `(@(1) + 2 + @(3, 4)).Count`, "4"},
		{"split", `'#EXM1 7  x'.Split(' ').Length`, "4"},
		{"function", "function f([string]$a, $b) { $a + '/' + $b; $args.Count }\nf 1 -b 2 3", "1/2 1"},
		{"function scope", "$v = 'outer'\nfunction g { $v = 'inner'; $v }\n(g) + ',' + $v", "inner,outer"},
		{"script block scope", "$w = 1\n& { $w = 2 }\n& { $global:w2 = 3 }\n[string]$w + $w2", "13"},
		{"foreach break", "@(foreach ($i in 1, 2, 3) { $i; if ($i -eq 2) { break } }) -join ','", "1,2"},
		{"while continue", "$i = 0\n$o = @(while ($i -lt 4) { $i = $i + 1; if ($i -eq 2) { continue }; $i })\n$o -join ','", "1,3,4"},
		{"try catch", "$ErrorActionPreference = 'Stop'; try { Get-Nothing; 'not here' } catch { $_.CategoryInfo.Category.ToString() + '|' + $_.Exception.GetType().FullName } finally { 'finally' }", "ObjectNotFound|System.Management.Automation.CommandNotFoundException finally"},
		{"ordered", "([ordered]@{ b = 1; a = 2 } | ConvertTo-Json -Compress)", `{"b":1,"a":2}`},
		{"utf8 round trip", "$u = New-Object System.Text.UTF8Encoding $false\n$u.GetString([Convert]::FromBase64String([Convert]::ToBase64String($u.GetBytes('h\u00e9')))) + $u.GetBytes('h\u00e9').Length", "h\u00e93"},
		{"script block create", "& ([ScriptBlock]::Create('1 + 1'))", "2"},
		{"member assign", "[System.Threading.Thread]::CurrentThread.CurrentCulture = 'en-US'\n[System.Threading.Thread]::CurrentThread.CurrentCulture.Name", "en-US"},
		{"switch bound", `(Get-MailboxDatabase -Status).Mounted`, "True"},
		{"pipeline binding", `('MSExchangeTransport', 'W3SVC' | Get-Service | ForEach-Object { $_.Name }) -join ','`, "MSExchangeTransport,W3SVC"},
		{"variables", "$a = 5\n$b = $a -gt 3\n$b", "True"},
		{"array filter", `@(1,2,3,2) -eq 2`, "2 2"},
		{"like", `'EX01\Submission' -like 'ex01\*'`, "True"},
		{"in", `'Blocked' -in @('Unrestricted','Blocked')`, "True"},
		{"not", `-not $false`, "True"},
		{"sort", `(3,1,2 | Sort-Object) -eq 1`, "1"},
		{"count scalar", `(Get-Date).Count`, "1"},
		{"elseif", `if ($false) { 'a' } elseif (1 -eq 1) { 'b' } else { 'c' }`, "b"},
		{"expand", `Get-Queue | Select-Object -First 2 | Select-Object -ExpandProperty MessageCount`, "3 7"},
		{"member enumeration", `(Get-Queue).MessageCount`, "3 7 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := toString(eval(t, tt.script)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"unknown cmdlet", `Get-Nothing`, "The term 'Get-Nothing' is not recognized"},
		{"unknown parameter", `Get-Queue -Bogus 1`, "A parameter cannot be found that matches parameter name 'Bogus'."},
		{"ambiguous prefix", `Set-ServerComponentState 'EX01' -C 'HubTransport' -State 'Draining' -Requester 'Maintenance'`, ""},
		{"missing mandatory", `Set-ServerComponentState 'EX01' -Component 'HubTransport'`, "missing mandatory parameters: State"},
		{"method on null", `$x = $null; $x.ToString()`, "You cannot call a method on a null-valued expression."},
		{"cmdlet error", `$ErrorActionPreference = 'Stop'; Get-Queue -Server 'EX09'`, "couldn't be found"},
		{"too many positionals", `Get-Queue 'a' 'b'`, "A positional parameter cannot be found that accepts argument 'b'."},
		{"unsupported statement", `for ($i = 0; $i -lt 1) { }`, "not part of the dialect"},
		{"typed catch", `try { } catch [System.Exception] { }`, "not part of the dialect"},
		{"unknown type", `[System.Net.Dns]::GetHostName()`, "Unable to find type [System.Net.Dns]"},
		{"unknown member", `[Console]::In.ReadLine()`, "cannot be found on [System.Console]"},
		{"unknown method", `(New-Object System.Text.UTF8Encoding).GetPreamble()`, "does not contain a method named 'GetPreamble'"},
		{"new-object type", `New-Object System.Net.WebClient`, "Cannot find type [System.Net.WebClient]"},
		{"bad base64", `[Convert]::FromBase64String('abc')`, `Exception calling "FromBase64String" with "1" argument(s): "Invalid length`},
		{"create parse error", `[ScriptBlock]::Create('{')`, `Exception calling "Create" with "1" argument(s)`},
		{"bad type", `[xml]'<a/>'`, "Unable to find type [xml]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testRuntime().Eval(t.Context(), "EX01", tt.script)
			if tt.want == "" {
				if err != nil { // -C is a unique prefix of Component here (no common parameter starts with c... except Confirm)
					if !strings.Contains(err.Error(), "ambiguous") {
						t.Fatalf("unexpected error %v", err)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSnapinRequired(t *testing.T) {
	r := testRuntime()
	var stdout, stderr strings.Builder
	code := r.RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell.exe -EncodedCommand " + encode("Get-Queue"), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	if code != 1 || !strings.Contains(stderr.String(), "is not recognized") {
		t.Fatalf("without Add-PSSnapin: code %d stderr %s", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = r.RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell.exe -EncodedCommand " + encode("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; @(Get-Queue).Count"), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	if code != 0 || stdout.String() != "3\r\n" || stderr.Len() != 0 {
		t.Fatalf("with Add-PSSnapin: code %d stdout %q stderr %s", code, stdout.String(), stderr.String())
	}
}

func encode(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestCommandLineForms(t *testing.T) {
	script := "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; 'hi'"
	b64 := encode(script)
	tests := []struct {
		name    string
		command string
		args    []string
		stdout  string
		code    int
	}{
		{"masterzen", "powershell.exe -EncodedCommand " + encode("$ProgressPreference = 'SilentlyContinue'; "+script), nil, "hi\r\n", 0},
		{"pywinrm joined", "powershell", []string{"-encodedcommand " + b64}, "hi\r\n", 0},
		{"split args", "powershell", []string{"-NoProfile", "-NonInteractive", "-enc", b64}, "hi\r\n", 0},
		{"-e", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -e ` + b64, nil, "hi\r\n", 0},
		{"-ec", "PowerShell -ec " + b64, nil, "hi\r\n", 0},
		{"-Command", `powershell -NoLogo -Command "'from command'"`, nil, "from command\r\n", 0},
		{"exit code", "powershell -enc " + encode("exit 7"), nil, "", 7},
		{"failed last statement", "powershell -enc " + encode("Get-Nothing"), nil, "", 1},
		{"cmd echo", "echo hello", nil, "hello\r\n", 0},
		{"cmd unknown", "ipconfig /all", nil, "", 1},
		{"bad base64", "powershell -EncodedCommand !!!", nil, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: tt.command, Args: tt.args, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
			if code != tt.code || stdout.String() != tt.stdout {
				t.Errorf("code %d stdout %q (stderr %q), want %d %q", code, stdout.String(), stderr.String(), tt.code, tt.stdout)
			}
		})
	}
}

func TestCLIXMLStderr(t *testing.T) {
	var stdout, stderr strings.Builder
	code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -enc " + encode("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\nGet-Queue -Server 'EX09'\n'after'"),
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	// Continue (the default): the error is written, the script goes on, and the last statement succeeded.
	if code != 0 || stdout.String() != "after\r\n" {
		t.Errorf("code %d stdout %q", code, stdout.String())
	}
	want := []string{"#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">",
		`<S S="Error">Get-Queue : The operation couldn't be performed because object 'EX09' couldn't be found on 'DC01.exlab.local'._x000D__x000A_</S>`,
		`<S S="Error">At line:2 char:1_x000D__x000A_</S>`,
		`<S S="Error">    + CategoryInfo          : NotSpecified: (:) [Get-Queue], Exception_x000D__x000A_</S>`,
		`<S S="Error">    + FullyQualifiedErrorId : A3F2,Microsoft.Exchange.Management.QueueViewerTasks.GetQueue_x000D__x000A_</S>`,
		"</Objs>"}
	for _, w := range want {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
}

func TestConvertToJSON51(t *testing.T) {
	q := queue(`EX01\Submission`, "Undefined", 0, 3, "Submission")
	nested := NewObject("Outer", "A", NewObject("Mid", "B", NewObject("Inner", "C", int64(1))))
	tests := []struct {
		name  string
		v     any
		depth int
		want  string
	}{
		{"enum as int, date as /Date/", NewObject("X", "E", Enum{Type: "T", Name: "Blocked", Value: 2}, "D", t0), 2, `{"E":2,"D":"\/Date(1795555800000)\/"}`},
		{"escaping", "a<b>&'c\"\\\n", 2, `"a\u003cb\u003e\u0026\u0027c\"\\\n"`},
		{"depth truncation", nested, 1, `{"A":{"B":"Inner"}}`},
		{"rich identity truncated at depth", q, 1, `{"Identity":{"Server":"EX01","RowId":1},"DeliveryType":0,"Status":2,"MessageCount":3,"NextHopDomain":"Submission","LastRetryTime":"\/Date(1795555800000)\/","NextRetryTime":null}`},
		{"single array", []any{int64(1)}, 2, `[1]`},
		{"empty array", []any{}, 2, `[]`},
		{"hashtable", &Hashtable{Keys: []string{"ok"}, Values: map[string]any{"ok": true}}, 2, `{"ok":true}`},
		{"double", 2.5, 2, `2.5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConvertToJSON(tt.v, tt.depth, true); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if got := ConvertToJSON(NewObject("X", "a", int64(1), "b", []any{int64(2)}), 2, false); got != "{\r\n    \"a\":  1,\r\n    \"b\":  [\r\n              2\r\n          ]\r\n}" && !strings.Contains(got, "\"a\":  1") {
		t.Errorf("indented form: %q", got)
	}
	// The dialect's read shape: @(...) with -InputObject keeps one result an array; piping unrolls it.
	if got := toString(eval(t, `ConvertTo-Json -InputObject @(Get-Queue | Select-Object -First 1 | Select-Object @{Name='Id'; Expression={ $_.Identity.ToString() }}) -Compress`)); got != `[{"Id":"EX01\\Submission"}]` {
		t.Errorf("-InputObject @(one): %s", got)
	}
	if got := toString(eval(t, `@(Get-Queue | Select-Object -First 1 | Select-Object @{N='Id'; E={ $_.Identity.ToString() }}) | ConvertTo-Json -Compress`)); got != `{"Id":"EX01\\Submission"}` {
		t.Errorf("piped @(one): %s", got)
	}
	// 5.1 wraps an array that a calculated property produces in a PSObject; ConvertTo-Json then writes it as
	// {"value":[...],"Count":n} — the shape that broke the first client on real servers (issue 10).
	got := toString(eval(t, `Get-Queue | Select-Object -First 1 | Select-Object @{N='Hops'; E={ @(Get-Queue | ForEach-Object { $_.NextHopDomain }) }} | ConvertTo-Json -Compress`))
	if got != `{"Hops":{"value":["Submission","ex02.exlab.local","Poison Message"],"Count":3}}` {
		t.Errorf("calculated array: %s", got)
	}
}

// sessionScript is the loop the client sends, as docs/session-protocol.md defines it, with the given load
// statement: exchsim runs it as it runs any script.
func sessionScript(t *testing.T, nonce, load string) string {
	t.Helper()
	return sessiondoc.Loop(t, nonce, load)
}

func TestSessionLoop(t *testing.T) {
	const nonce = "0123456789abcdef0123456789abcdef"
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + encode(sessionScript(t, nonce, "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn")),
			Stdin: inR, Stdout: outW, Stderr: io.Discard})
		outW.Close()
	}()
	lines := bufio.NewReader(outR)
	read := func() string {
		t.Helper()
		for {
			l, err := lines.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			if l = strings.TrimRight(l, "\r\n"); strings.HasPrefix(l, "#EXM1 ") { // every reply starts on a fresh line
				return l
			}
		}
	}
	send := func(id int, script string) {
		t.Helper()
		fmt.Fprintf(inW, "#EXM1 %d %s\r\n", id, base64.StdEncoding.EncodeToString([]byte(script)))
	}
	decode := func(line string, id int) (string, string) {
		t.Helper()
		f := strings.Split(line, " ")
		if len(f) != 7 || f[0] != "#EXM1" || f[1] != nonce || f[2] != fmt.Sprint(id) || f[6] != "#END" {
			t.Fatalf("bad reply line %q", line)
		}
		b, err := base64.StdEncoding.DecodeString(f[5])
		if err != nil || fmt.Sprint(len(b)) != f[4] {
			t.Fatalf("bad payload in %q", line)
		}
		return f[3], string(b)
	}
	if got := read(); got != "#EXM1 "+nonce+" READY stdin=pipe in=utf-8 out=utf-8" {
		t.Fatalf("first line %q", got)
	}
	send(1, "$n = @(Get-Queue).Count; ConvertTo-Json -InputObject $n -Compress")
	if kind, payload := decode(read(), 1); kind != "OK" || payload != "3" {
		t.Errorf("1: %s %s", kind, payload)
	}
	fmt.Fprint(inW, "some garbage line\r\n")
	// Each request runs in a child scope of its own (& of a script block, about_Scopes): its variables
	// are gone with it, and it sees the loop's $ErrorActionPreference.
	send(2, "ConvertTo-Json -InputObject @(($null -eq $n), $ErrorActionPreference) -Compress")
	if kind, payload := decode(read(), 2); kind != "OK" || payload != `[true,"Stop"]` {
		t.Errorf("2: %s %s", kind, payload)
	}
	send(3, "Get-Queue -Server 'EX09'") // Stop: a cmdlet error is an ERR reply
	kind, payload := decode(read(), 3)
	var ej map[string]string
	if err := json.Unmarshal([]byte(payload), &ej); err != nil || kind != "ERR" || !strings.Contains(ej["message"], "EX09") || ej["errorId"] == "" || ej["type"] == "" {
		t.Errorf("3: %s %s", kind, payload)
	}
	send(4, "Get-Queue | Where-Object {") // parse error
	if kind, payload := decode(read(), 4); kind != "ERR" || !strings.Contains(payload, "Missing closing") {
		t.Errorf("4: %s %s", kind, payload)
	}
	// break and continue leave the request's foreach of one item, not the loop: what the request wrote
	// before them is the reply, and the session goes on (variables kept). A request that leaves a line
	// open (Write-Host -NoNewline writes to the console at once) still gets its reply on a line of its own.
	for _, tc := range []struct {
		id              int
		script, payload string
	}{
		{5, "'before'; break; 'after'", "before"},
		{6, "continue", ""},
		{7, "ConvertTo-Json -InputObject 3 -Compress", "3"},
		{8, "Write-Host -NoNewline 'partial'; ConvertTo-Json -InputObject 8 -Compress", "8"},
	} {
		send(tc.id, tc.script)
		if kind, payload := decode(read(), tc.id); kind != "OK" || payload != tc.payload {
			t.Errorf("%d (%s): %s %q, want OK %q", tc.id, tc.script, kind, payload, tc.payload)
		}
	}
	inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after stdin EOF", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end at stdin EOF")
	}
}

func TestSessionLoadFailure(t *testing.T) {
	const nonce = "ffffffffffffffffffffffffffffffff"
	var stdout strings.Builder
	code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -EncodedCommand " + encode(sessionScript(t, nonce, "Add-PSSnapin Not.A.Snapin")),
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: io.Discard})
	if code != 1 || !strings.HasPrefix(stdout.String(), "\r\n#EXM1 "+nonce+" 0 ERR ") {
		t.Errorf("code %d stdout %q", code, stdout.String())
	}
}

// TestSessionConsoleStdin: with a console for standard input (WINRS_CONSOLEMODE_STDIN=TRUE) the loop says
// so in its READY line, a request line longer than 254 characters arrives cut (Console.ReadLine's buffer)
// and fails, and the end of input never arrives: the session ends only when the process is stopped.
func TestSessionConsoleStdin(t *testing.T) {
	const nonce = "0123456789abcdef0123456789abcdef"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- testRuntime().RunCommand(ctx, Process{Host: "EX01", Command: "powershell.exe -EncodedCommand " + encode(sessionScript(t, nonce, "")),
			ConsoleStdin: true, Codepage: 437, Stdin: inR, Stdout: outW, Stderr: io.Discard})
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	next := func() string {
		t.Helper()
		for lines.Scan() {
			if l := strings.TrimSpace(lines.Text()); l != "" {
				return l
			}
		}
		t.Fatalf("no more output: %v", lines.Err())
		return ""
	}
	if got := next(); got != "#EXM1 "+nonce+" READY stdin=console in=ibm437 out=ibm437" {
		t.Fatalf("READY line %q", got)
	}
	short := "ConvertTo-Json -InputObject 1 -Compress"
	long := "$x = '" + strings.Repeat("x", 300) + "'; ConvertTo-Json -InputObject $x.Length -Compress"
	for id, script := range []string{short, long} {
		fmt.Fprintf(inW, "#EXM1 %d %s\r\n", id+1, base64.StdEncoding.EncodeToString([]byte(script)))
		f := strings.Fields(next())
		if len(f) != 7 {
			t.Fatalf("reply %v", f)
		}
		want := map[int]string{0: "OK", 1: "ERR"}[id] // the long line's base64 arrives cut
		if f[3] != want {
			t.Errorf("request %d (%d characters): %s, want %s", id+1, len(script), f[3], want)
		}
	}
	cancel()
	<-done
	// The end of input never reaches a console reader: after the last line, a read ends only when the
	// process is stopped, with that reason, never with io.EOF.
	rctx, rcancel := context.WithCancel(t.Context())
	r := consoleInput(rctx, strings.NewReader("last line\r\n"))
	got, err := io.ReadAll(io.LimitReader(r, int64(len("last line\r\n"))))
	if err != nil || string(got) != "last line\r\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	rcancel()
	if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("read after the input's end: %d, %v; want the process's cancellation, not io.EOF", n, err)
	}
}

func TestRemoteExchangeLoad(t *testing.T) {
	const nonce = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	inR, inW := io.Pipe()
	var stdout strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -EncodedCommand " + encode(sessionScript(t, nonce, ". (Join-Path $env:ExchangeInstallPath 'bin\\RemoteExchange.ps1'); Connect-ExchangeServer -auto -ClientApplication:ManagementShell")),
			Stdin: inR, Stdout: &stdout, Stderr: io.Discard})
	}()
	fmt.Fprintf(inW, "#EXM1 1 %s\r\n", base64.StdEncoding.EncodeToString([]byte("@(Get-Queue).Count")))
	inW.Close()
	if code := <-done; code != 0 || !strings.Contains(stdout.String(), " READY") || !strings.Contains(stdout.String(), " 1 OK 1 Mw== #END") {
		t.Errorf("code %d stdout %q", code, stdout.String())
	}
}

func FuzzLex(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", "\u2018\u2019\u201a\u201b", "'''", "a\nb", "$x", "-Name", "`", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Lex(s) // never panics
		// A value quoted the way exmaintd quotes it lexes back to exactly itself, as one token.
		var q strings.Builder
		q.WriteByte('\'')
		for _, r := range s {
			if isSingleQuote(r) {
				q.WriteRune(r)
			}
			q.WriteRune(r)
		}
		q.WriteByte('\'')
		toks, err := Lex(q.String())
		if err != nil {
			t.Fatalf("Lex(%q): %v", q.String(), err)
		}
		if len(toks) != 2 || toks[0].Kind != TokString || toks[0].Value != string([]rune(s)) {
			t.Fatalf("Lex(%q) = %+v, want one string %q", q.String(), toks, s)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Get-Queue -Server 'EX01' | Select-Object @{Name='X'; Expression={ $_.Y.ToString() }}",
		"if ($a) { 1 } elseif ($b) { 2 } else { 3 }", "$x = @(1,2) -eq 1", "[long]$_.MessageCount", "@{a=1;b={2}}", "((((", "}",
		"function f([string]$a, $b) { f $a }; f 1", "try { [Convert]::FromBase64String('x') } catch { $_.Exception.GetType().FullName } finally { 1 }",
		"foreach ($i in 1, 2) { while ($true) { break } }", "$r = [System.IO.StreamReader]::new([Console]::OpenStandardInput(1)); $r.ReadLine()",
		"[System.Threading.Thread]::CurrentThread.CurrentCulture = 'x'; & { $args } 1 -a", "'a' + 1 -join \"`n\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses must evaluate without panicking (errors are fine).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p := newProc(ctx, testRuntime(), "EX01", "fuzz")
		_, _ = p.runScript(sc)
	})
}

// TestStatementTerminatingErrors: a command that is not recognized, a parameter that does not bind and a
// method call on $null end only their statement — the script goes on and, its last statement having
// succeeded, powershell.exe exits 0 — unless $ErrorActionPreference is Stop, which makes them end the
// script (exit 1). -ErrorAction Stop promotes only non-terminating errors.
func TestStatementTerminatingErrors(t *testing.T) {
	for _, tc := range []struct {
		name, script, wantOut string
		wantCode              int
		wantErr               string
	}{
		{"not recognized", "Get-Nothing\n'after'", "after\r\n", 0, "CommandNotFoundException"},
		{"unknown parameter", "Get-Date -Nope 1\n'after'", "after\r\n", 0, "NamedParameterNotFound"},
		{"method on null", "$x = $null\n$x.ToString()\n'after'", "after\r\n", 0, "InvokeMethodOnNull"},
		{"last statement fails", "'before'\nGet-Nothing", "before\r\n", 1, "CommandNotFoundException"},
		{"preference Stop", "$ErrorActionPreference = 'Stop'\nGet-Nothing\n'after'", "", 1, "CommandNotFoundException"},
		{"-ErrorAction Stop on a statement-terminating error", "Get-Nothing -ErrorAction Stop\n'after'", "after\r\n", 0, "CommandNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -enc " + encode(tc.script),
				Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
			if code != tc.wantCode || stdout.String() != tc.wantOut || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("code %d stdout %q stderr %.300q; want code %d stdout %q and %s", code, stdout.String(), stderr.String(), tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
}

// TestErrorRecordLayout: 5.1's console error view — "<command> : <message>", the statement's line and
// column, CategoryInfo with the target object and activity, the FullyQualifiedErrorId.
func TestErrorRecordLayout(t *testing.T) {
	var stdout, stderr strings.Builder
	testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -enc " + encode("'one'\n  Get-Nothing -Name x\n'after'"),
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	for _, w := range []string{
		`<S S="Error">Get-Nothing : The term 'Get-Nothing' is not recognized as the name of a cmdlet`,
		`<S S="Error">At line:2 char:3_x000D__x000A_</S>`,
		`<S S="Error">+ Get-Nothing -Name x_x000D__x000A_</S>`,
		`<S S="Error">    + CategoryInfo          : ObjectNotFound: (Get-Nothing:String) [], CommandNotFoundException_x000D__x000A_</S>`,
		`<S S="Error">    + FullyQualifiedErrorId : CommandNotFoundException_x000D__x000A_</S>`,
	} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
}

// TestCommandFromStdin: `powershell -Command -` runs each line as it arrives — its output is written
// before the next line is even sent — continues a statement that does not parse alone up to a blank line,
// and exits with the code of exit N.
func TestCommandFromStdin(t *testing.T) {
	inR, inW := io.Pipe()
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell.exe -NoProfile -Command -", Stdin: inR, Stdout: &stdout, Stderr: &stderr})
	}()
	if _, err := io.WriteString(inW, "'one'\r\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "one") {
		if time.Now().After(deadline) {
			t.Fatalf("the first line's output did not come before the next line was sent: %q", stdout.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the process's output with a deadline
	}
	if _, err := io.WriteString(inW, "if ($true) {\r\n'in'\r\n}\r\n\r\n'after'\r\nexit 3\r\n'never'\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = inW.Close()
	if code := <-done; code != 3 || stdout.String() != "one\r\nin\r\nafter\r\n" {
		t.Errorf("code %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
}

// TestOutputCodepage: powershell.exe writes its output in the shell's code page — 437 (an en-US server's
// OEM code page, pywinrm's default) encodes ü and ß as 0x81 and 0xE1 and has no en dash ('?'); 65001 is
// UTF-8 (MS-WSMV WINRS_CODEPAGE).
func TestOutputCodepage(t *testing.T) {
	for _, tc := range []struct {
		cp   int
		want string
	}{{437, "Gr\x81\xe1e ? ok\r\n"}, {65001, "Grüße – ok\r\n"}} {
		var stdout, stderr strings.Builder
		testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -enc " + encode("'Grüße – ok'"), Codepage: tc.cp,
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		if stdout.String() != tc.want {
			t.Errorf("code page %d: %q, want %q", tc.cp, stdout.String(), tc.want)
		}
	}
}

// TestCommandFromStdinKeepsGoing: from stdin an error ends only its line, even under
// $ErrorActionPreference = 'Stop' (PowerShell/PowerShell#21808), and an incomplete statement at the end of
// the input is never run (#15331).
func TestCommandFromStdinKeepsGoing(t *testing.T) {
	var stdout, stderr strings.Builder
	code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -Command -",
		Stdin:  strings.NewReader("$ErrorActionPreference = 'Stop'\nGet-Nothing\n'after'\nif ($true) {\n'never'\n"),
		Stdout: &stdout, Stderr: &stderr})
	if code != 0 || stdout.String() != "after\r\n" || !strings.Contains(stderr.String(), "CommandNotFoundException") {
		t.Errorf("code %d stdout %q stderr %.200q", code, stdout.String(), stderr.String())
	}
}

// TestScopeModifiers: one variable whatever scope modifier names it — $global:LASTEXITCODE, which native
// commands set, is what a script reads as $LASTEXITCODE (about_Scopes: a variable not declared in the
// child scope is found in its parents).
func TestScopeModifiers(t *testing.T) {
	for _, script := range []string{
		"$global:LASTEXITCODE = 3010\n$LASTEXITCODE",
		"$LASTEXITCODE = 3010\n$global:LASTEXITCODE",
		"$Script:x = 3010\n$x",
	} {
		var stdout, stderr strings.Builder
		code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell -enc " + encode(script),
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		if code != 0 || stdout.String() != "3010\r\n" {
			t.Errorf("%q: code %d stdout %q stderr %.200q; want 3010", script, code, stdout.String(), stderr.String())
		}
	}
}

// TestChildPowerShell: powershell.exe started from a script is a process of its own — its output comes back
// as lines, its exit code is $LASTEXITCODE, and exit, break or continue in it end it alone (about_Break,
// about_Language_Keywords), so the script that started it goes on. Variables are its own.
func TestChildPowerShell(t *testing.T) {
	for _, tc := range []struct {
		child, want string
	}{
		{"'a'; Write-Output 'b'", "a b 0 kept"},
		{"'a'; exit 3; 'b'", "a 3 kept"},
		{"'a'; break; 'b'", "a 0 kept"},
		{"continue", "0 kept"},
		{"$exmParent = 'changed'; 'x'", "x 0 kept"},
	} {
		script := "$exmParent = 'kept'\n$o = @(& powershell.exe -NoLogo -NoProfile -NonInteractive -EncodedCommand '" + encode(tc.child) + "')\n" +
			"$o; $LASTEXITCODE; $exmParent"
		var stdout strings.Builder
		code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell.exe -EncodedCommand " + encode(script), Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: io.Discard})
		if got := strings.Join(strings.Fields(stdout.String()), " "); code != 0 || got != tc.want {
			t.Errorf("child %q: exit %d, %s; want %s", tc.child, code, got, tc.want)
		}
	}
}

// TestSessionLoopIsInterpreted: exchsim runs the loop's text, so a change to the text changes what happens —
// the protocol lives in the loop, not in exchsim. Each case runs the document's loop, then the loop with one
// line changed, on the same input (pipe mode, so the loop ends at the end of input).
func TestSessionLoopIsInterpreted(t *testing.T) {
	const nonce = "0123456789abcdef0123456789abcdef"
	run := func(t *testing.T, loop string, scripts ...string) (string, int) {
		t.Helper()
		var in strings.Builder
		for i, s := range scripts {
			fmt.Fprintf(&in, "#EXM1 %d %s\r\n", i+1, base64.StdEncoding.EncodeToString([]byte(s)))
		}
		var out strings.Builder
		code := testRuntime().RunCommand(t.Context(), Process{Host: "EX01", Command: "powershell.exe -EncodedCommand " + encode(loop),
			Stdin: strings.NewReader(in.String()), Stdout: &out, Stderr: io.Discard})
		return out.String(), code
	}
	replies := func(stdout string) int { return strings.Count(stdout, "\r\n#EXM1 "+nonce+" ") }
	doc := sessionScript(t, nonce, "")
	for _, tc := range []struct {
		name, old, new string
		scripts        []string
		// replies is how many reply lines start a line: with the document's loop, then with the change
		replies, changed int
	}{
		// exmReply's first WriteLine is what puts a reply on a fresh line after a command left one open
		{"fresh line", "  [Console]::Out.WriteLine()\n", "", []string{"Write-Host -NoNewline 'partial'; 1", "2"}, 2, 1},
		// the foreach of one item is what keeps a request's break from ending the while loop
		{"break contained", "@(foreach ($exmOnce in 1) { & ([ScriptBlock]::Create($script)) })", "@(& ([ScriptBlock]::Create($script)))", []string{"'a'; break", "2"}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(doc, tc.old) {
				t.Fatalf("the loop no longer contains %q", tc.old)
			}
			out, code := run(t, doc, tc.scripts...)
			if got := replies(out); got != tc.replies || code != 0 {
				t.Errorf("the document's loop: %d replies on a line of their own (exit %d), want %d:\n%s", got, code, tc.replies, out)
			}
			out, _ = run(t, strings.Replace(doc, tc.old, tc.new, 1), tc.scripts...)
			if got := replies(out); got != tc.changed {
				t.Errorf("changed loop: %d replies on a line of their own, want %d:\n%s", got, tc.changed, out)
			}
		})
	}
}

// TestCallDepth: a function that calls itself without end fails as Windows PowerShell does, at a depth of
// 1000, instead of exhausting the simulator's stack.
func TestCallDepth(t *testing.T) {
	_, err := testRuntime().Eval(t.Context(), "EX01", "function f { f }; f")
	if err == nil || !strings.Contains(err.Error(), "call depth overflow") {
		t.Fatalf("err = %v, want call depth overflow", err)
	}
}
