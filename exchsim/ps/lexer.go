package ps

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// TokenKind classifies a token.
type TokenKind int

// Token kinds. PowerShell decides whether "-eq" is an operator or a parameter by parsing mode, so the
// lexer emits TokParam for every "-word" and the parser interprets it.
const (
	TokEOF         TokenKind = iota
	TokNewline               // statement separator
	TokSemi                  // ;
	TokPipe                  // |
	TokString                // '...' or "..." (Value is the decoded text)
	TokNumber                // 42, 1.5 (Value is int64 or float64)
	TokVariable              // $name (Value is the name without $)
	TokParam                 // -Name or -Name: (Value is the name; Text ends in ':' if a value is attached)
	TokWord                  // a bareword: command name, argument, member name, keyword
	TokLParen                // (
	TokRParen                // )
	TokLBrace                // {
	TokRBrace                // }
	TokAtParen               // @(
	TokAtBrace               // @{
	TokDollarParen           // $(
	TokLBracket              // [
	TokRBracket              // ]
	TokComma                 // ,
	TokAssign                // =
	TokDot                   // . (member access, no space before)
	TokBang                  // !
	TokAmp                   // &
	TokDotSource             // . followed by space (dot-sourcing)
	TokColonColon            // :: after a type literal ([Console]::Out); the member name follows as a TokWord
	TokPlus                  // +
)

// Token is one lexical token.
type Token struct {
	Kind  TokenKind
	Text  string // the source text
	Value any    // decoded value (strings, numbers, names)
	Pos   int    // byte offset in the source
	// Space is true when whitespace (or the start of input) precedes the token; PowerShell uses it to tell
	// member access ($x.Name) from a new argument ($x .Name).
	Space bool
}

// isSingleQuote reports whether r is one of the five characters PowerShell treats as a single quote.
func isSingleQuote(r rune) bool {
	switch r {
	case '\'', '\u2018', '\u2019', '\u201A', '\u201B':
		return true
	}
	return false
}

func isDoubleQuote(r rune) bool {
	switch r {
	case '"', '\u201C', '\u201D', '\u201E':
		return true
	}
	return false
}

// ParseError is a PowerShell parse error with its position.
type ParseError struct {
	Pos     int
	Message string
	ErrorID string // PowerShell's ParserError id, e.g. TerminatorExpectedAtEndOfString
}

func (e *ParseError) Error() string { return fmt.Sprintf("At char:%d %s", e.Pos+1, e.Message) }

// Lex splits src into tokens with PowerShell's lexical rules for the dialect (docs/powershell-dialect.md).
func Lex(src string) ([]Token, error) {
	// runes and their byte offsets in src (an invalid byte is one U+FFFD of width 1)
	rs := make([]rune, 0, len(src))
	offs := make([]int, 0, len(src)+1)
	for i, r := range src {
		rs = append(rs, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(src))
	var toks []Token
	i := 0
	space := true
	emit := func(k TokenKind, start int, text string, v any) {
		toks = append(toks, Token{Kind: k, Text: text, Value: v, Pos: offs[start], Space: space})
		space = false
	}
	prevEndsValue := func() bool {
		if len(toks) == 0 || space {
			return false
		}
		switch toks[len(toks)-1].Kind {
		case TokVariable, TokRParen, TokRBracket, TokString, TokWord, TokRBrace, TokNumber:
			return true
		}
		return false
	}
	for i < len(rs) {
		r := rs[i]
		switch {
		case r == '\n':
			emit(TokNewline, i, "\n", nil)
			space = true
			i++
			continue
		case r == '\r' || r == ' ' || r == '\t' || r == '\f' || r == '\u00A0':
			space = true
			i++
			continue
		case r == '`' && i+1 < len(rs) && (rs[i+1] == '\n' || rs[i+1] == '\r'): // line continuation
			i += 2
			if i < len(rs) && rs[i-1] == '\r' && rs[i] == '\n' {
				i++
			}
			space = true
			continue
		case r == '#':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			space = true
			continue
		case r == '<' && i+1 < len(rs) && rs[i+1] == '#':
			end := strings.Index(string(rs[i+2:]), "#>")
			if end < 0 {
				return nil, &ParseError{Pos: offs[i], Message: "Missing the terminator '#>' of a block comment.", ErrorID: "MissingEndMultiLineComment"}
			}
			i += 2 + len([]rune(string(rs[i+2:])[:end])) + 2
			space = true
			continue
		case isSingleQuote(r):
			start := i
			var sb strings.Builder
			i++
			for {
				if i >= len(rs) {
					return nil, &ParseError{Pos: offs[start], Message: "The string is missing the terminator: '.", ErrorID: "TerminatorExpectedAtEndOfString"}
				}
				c := rs[i]
				if isSingleQuote(c) {
					if i+1 < len(rs) && isSingleQuote(rs[i+1]) {
						sb.WriteRune(rs[i+1]) // PowerShell keeps the second of the pair
						i += 2
						continue
					}
					i++
					break
				}
				sb.WriteRune(c)
				i++
			}
			emit(TokString, start, string(rs[start:i]), sb.String())
			continue
		case isDoubleQuote(r):
			start := i
			var sb strings.Builder
			i++
			for {
				if i >= len(rs) {
					return nil, &ParseError{Pos: offs[start], Message: `The string is missing the terminator: ".`, ErrorID: "TerminatorExpectedAtEndOfString"}
				}
				c := rs[i]
				if c == '`' && i+1 < len(rs) { // an escape (about_Special_Characters; `e is PowerShell 6's)
					sb.WriteRune(backtickEscape(rs[i+1]))
					i += 2
					continue
				}
				if c == '$' {
					return nil, &ParseError{Pos: offs[i], Message: "Expandable strings ($ inside double quotes) are not modelled by exchsim; use a single-quoted string or an escape (`$).", ErrorID: "ExchsimExpandableString"}
				}
				if isDoubleQuote(c) {
					if i+1 < len(rs) && isDoubleQuote(rs[i+1]) {
						sb.WriteRune(rs[i+1])
						i += 2
						continue
					}
					i++
					break
				}
				sb.WriteRune(c)
				i++
			}
			emit(TokString, start, string(rs[start:i]), sb.String())
			continue
		case r == '$':
			start := i
			if i+1 < len(rs) && rs[i+1] == '(' {
				emit(TokDollarParen, start, "$(", nil)
				i += 2
				continue
			}
			j := i + 1
			if j < len(rs) && (rs[j] == '_' || rs[j] == '?') && (j+1 >= len(rs) || !isIdentRune(rs[j+1])) {
				j++
			} else {
				for j < len(rs) && isIdentRune(rs[j]) {
					j++
				}
			}
			if j == i+1 {
				return nil, &ParseError{Pos: offs[i], Message: "Variable reference is not valid. '$' was not followed by a valid variable name character.", ErrorID: "InvalidVariableReference"}
			}
			// scope-qualified names: $env:ExchangeInstallPath
			if j+1 < len(rs) && rs[j] == ':' && isIdentStart(rs[j+1]) {
				j++
				for j < len(rs) && isIdentRune(rs[j]) {
					j++
				}
			}
			name := string(rs[i+1 : j])
			emit(TokVariable, start, string(rs[start:j]), name)
			i = j
			continue
		case r == '@' && i+1 < len(rs) && rs[i+1] == '(':
			emit(TokAtParen, i, "@(", nil)
			i += 2
			continue
		case r == '@' && i+1 < len(rs) && rs[i+1] == '{':
			emit(TokAtBrace, i, "@{", nil)
			i += 2
			continue
		case r == '(' || r == ')' || r == '{' || r == '}' || r == '[' || r == ']' || r == ',' || r == ';' || r == '|' || r == '=' || r == '!' || r == '&':
			k := punctuation(r)
			if r == '=' && i+1 < len(rs) && rs[i+1] == '=' {
				return nil, &ParseError{Pos: offs[i], Message: "Unexpected token '==' in expression or statement. Use -eq for equality.", ErrorID: "UnexpectedToken"}
			}
			emit(k, i, string(r), nil)
			i++
			continue
		case r == ':' && i+1 < len(rs) && rs[i+1] == ':' && !space && len(toks) > 0 && toks[len(toks)-1].Kind == TokRBracket:
			// [Type]::Member: the member name is an identifier, so a '.' after it is member access again
			emit(TokColonColon, i, "::", nil)
			i += 2
			j := i
			for j < len(rs) && isIdentRune(rs[j]) {
				j++
			}
			if j == i {
				return nil, &ParseError{Pos: offs[i-2], Message: "Missing property name after '::'.", ErrorID: "MissingPropertyName"}
			}
			emit(TokWord, i, string(rs[i:j]), string(rs[i:j]))
			i = j
			continue
		case r == '+':
			emit(TokPlus, i, "+", nil)
			i++
			continue
		case r == '.':
			if prevEndsValue() && i+1 < len(rs) && isIdentStart(rs[i+1]) {
				emit(TokDot, i, ".", nil)
				i++
				j := i
				for j < len(rs) && isIdentRune(rs[j]) {
					j++
				}
				space = false
				emit(TokWord, i, string(rs[i:j]), string(rs[i:j]))
				i = j
				continue
			}
			if i+1 < len(rs) && (rs[i+1] == ' ' || rs[i+1] == '\t') && (space || len(toks) == 0) {
				emit(TokDotSource, i, ".", nil)
				i++
				continue
			}
		case r == '-' && i+1 < len(rs) && isIdentStart(rs[i+1]) && (space || len(toks) == 0 || !prevEndsValue()):
			j := i + 1
			for j < len(rs) && (isIdentRune(rs[j]) || rs[j] == '-') {
				j++
			}
			name := string(rs[i+1 : j])
			text := string(rs[i:j])
			if j < len(rs) && rs[j] == ':' {
				j++
				text += ":"
			}
			emit(TokParam, i, text, name)
			i = j
			continue
		case unicode.IsDigit(r) || (r == '-' && i+1 < len(rs) && unicode.IsDigit(rs[i+1]) && space):
			j := i
			if rs[j] == '-' {
				j++
			}
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
			isFloat := false
			if j+1 < len(rs) && rs[j] == '.' && unicode.IsDigit(rs[j+1]) {
				isFloat = true
				j++
				for j < len(rs) && unicode.IsDigit(rs[j]) {
					j++
				}
			}
			if j >= len(rs) || !isWordRune(rs[j]) {
				text := string(rs[i:j])
				var v any
				if isFloat {
					f, err := strconv.ParseFloat(text, 64)
					if err != nil {
						return nil, &ParseError{Pos: offs[i], Message: fmt.Sprintf("The number %s is not valid.", text), ErrorID: "BadNumericConstant"}
					}
					v = f
				} else {
					n, err := strconv.ParseInt(text, 10, 64)
					if err != nil {
						return nil, &ParseError{Pos: offs[i], Message: fmt.Sprintf("The number %s is out of range.", text), ErrorID: "BadNumericConstant"}
					}
					v = n
				}
				emit(TokNumber, i, text, v)
				i = j
				continue
			}
		}
		// A bareword: command names (Get-Queue), arguments (EX01, Microsoft.Exchange...SnapIn), keywords.
		if !isWordRune(r) {
			return nil, &ParseError{Pos: offs[i], Message: fmt.Sprintf("Unexpected token '%c' in expression or statement.", r), ErrorID: "UnexpectedToken"}
		}
		j := i
		for j < len(rs) && isWordRune(rs[j]) {
			j++
		}
		emit(TokWord, i, string(rs[i:j]), string(rs[i:j]))
		i = j
	}
	toks = append(toks, Token{Kind: TokEOF, Pos: len(src), Space: true})
	return toks, nil
}

// backtickEscape is the character `c stands for inside double quotes in Windows PowerShell 5.1.
func backtickEscape(c rune) rune {
	switch c {
	case '0':
		return 0
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	}
	return c // `$, `", ``, and any other character stands for itself
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentRune(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// isWordRune is what a bareword may contain: anything but whitespace, quotes and PowerShell's delimiters.
func isWordRune(r rune) bool {
	if unicode.IsSpace(r) || isSingleQuote(r) || isDoubleQuote(r) {
		return false
	}
	switch r {
	case '(', ')', '{', '}', '[', ']', ',', ';', '|', '=', '$', '@', '#', '&', '`', '!':
		return false
	}
	return true
}

func punctuation(r rune) TokenKind {
	switch r {
	case '(':
		return TokLParen
	case ')':
		return TokRParen
	case '{':
		return TokLBrace
	case '}':
		return TokRBrace
	case '[':
		return TokLBracket
	case ']':
		return TokRBracket
	case ',':
		return TokComma
	case ';':
		return TokSemi
	case '|':
		return TokPipe
	case '=':
		return TokAssign
	case '!':
		return TokBang
	}
	return TokAmp
}
