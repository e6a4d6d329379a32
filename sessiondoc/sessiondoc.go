// Package sessiondoc reads exmaintd's WinRS session loop from docs/session-protocol.md, its one
// definition: exchsim's tests run that text (exchsim interprets the loop, it does not recognise it), and
// the client's test keeps the copy it sends equal to it.
package sessiondoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Template is the loop as the document writes it, with its __NONCE__ and __LOAD__ placeholders.
func Template(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for { // the module root: the nearest directory upwards with go.mod
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("sessiondoc: no go.mod above the test's directory")
		}
		dir = parent
	}
	doc, err := os.ReadFile(filepath.Join(dir, "docs", "session-protocol.md"))
	if err != nil {
		tb.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## The loop\n\n```powershell\n")
	block, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 {
		tb.Fatal("docs/session-protocol.md has no powershell block under ## The loop")
	}
	return block
}

// Loop is the loop with its nonce and load statement filled in, as exmaintd sends it.
func Loop(tb testing.TB, nonce, load string) string {
	tb.Helper()
	return strings.NewReplacer("__NONCE__", nonce, "__LOAD__", load).Replace(Template(tb))
}
