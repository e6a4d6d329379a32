package exchange

import (
	"fmt"
	"strings"
	"unicode"
)

// Quote returns s as a PowerShell single-quoted string literal. Inside '…' PowerShell treats any of the five
// single-quote characters (' U+2018 U+2019 U+201A U+201B) as a quote, and two in a row as one literal quote, so
// each of them is doubled; nothing else is special (no $, no backtick). A fuzz test proves exchsim's lexer,
// which follows PowerShell's rules, reads the result back as exactly s and as one token.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if isSingleQuote(r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

func isSingleQuote(r rune) bool {
	switch r {
	case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
		return true
	}
	return false
}

// IdentityError reports an identity (server, database, component, queue…) that exmaintd refuses to place into
// a script. Quoting alone makes any string safe; validation also catches configuration mistakes early.
type IdentityError struct {
	Kind  string // "server", "database", ...
	Value string
	Why   string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("invalid %s identity %q: %s", e.Kind, e.Value, e.Why)
}

// ValidateIdentity checks an Exchange identity: 1–256 characters, printable, no control characters, no
// quote characters of any kind and no leading or trailing space. Exchange object names (servers, databases,
// DAGs) never need them; a value that has them is a mistake or an attack, so it is refused rather than quoted.
func ValidateIdentity(kind, v string) error {
	switch {
	case v == "":
		return &IdentityError{Kind: kind, Value: v, Why: "empty"}
	case len(v) > 256:
		return &IdentityError{Kind: kind, Value: v[:32] + "…", Why: "longer than 256 bytes"}
	case strings.TrimSpace(v) != v:
		return &IdentityError{Kind: kind, Value: v, Why: "leading or trailing space"}
	}
	for _, r := range v {
		switch {
		case r == unicode.ReplacementChar:
			return &IdentityError{Kind: kind, Value: v, Why: "not valid UTF-8"}
		case unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ':
			return &IdentityError{Kind: kind, Value: v, Why: fmt.Sprintf("control or non-printable character %U", r)}
		case isSingleQuote(r) || r == '"' || r == '\u201c' || r == '\u201d' || r == '\u201e' || r == '`' || r == '$':
			return &IdentityError{Kind: kind, Value: v, Why: fmt.Sprintf("character %q is not allowed in an identity", r)}
		}
	}
	return nil
}
