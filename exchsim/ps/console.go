package ps

import (
	"bufio"
	"context"
	"io"
)

// maxConsoleLine is the longest line a program reads from a console through Windows PowerShell 5.1's
// [Console]::In / Console.ReadLine: "the method reads input from a 256-character input buffer … it can read
// lines that contain up to 254 characters" (Microsoft Learn, Console.ReadLine; dotnet/corefx#36188).
const maxConsoleLine = 254

// consoleInput is standard input as a process with a console for it sees what WinRS sends
// (WINRS_CONSOLEMODE_STDIN=TRUE). Two things are modelled, the harsher reading where sources are silent:
// every line is cut at maxConsoleLine characters (the rest of the line is lost), and the client's end of
// input (Send with End="true") never reaches the reader — a console has no end of file — so a read blocks
// until the process is stopped. In pipe mode (FALSE) input passes through unchanged.
func consoleInput(ctx context.Context, r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	// The goroutine belongs to the process: when the process ends (ctx), a write it is blocked in fails and
	// the reader gets ctx's error — the only way a console's input ends.
	context.AfterFunc(ctx, func() { _ = pw.CloseWithError(ctx.Err()) })
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				body, eol := line, ""
				if n := len(body); n > 0 && body[n-1] == '\n' {
					body, eol = body[:n-1], "\n"
					if n := len(body); n > 0 && body[n-1] == '\r' {
						body, eol = body[:n-1], "\r\n"
					}
				}
				if rs := []rune(body); len(rs) > maxConsoleLine {
					body = string(rs[:maxConsoleLine])
				}
				if _, werr := io.WriteString(pw, body+eol); werr != nil {
					return
				}
			}
			if err != nil {
				return // no end of file on a console: the reader waits until the process ends
			}
		}
	}()
	return pr
}
