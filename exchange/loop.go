package exchange

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// LoadNone is the one load setting left: the WinRS session runs operating-system operations only and loads
// nothing. Exchange cmdlets run on Exchange's own remote PowerShell endpoint; loading the snap-in into a
// WinRM shell is unsupported by Microsoft and fails on the second hop (docs/exchange-client.md).
const LoadNone = "none"

func loadStatement(load string) (string, error) {
	if load == LoadNone || load == "" {
		return "", nil
	}
	return "", fmt.Errorf("load %q is no longer supported: Exchange cmdlets run on the Exchange endpoint (exchange_url); want %s", load, LoadNone)
}

// loopTemplate is the session loop of docs/session-protocol.md, verbatim (a golden test keeps them equal).
const loopTemplate = `# exmaintd-session/1
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
[System.Threading.Thread]::CurrentThread.CurrentCulture = 'en-US'
[System.Threading.Thread]::CurrentThread.CurrentUICulture = 'en-US'
$exmNonce = '__NONCE__'
$exmUtf8 = New-Object System.Text.UTF8Encoding $false
function exmReply([string]$id, [string]$kind, [string]$text) {
  $bytes = $exmUtf8.GetBytes($text)
  [Console]::Out.WriteLine()
  [Console]::Out.WriteLine('#EXM1 ' + $exmNonce + ' ' + $id + ' ' + $kind + ' ' + $bytes.Length + ' ' + [Convert]::ToBase64String($bytes) + ' #END')
  [Console]::Out.Flush()
}
function exmError($e) {
  $o = [ordered]@{ message = $e.Exception.Message; category = $e.CategoryInfo.Category.ToString(); errorId = $e.FullyQualifiedErrorId; type = $e.Exception.GetType().FullName }
  ConvertTo-Json -InputObject $o -Compress
}
try { __LOAD__ } catch { exmReply '0' 'ERR' (exmError $_); exit 1 }
$exmMode = 'console'
try { if ([Console]::IsInputRedirected) { $exmMode = 'pipe' } } catch { $exmMode = 'unknown' }
$exmEnc = 'in=? out=?'
try { $exmEnc = 'in=' + [Console]::InputEncoding.WebName + ' out=' + [Console]::OutputEncoding.WebName } catch { }
$exmIn = [System.IO.StreamReader]::new([Console]::OpenStandardInput(65536), $exmUtf8)
[Console]::Out.WriteLine('#EXM1 ' + $exmNonce + ' READY stdin=' + $exmMode + ' ' + $exmEnc); [Console]::Out.Flush()
while ($true) {
  $line = $exmIn.ReadLine()
  if ($null -eq $line) { break }
  $f = $line.Trim().Split(' ')
  if ($f.Length -ne 3 -or $f[0] -ne '#EXM1') { continue }
  try {
    $script = $exmUtf8.GetString([Convert]::FromBase64String($f[2]))
    $out = @(foreach ($exmOnce in 1) { & ([ScriptBlock]::Create($script)) })
    exmReply $f[1] 'OK' (($out | ForEach-Object { [string]$_ }) -join "` + "`" + `n")
  } catch {
    exmReply $f[1] 'ERR' (exmError $_)
  }
}
`

// loopScript returns the loop with its nonce and load statement filled in.
func loopScript(nonce, load string) string {
	return strings.NewReplacer("__NONCE__", nonce, "__LOAD__", load).Replace(loopTemplate)
}

// powershellArgs is the command line exmaintd runs: the script as -EncodedCommand (base64 of UTF-16LE), so
// that cmd.exe, which WinRS runs it through, sees no metacharacters. Built here rather than with
// winrm.Powershell, which prepends a statement (the session marker must be line 1).
func powershellArgs(script string) []string {
	return []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encodeCommand(script)}
}

func encodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// commandLineLimit is the longest command line exmaintd sends: cmd.exe's limit is 8191 characters
// (winrm-protocol.md §1.4); longer scripts go over stdin.
const commandLineLimit = 8000

// childCommandLineLimit is the longest command line a process can start another with: CreateProcess's
// lpCommandLine holds at most 32,767 characters (Microsoft Learn, CreateProcessW). It bounds a configured
// command run in a child powershell.exe (OpRun).
const childCommandLineLimit = 32767

func commandLineLength(exe string, args []string) int {
	n := len(exe)
	for _, a := range args {
		n += 1 + len(a)
	}
	return n
}
