package exchange_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/exchsim/ps"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"EX01", "'EX01'"},
		{"O'Brien", "'O''Brien'"},
		{"a\u2019b", "'a\u2019\u2019b'"},
		{"''", "''''''"},
		{"$env:x `n", "'$env:x `n'"},
		{"\u201a\u201b\u2018", "'\u201a\u201a\u201b\u201b\u2018\u2018'"},
	}
	for _, tt := range tests {
		if got := exchange.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
		}
		checkRoundTrip(t, tt.in)
	}
}

// checkRoundTrip asserts that exchsim's lexer (PowerShell's rules) reads Quote(s) as one string token with
// exactly the value s, also when the literal is followed by more script.
func checkRoundTrip(tb testing.TB, s string) {
	tb.Helper()
	q := exchange.Quote(s)
	toks, err := ps.Lex("Write-Output " + q + "; Write-Output 'after'")
	if err != nil {
		tb.Fatalf("Lex(%q): %v", q, err)
	}
	var strs []ps.Token
	for _, tk := range toks {
		if tk.Kind == ps.TokString {
			strs = append(strs, tk)
		}
	}
	if len(strs) != 2 {
		tb.Fatalf("Quote(%q) = %q lexes into %d string tokens, want 2 (the value and 'after')", s, q, len(strs))
	}
	if strs[0].Value != s {
		tb.Fatalf("Quote(%q) = %q reads back as %q", s, q, strs[0].Value)
	}
	if strs[1].Value != "after" {
		tb.Fatalf("Quote(%q) = %q swallowed the rest of the script", s, q)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "EX01", "'", "‘’‚‛", "a''b", "'; Remove-Item C:\\ -Recurse; '", "\x00\r\n", "#", "<#", "\"$x\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			// PowerShell scripts are Unicode text: exmaintd only ever quotes Go strings that came from valid
			// UTF-8 (TOML config, JSON from Exchange); the lexer would see U+FFFD instead.
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		checkRoundTrip(t, s)
	})
}

func TestValidateIdentity(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"EX01", true},
		{"DB01\\EX02", true},
		{"ex01.exlab.local", true},
		{"Mailbox Database 0123", true},
		{"", false},
		{" EX01", false},
		{"EX01'", false},
		{"EX\u201901", false},
		{"EX01\n", false},
		{"EX$x", false},
		{"EX`01", false},
		{strings.Repeat("a", 257), false},
	}
	for _, tt := range tests {
		err := exchange.ValidateIdentity("server", tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateIdentity(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		var ie *exchange.IdentityError
		if err != nil && (!errors.As(err, &ie) || ie.Kind != "server") {
			t.Errorf("ValidateIdentity(%q) error %v is not an *IdentityError naming the kind", tt.in, err)
		}
	}
}
