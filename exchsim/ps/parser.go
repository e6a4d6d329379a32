package ps

import (
	"fmt"
	"strings"
)

// Parse parses a script of the dialect (docs/powershell-dialect.md).
func Parse(src string) (*scriptNode, error) {
	toks, err := Lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: src}
	s, err := p.script(TokEOF)
	if err != nil {
		return nil, err
	}
	if p.peek().Kind != TokEOF {
		return nil, p.unexpected()
	}
	return s, nil
}

type parser struct {
	toks  []Token
	i     int
	src   string
	depth int
	// noComma > 0 while parsing a method's arguments, where a comma separates arguments rather than
	// building an array; a parenthesised expression inside resets it.
	noComma int
}

func (p *parser) peek() Token { return p.toks[p.i] }
func (p *parser) next() Token {
	t := p.toks[p.i]
	if t.Kind != TokEOF {
		p.i++
	}
	return t
}

func (p *parser) unexpected() error {
	t := p.peek()
	if t.Kind == TokEOF {
		return &ParseError{Pos: t.Pos, Message: "Unexpected end of input: the statement is incomplete.", ErrorID: "IncompleteParseException"}
	}
	return &ParseError{Pos: t.Pos, Message: fmt.Sprintf("Unexpected token '%s' in expression or statement.", t.Text), ErrorID: "UnexpectedToken"}
}

func (p *parser) expect(k TokenKind, what string) (Token, error) {
	t := p.peek()
	if t.Kind != k {
		if t.Kind == TokEOF {
			return t, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("Missing %s.", what), ErrorID: "MissingEndParenthesisOrBrace"}
		}
		return t, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("Missing %s; found '%s'.", what, t.Text), ErrorID: "MissingEndParenthesisOrBrace"}
	}
	return p.next(), nil
}

func (p *parser) skipNewlines() {
	for p.peek().Kind == TokNewline {
		p.next()
	}
}

// script parses statements until end (TokEOF, TokRBrace or TokRParen), not consuming it.
func (p *parser) script(end TokenKind) (*scriptNode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return nil, &ParseError{Pos: p.peek().Pos, Message: "The script is nested too deeply.", ErrorID: "ScriptTooComplicated"}
	}
	s := &scriptNode{}
	for {
		for k := p.peek().Kind; k == TokNewline || k == TokSemi; k = p.peek().Kind {
			p.next()
		}
		k := p.peek().Kind
		if k == end || k == TokEOF || k == TokRBrace || k == TokRParen {
			if k != end {
				if end == TokEOF {
					return nil, p.unexpected()
				}
				if k == TokEOF {
					msg := "Missing closing '}' in statement block or type definition."
					if end == TokRParen {
						msg = "Missing closing ')' in expression."
					}
					return nil, &ParseError{Pos: p.peek().Pos, Message: msg, ErrorID: "MissingEndCurlyBrace"}
				}
				return nil, p.unexpected()
			}
			return s, nil
		}
		st, err := p.statement()
		if err != nil {
			return nil, err
		}
		s.stmts = append(s.stmts, st)
		switch p.peek().Kind {
		case TokNewline, TokSemi, TokEOF, TokRBrace, TokRParen:
		default:
			return nil, p.unexpected()
		}
	}
}

func (p *parser) statement() (node, error) {
	t := p.peek()
	if t.Kind == TokWord {
		switch strings.ToLower(t.Text) {
		case "if":
			return p.ifStatement()
		case "exit":
			p.next()
			switch p.peek().Kind {
			case TokNewline, TokSemi, TokEOF, TokRBrace:
				return &exitNode{}, nil
			}
			e, err := p.expression()
			if err != nil {
				return nil, err
			}
			return &exitNode{code: e}, nil
		case "break", "continue":
			p.next()
			switch p.peek().Kind {
			case TokNewline, TokSemi, TokEOF, TokRBrace:
				return &flowNode{keyword: strings.ToLower(t.Text)}, nil
			}
			return nil, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("A label after '%s' is not part of the dialect exchsim models (docs/powershell-dialect.md).", t.Text), ErrorID: "ExchsimUnsupportedStatement"}
		case "function":
			return p.functionStatement()
		case "foreach":
			return p.foreachStatement()
		case "while":
			return p.whileStatement()
		case "try":
			return p.tryStatement()
		case "for", "do", "switch", "trap", "param", "begin", "process", "return", "throw":
			return nil, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("The '%s' statement is not part of the dialect exchsim models (docs/powershell-dialect.md).", t.Text), ErrorID: "ExchsimUnsupportedStatement"}
		}
	}
	if t.Kind == TokLBracket || (t.Kind == TokVariable && p.toks[p.i+1].Kind == TokDot) {
		// x.Name = value: parsed as an expression first, kept only if '=' follows
		save, saveNoComma := p.i, p.noComma
		x, err := p.postfix()
		if err == nil && p.peek().Kind == TokAssign {
			m, ok := x.(*memberNode)
			if !ok {
				return nil, &ParseError{Pos: t.Pos, Message: "The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.", ErrorID: "InvalidLeftHandSide"}
			}
			p.next()
			p.skipNewlines()
			v, err := p.pipeline()
			if err != nil {
				return nil, err
			}
			return &memberAssignNode{target: m, value: v}, nil
		}
		p.i, p.noComma = save, saveNoComma
	}
	if t.Kind == TokVariable && p.toks[p.i+1].Kind == TokAssign {
		p.next()
		p.next()
		p.skipNewlines()
		v, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		return &assignNode{name: t.Value.(string), value: v}, nil
	}
	if t.Kind == TokDotSource {
		p.next()
		target, err := p.primary()
		if err != nil {
			return nil, err
		}
		return &dotSourceNode{target: target}, nil
	}
	return p.pipeline()
}

func (p *parser) ifStatement() (node, error) {
	n := &ifNode{}
	p.next() // if
	for {
		if _, err := p.expect(TokLParen, "'(' after 'if'"); err != nil {
			return nil, err
		}
		p.skipNewlines()
		cond, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		p.skipNewlines()
		if _, err := p.expect(TokRParen, "closing ')' after if condition"); err != nil {
			return nil, err
		}
		p.skipNewlines()
		block, err := p.block()
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, cond)
		n.blocks = append(n.blocks, block)
		// elseif / else may follow on the next line
		save := p.i
		p.skipNewlines()
		t := p.peek()
		if t.Kind == TokWord && strings.EqualFold(t.Text, "elseif") {
			p.next()
			continue
		}
		if t.Kind == TokWord && strings.EqualFold(t.Text, "else") {
			p.next()
			p.skipNewlines()
			els, err := p.block()
			if err != nil {
				return nil, err
			}
			n.els = els
			return n, nil
		}
		p.i = save
		return n, nil
	}
}

// functionStatement parses `function Name(params) { body }` or `function Name { body }`.
func (p *parser) functionStatement() (node, error) {
	kw := p.next()
	name := p.next()
	if name.Kind != TokWord {
		return nil, &ParseError{Pos: kw.Pos, Message: "Missing name after function keyword.", ErrorID: "MissingNameAfterKeyword"}
	}
	fn := &functionNode{name: name.Value.(string)}
	if p.peek().Kind == TokLParen {
		p.next()
		params, err := p.paramList()
		if err != nil {
			return nil, err
		}
		fn.params = params
	}
	p.skipNewlines()
	body, err := p.block()
	if err != nil {
		return nil, err
	}
	fn.body = body
	return fn, nil
}

// paramList parses a function's `([type]$a, $b)` after its '(' up to and including ')'.
func (p *parser) paramList() ([]paramNode, error) {
	var params []paramNode
	for {
		p.skipNewlines()
		if p.peek().Kind == TokRParen && len(params) == 0 {
			p.next()
			return params, nil
		}
		var pn paramNode
		if t := p.peek(); t.Kind == TokLBracket {
			p.next()
			name, err := p.typeName()
			if err != nil {
				return nil, err
			}
			typ, ok := castType(strings.ToLower(name))
			if !ok {
				return nil, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("Unable to find type [%s] (exchsim models [string], [int], [long], [bool], [datetime], [double]).", name), ErrorID: "TypeNotFound"}
			}
			pn.typ = typ
		}
		v, err := p.expect(TokVariable, "a parameter variable")
		if err != nil {
			return nil, err
		}
		pn.name = v.Value.(string)
		if p.peek().Kind == TokAssign {
			return nil, &ParseError{Pos: p.peek().Pos, Message: "A parameter's default value is not part of the dialect exchsim models (docs/powershell-dialect.md).", ErrorID: "ExchsimUnsupportedStatement"}
		}
		params = append(params, pn)
		p.skipNewlines()
		if p.peek().Kind == TokComma {
			p.next()
			continue
		}
		if _, err := p.expect(TokRParen, "')' in function parameter list"); err != nil {
			return nil, err
		}
		return params, nil
	}
}

// foreachStatement parses `foreach ($x in <pipeline>) { body }`.
func (p *parser) foreachStatement() (node, error) {
	kw := p.next()
	if p.peek().Kind != TokLParen {
		return nil, &ParseError{Pos: kw.Pos, Message: "Missing opening '(' after keyword 'foreach'.", ErrorID: "MissingOpenParenthesisAfterKeyword"}
	}
	p.next()
	p.skipNewlines()
	v, err := p.expect(TokVariable, "variable name after 'foreach ('")
	if err != nil {
		return nil, err
	}
	p.skipNewlines()
	if in := p.next(); in.Kind != TokWord || !strings.EqualFold(in.Text, "in") {
		return nil, &ParseError{Pos: in.Pos, Message: "Missing 'in' after variable in foreach loop.", ErrorID: "MissingInInForeach"}
	}
	p.skipNewlines()
	coll, err := p.pipeline()
	if err != nil {
		return nil, err
	}
	p.skipNewlines()
	if _, err := p.expect(TokRParen, "closing ')' after expression in 'foreach' statement"); err != nil {
		return nil, err
	}
	p.skipNewlines()
	body, err := p.block()
	if err != nil {
		return nil, err
	}
	return &foreachNode{variable: v.Value.(string), in: coll, body: body}, nil
}

// whileStatement parses `while (<pipeline>) { body }`.
func (p *parser) whileStatement() (node, error) {
	kw := p.next()
	if p.peek().Kind != TokLParen {
		return nil, &ParseError{Pos: kw.Pos, Message: "Missing opening '(' after keyword 'while'.", ErrorID: "MissingOpenParenthesisAfterKeyword"}
	}
	p.next()
	p.skipNewlines()
	cond, err := p.pipeline()
	if err != nil {
		return nil, err
	}
	p.skipNewlines()
	if _, err := p.expect(TokRParen, "closing ')' after expression in 'while' statement"); err != nil {
		return nil, err
	}
	p.skipNewlines()
	body, err := p.block()
	if err != nil {
		return nil, err
	}
	return &whileNode{cond: cond, body: body}, nil
}

// tryStatement parses `try { } catch { } finally { }` (an untyped catch; catch or finally may be left out).
func (p *parser) tryStatement() (node, error) {
	kw := p.next()
	p.skipNewlines()
	body, err := p.block()
	if err != nil {
		return nil, err
	}
	n := &tryNode{body: body}
	save := p.i
	p.skipNewlines()
	if t := p.peek(); t.Kind == TokWord && strings.EqualFold(t.Text, "catch") {
		p.next()
		p.skipNewlines()
		if p.peek().Kind == TokLBracket {
			return nil, &ParseError{Pos: p.peek().Pos, Message: "A catch of a given exception type is not part of the dialect exchsim models (docs/powershell-dialect.md).", ErrorID: "ExchsimUnsupportedStatement"}
		}
		if n.catch, err = p.block(); err != nil {
			return nil, err
		}
		save = p.i
		p.skipNewlines()
	}
	if t := p.peek(); t.Kind == TokWord && strings.EqualFold(t.Text, "finally") {
		p.next()
		p.skipNewlines()
		if n.finally, err = p.block(); err != nil {
			return nil, err
		}
	} else {
		p.i = save
	}
	if n.catch == nil && n.finally == nil {
		return nil, &ParseError{Pos: kw.Pos, Message: "The Try statement is missing its Catch or Finally block.", ErrorID: "MissingCatchOrFinally"}
	}
	return n, nil
}

func (p *parser) block() (*scriptNode, error) {
	if _, err := p.expect(TokLBrace, "statement block '{'"); err != nil {
		return nil, err
	}
	s, err := p.script(TokRBrace)
	if err != nil {
		return nil, err
	}
	p.next() // }
	return s, nil
}

// pipeline parses `first | cmd | cmd`.
func (p *parser) pipeline() (node, error) {
	pl := &pipelineNode{}
	first, err := p.pipelineElement(true)
	if err != nil {
		return nil, err
	}
	pl.elems = append(pl.elems, first)
	for p.peek().Kind == TokPipe {
		p.next()
		p.skipNewlines()
		c, err := p.pipelineElement(false)
		if err != nil {
			return nil, err
		}
		if _, ok := c.(*commandNode); !ok {
			return nil, &ParseError{Pos: p.peek().Pos, Message: "Expressions are only allowed as the first element of a pipeline.", ErrorID: "ExpressionsMustBeFirstInPipeline"}
		}
		pl.elems = append(pl.elems, c)
	}
	return pl, nil
}

func (p *parser) pipelineElement(first bool) (node, error) {
	t := p.peek()
	switch t.Kind {
	case TokWord:
		return p.command()
	case TokAmp:
		p.next()
		switch p.peek().Kind {
		case TokLParen, TokVariable, TokLBrace: // & (expr), & $sb, & { }: what to run is a value
			callee, err := p.postfix()
			if err != nil {
				return nil, err
			}
			return p.commandArgs(&commandNode{callee: callee, pos: t.Pos}, t.Pos)
		}
		return p.command()
	case TokPipe, TokEOF, TokNewline, TokSemi:
		return nil, &ParseError{Pos: t.Pos, Message: "An empty pipe element is not allowed.", ErrorID: "EmptyPipeElement"}
	}
	if !first {
		return nil, p.unexpected()
	}
	return p.expression()
}

func (p *parser) command() (node, error) {
	t := p.next()
	var name string
	switch t.Kind {
	case TokWord, TokString:
		name, _ = t.Value.(string)
	default:
		return nil, p.unexpected()
	}
	return p.commandArgs(&commandNode{name: name, pos: t.Pos}, t.Pos)
}

// commandArgs parses a command's arguments up to the end of its pipeline element; start is where the
// command's text begins.
func (p *parser) commandArgs(c *commandNode, start int) (node, error) {
	for {
		a := p.peek()
		switch a.Kind {
		case TokPipe, TokNewline, TokSemi, TokEOF, TokRParen, TokRBrace:
			c.text = strings.TrimSpace(p.src[start:a.Pos])
			return c, nil
		case TokParam:
			p.next()
			arg := argNode{param: a.Value.(string), colon: strings.HasSuffix(a.Text, ":")}
			if arg.colon {
				v, err := p.argumentValue()
				if err != nil {
					return nil, err
				}
				arg.value = v
			} else if k := p.peek().Kind; k != TokParam && k != TokPipe && k != TokNewline && k != TokSemi && k != TokEOF && k != TokRParen && k != TokRBrace {
				// -Name value: the binder decides later whether Name is a switch (then value is positional)
				v, err := p.argumentValue()
				if err != nil {
					return nil, err
				}
				arg.value = v
				arg.splatArr = true // marks "value may belong to a switch"
			}
			c.args = append(c.args, arg)
		default:
			v, err := p.argumentValue()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, argNode{value: v})
		}
	}
}

// argumentValue parses one command argument: a bareword is a string; comma lists build arrays.
func (p *parser) argumentValue() (node, error) { return p.commaSeparated(p.argumentPrimary) }

// commaSeparated parses elem, or a comma list of them as an array.
func (p *parser) commaSeparated(elem func() (node, error)) (node, error) {
	first, err := elem()
	if err != nil {
		return nil, err
	}
	if p.peek().Kind != TokComma || p.noComma > 0 {
		return first, nil
	}
	arr := &arrayNode{elems: []node{first}}
	for p.peek().Kind == TokComma {
		p.next()
		p.skipNewlines()
		v, err := elem()
		if err != nil {
			return nil, err
		}
		arr.elems = append(arr.elems, v)
	}
	return arr, nil
}

func (p *parser) argumentPrimary() (node, error) {
	t := p.peek()
	if t.Kind == TokWord {
		p.next()
		return &literalNode{v: t.Value.(string)}, nil
	}
	return p.postfix()
}

// Expressions, lowest precedence first: -and/-or, comparisons, comma, unary, postfix.
func (p *parser) expression() (node, error) {
	left, err := p.comparison()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.Kind != TokParam {
			return left, nil
		}
		op := strings.ToLower(t.Value.(string))
		if op != "and" && op != "or" && op != "xor" {
			return left, nil
		}
		p.next()
		p.skipNewlines()
		right, err := p.comparison()
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: op, left: left, right: right}
	}
}

func isComparisonOp(op string) bool {
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch", "contains", "notcontains",
		"in", "notin", "ieq", "ine", "ilike", "imatch", "ceq", "cne", "clike", "join":
		return true
	}
	return false
}

func (p *parser) comparison() (node, error) {
	left, err := p.additive()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.Kind != TokParam {
			return left, nil
		}
		op := strings.ToLower(t.Value.(string))
		if !isComparisonOp(op) {
			if op == "and" || op == "or" || op == "xor" {
				return left, nil
			}
			return nil, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("Unexpected token '%s' in expression or statement.", t.Text), ErrorID: "UnexpectedToken"}
		}
		p.next()
		p.skipNewlines()
		right, err := p.additive()
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: op, left: left, right: right}
	}
}

// additive parses `a + b`: the comma binds tighter (about_Operator_Precedence).
func (p *parser) additive() (node, error) {
	left, err := p.commaList()
	if err != nil {
		return nil, err
	}
	for p.peek().Kind == TokPlus {
		p.next()
		p.skipNewlines()
		right, err := p.commaList()
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: "add", left: left, right: right}
	}
	return left, nil
}

func (p *parser) commaList() (node, error) { return p.commaSeparated(p.unary) }

func (p *parser) unary() (node, error) {
	t := p.peek()
	if t.Kind == TokBang || (t.Kind == TokParam && strings.EqualFold(t.Value.(string), "not")) {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: "not", x: x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case (t.Kind == TokDot || t.Kind == TokColonColon) && !t.Space:
			p.next()
			static := t.Kind == TokColonColon
			if _, isType := x.(*typeNode); isType != static {
				if static {
					return nil, &ParseError{Pos: t.Pos, Message: "Unexpected token '::' in expression or statement.", ErrorID: "UnexpectedToken"}
				}
				return nil, &ParseError{Pos: t.Pos, Message: "A type's members are reached with '::'.", ErrorID: "UnexpectedToken"}
			}
			m, err := p.expect(TokWord, "member name after '"+t.Text+"'")
			if err != nil {
				return nil, err
			}
			name := m.Value.(string)
			if lp := p.peek(); lp.Kind == TokLParen && !lp.Space {
				p.next()
				args, err := p.methodArgs()
				if err != nil {
					return nil, err
				}
				x = &callNode{x: x, name: name, args: args, static: static}
				continue
			}
			x = &memberNode{x: x, name: name, static: static}
		case t.Kind == TokLBracket && !t.Space:
			p.next()
			idx, err := p.expression()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(TokRBracket, "closing ']'"); err != nil {
				return nil, err
			}
			x = &indexNode{x: x, index: idx}
		default:
			return x, nil
		}
	}
}

// methodArgs parses a method call's arguments after its '(' up to and including ')': each one an
// expression, separated by commas.
func (p *parser) methodArgs() ([]node, error) {
	p.noComma++
	defer func() { p.noComma-- }()
	var args []node
	p.skipNewlines()
	if p.peek().Kind != TokRParen {
		for {
			a, err := p.expression()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			p.skipNewlines()
			if p.peek().Kind != TokComma {
				break
			}
			p.next()
			p.skipNewlines()
		}
	}
	if _, err := p.expect(TokRParen, "closing ')' in method call"); err != nil {
		return nil, err
	}
	return args, nil
}

// typeName reads a type name after '[' up to and including ']'.
func (p *parser) typeName() (string, error) {
	var name strings.Builder
	for p.peek().Kind != TokRBracket {
		n := p.next()
		if n.Kind == TokEOF || n.Kind == TokNewline {
			return "", &ParseError{Pos: n.Pos, Message: "Missing ] at end of type token.", ErrorID: "EndSquareBracketExpectedAtEndOfType"}
		}
		name.WriteString(n.Text)
	}
	p.next()
	return name.String(), nil
}

func castType(name string) (string, bool) {
	switch name {
	case "string", "system.string":
		return "string", true
	case "int", "int32", "system.int32":
		return "int", true
	case "long", "int64", "system.int64":
		return "long", true
	case "bool", "system.boolean":
		return "bool", true
	case "datetime", "system.datetime":
		return "datetime", true
	case "double", "system.double":
		return "double", true
	case "array", "object[]":
		return "array", true
	}
	return "", false
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.Kind {
	case TokLParen, TokAtParen, TokDollarParen, TokAtBrace, TokLBrace:
		// commas inside a nested expression build arrays again, even among a method's arguments
		saved := p.noComma
		p.noComma = 0
		defer func() { p.noComma = saved }()
	}
	switch t.Kind {
	case TokString, TokNumber:
		return &literalNode{v: t.Value}, nil
	case TokVariable:
		return &varNode{name: t.Value.(string)}, nil
	case TokLParen:
		p.skipNewlines()
		inner, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		p.skipNewlines()
		if _, err := p.expect(TokRParen, "closing ')' in expression"); err != nil {
			return nil, err
		}
		return &parenNode{p: inner}, nil
	case TokAtParen, TokDollarParen:
		body, err := p.script(TokRParen)
		if err != nil {
			return nil, err
		}
		p.next()
		return &subexprNode{body: body, array: t.Kind == TokAtParen}, nil
	case TokAtBrace:
		h := &hashNode{}
		for {
			for k := p.peek().Kind; k == TokNewline || k == TokSemi; k = p.peek().Kind {
				p.next()
			}
			if p.peek().Kind == TokRBrace {
				p.next()
				return h, nil
			}
			k := p.next()
			var key string
			switch k.Kind {
			case TokWord, TokString:
				key = k.Value.(string)
			default:
				return nil, &ParseError{Pos: k.Pos, Message: "Missing key before '=' in hash literal.", ErrorID: "MissingEqualsInHashLiteral"}
			}
			if _, err := p.expect(TokAssign, "'=' operator after key in hash literal"); err != nil {
				return nil, err
			}
			p.skipNewlines()
			v, err := p.statement()
			if err != nil {
				return nil, err
			}
			h.keys = append(h.keys, key)
			h.values = append(h.values, v)
			switch p.peek().Kind {
			case TokNewline, TokSemi, TokRBrace:
			default:
				return nil, p.unexpected()
			}
		}
	case TokLBrace:
		body, err := p.script(TokRBrace)
		if err != nil {
			return nil, err
		}
		p.next()
		return &blockNode{body: body}, nil
	case TokLBracket:
		name, err := p.typeName()
		if err != nil {
			return nil, err
		}
		if p.peek().Kind == TokColonColon {
			return &typeNode{name: name}, nil // which types exist is decided when the member is reached
		}
		if strings.EqualFold(name, "ordered") { // exchsim's hash literals keep their order anyway
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			if _, ok := x.(*hashNode); !ok {
				return nil, &ParseError{Pos: t.Pos, Message: "The ordered attribute can be specified only on a hash literal node.", ErrorID: "OrderedAttributeOnlyOnHashLiteralNode"}
			}
			return x, nil
		}
		typ, ok := castType(strings.ToLower(name))
		if !ok {
			return nil, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("Unable to find type [%s] (exchsim models [string], [int], [long], [bool], [datetime], [double]).", name), ErrorID: "TypeNotFound"}
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &castNode{typ: typ, x: x}, nil
	case TokParam:
		// a negative number written as -<word> never reaches here; this is a stray operator
		return nil, &ParseError{Pos: t.Pos, Message: fmt.Sprintf("You must provide a value expression following the '%s' operator.", t.Text), ErrorID: "ExpectedValueExpression"}
	}
	p.i--
	return nil, p.unexpected()
}
