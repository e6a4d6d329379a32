package exchsim

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/sessiondoc"
)

// BenchmarkOneShot is the per-command baseline: one shell, one powershell.exe and one snap-in load per call
// (5 WinRM requests). Zero-cost profile: it measures exchsim and the client, not simulated latency.
func BenchmarkOneShot(b *testing.B) {
	sim := start(b, "dag2", false)
	c := client(b, sim, sim.Servers()[0], false)
	ctx := context.Background()
	script := "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; ConvertTo-Json -Compress -InputObject @(Get-Queue -Server 'EX01' | Select-Object @{Name='C'; Expression={ [long]$_.MessageCount }})"
	sim.ResetRequests()
	b.ResetTimer()
	for range b.N {
		if _, _, code, err := c.RunPSWithContextWithString(ctx, script, ""); err != nil || code != 0 {
			b.Fatal(err, code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(sim.Requests()["Create"]+sim.Requests()["Command"]+sim.Requests()["Send"]+sim.Requests()["Receive"]+sim.Requests()["Signal"]+sim.Requests()["Delete"])/float64(b.N), "winrm-requests/op")
}

// BenchmarkSessionRequest is the persistent-session path: one Send and one Receive per request on a shell
// and powershell.exe that stay up.
func BenchmarkSessionRequest(b *testing.B) {
	sim := start(b, "dag2", false)
	c := client(b, sim, sim.Servers()[0], false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shell, err := c.CreateShell()
	if err != nil {
		b.Fatal(err)
	}
	defer shell.Close()
	const nonce = "0123456789abcdef0123456789abcdef"
	loop := sessiondoc.Loop(b, nonce, "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn")
	cmd, err := shell.ExecuteWithContext(ctx, "powershell.exe -NonInteractive -EncodedCommand "+encodedCommand(loop))
	if err != nil {
		b.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, cmd.Stderr) }()
	lines := bufio.NewReader(cmd.Stdout)
	if l, err := lines.ReadString('\n'); err != nil || !strings.Contains(l, "READY") {
		b.Fatal(l, err)
	}
	req := base64.StdEncoding.EncodeToString([]byte("ConvertTo-Json -Compress -InputObject @(Get-Queue -Server 'EX01' | Select-Object @{Name='C'; Expression={ [long]$_.MessageCount }})"))
	sim.ResetRequests()
	b.ResetTimer()
	for i := range b.N {
		fmt.Fprintf(cmd.Stdin, "#EXM1 %d %s\r\n", i+1, req)
		if l, err := lines.ReadString('\n'); err != nil || !strings.Contains(l, " OK ") {
			b.Fatal(l, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(sim.Requests()["Send"]+sim.Requests()["Receive"])/float64(b.N), "winrm-requests/op")
	_ = cmd.Stdin.Close()
	cmd.Wait()
}
