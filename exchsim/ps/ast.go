package ps

// The AST of the dialect. Nodes are evaluated by eval.go.
type (
	node any

	scriptNode struct{ stmts []node }

	pipelineNode struct {
		elems []node // the first may be an expression; the rest are commandNodes
	}

	commandNode struct {
		name   string
		callee node // & <expression>: a script block (or a command name) computed at run time; name is ""

		args []argNode
		pos  int
		text string // the source text of the command, for error positions
	}

	argNode struct {
		param    string // "" for a positional value
		colon    bool   // -Name:value
		value    node   // nil for a switch
		splatArr bool
	}

	assignNode struct {
		name  string
		value node
	}

	ifNode struct {
		conds  []node
		blocks []*scriptNode
		els    *scriptNode
	}

	exitNode struct{ code node }

	// flowNode is break or continue without a label.
	flowNode struct{ keyword string }

	binaryNode struct {
		op          string // lower-case operator name without '-': eq, ne, and, or, ...
		left, right node
	}

	unaryNode struct {
		op string // not, neg
		x  node
	}

	arrayNode struct{ elems []node } // a, b, c

	literalNode struct{ v any }

	varNode struct{ name string }

	memberNode struct {
		x      node
		name   string
		static bool // [Type]::Name
	}

	callNode struct {
		x      node
		name   string
		args   []node
		static bool // [Type]::Name(...)
	}

	// typeNode is a type literal before '::' ([Console]::Out).
	typeNode struct{ name string }

	// memberAssignNode is `x.Name = value` ([Thread]::CurrentThread.CurrentCulture = 'en-US').
	memberAssignNode struct {
		target *memberNode
		value  node
	}

	functionNode struct {
		name   string
		params []paramNode
		body   *scriptNode
	}

	paramNode struct {
		name string // without $
		typ  string // a castType name, "" for untyped
	}

	tryNode struct {
		body, catch, finally *scriptNode // catch or finally may be nil, not both
	}

	foreachNode struct {
		variable string
		in       node
		body     *scriptNode
	}

	whileNode struct {
		cond node
		body *scriptNode
	}

	indexNode struct{ x, index node }

	subexprNode struct {
		body  *scriptNode
		array bool // @( ) always yields an array; $( ) unwraps a single value
	}

	parenNode struct{ p node } // ( pipeline )

	hashNode struct {
		keys   []string
		values []node
	}

	blockNode struct{ body *scriptNode }

	castNode struct {
		typ string
		x   node
	}

	dotSourceNode struct{ target node }
)
