package psrp

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Encode writes v as one CLIXML element, the data of a message. Objects get RefIds in order and repeated
// type-name lists become <TNRef>, as PowerShell's serialiser writes them. Values of other Go types are an
// error.
func Encode(v any) ([]byte, error) {
	e := &encoder{types: map[string]int{}}
	if err := e.value("", v, 0); err != nil {
		return nil, err
	}
	return []byte(e.b.String()), nil
}

// EncodeObjs writes an Export-Clixml document: <Objs> holding each value.
func EncodeObjs(vs ...any) ([]byte, error) {
	e := &encoder{types: map[string]int{}}
	e.b.WriteString(`<Objs Version="1.1.0.1" xmlns="` + Namespace + `">`)
	for _, v := range vs {
		if err := e.value("", v, 0); err != nil {
			return nil, err
		}
	}
	e.b.WriteString(`</Objs>`)
	return []byte(e.b.String()), nil
}

type encoder struct {
	b      strings.Builder
	refs   int
	seen   map[*Object]int
	types  map[string]int
	nTypes int
}

func (e *encoder) prim(elem, name, content string) {
	e.b.WriteString("<" + elem)
	if name != "" {
		e.b.WriteString(` N="` + escapeAttr(name) + `"`)
	}
	e.b.WriteString(">" + content + "</" + elem + ">")
}

func (e *encoder) value(name string, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("clixml: nesting deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		if name == "" {
			e.b.WriteString("<Nil />")
		} else {
			e.b.WriteString(`<Nil N="` + escapeAttr(name) + `" />`)
		}
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("clixml: string %q is not valid UTF-8", x)
		}
		e.prim("S", name, Escape(x))
	case bool:
		e.prim("B", name, strconv.FormatBool(x))
	case int8:
		e.prim("SB", name, strconv.FormatInt(int64(x), 10))
	case int16:
		e.prim("I16", name, strconv.FormatInt(int64(x), 10))
	case int32:
		e.prim("I32", name, strconv.FormatInt(int64(x), 10))
	case int:
		e.prim("I32", name, strconv.Itoa(x))
	case int64:
		e.prim("I64", name, strconv.FormatInt(x, 10))
	case uint8:
		e.prim("By", name, strconv.FormatUint(uint64(x), 10))
	case uint16:
		e.prim("U16", name, strconv.FormatUint(uint64(x), 10))
	case uint32:
		e.prim("U32", name, strconv.FormatUint(uint64(x), 10))
	case uint64:
		e.prim("U64", name, strconv.FormatUint(x, 10))
	case float32:
		e.prim("Sg", name, formatFloat(float64(x), 32))
	case float64:
		e.prim("Db", name, formatFloat(x, 64))
	case Decimal:
		e.prim("D", name, string(x))
	case Char:
		e.prim("C", name, strconv.FormatUint(uint64(x), 10))
	case []byte:
		e.prim("BA", name, base64.StdEncoding.EncodeToString(x))
	case GUID:
		e.prim("G", name, x.String())
	case time.Time:
		e.prim("DT", name, x.Format("2006-01-02T15:04:05.9999999Z07:00"))
	case time.Duration:
		e.prim("TS", name, FormatDuration(x))
	case Version:
		e.prim("Version", name, Escape(string(x)))
	case URI:
		e.prim("URI", name, Escape(string(x)))
	case XMLDocument:
		e.prim("XD", name, Escape(string(x)))
	case ScriptBlock:
		e.prim("SBK", name, Escape(string(x)))
	case SecureString:
		e.prim("SS", name, string(x))
	case *Object:
		return e.object(name, x, depth)
	default:
		return fmt.Errorf("clixml: cannot encode a %T", v)
	}
	return nil
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "INF"
	case math.IsInf(f, -1):
		return "-INF"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'G', -1, bits)
}

func (e *encoder) object(name string, o *Object, depth int) error {
	if o == nil {
		return e.value(name, nil, depth)
	}
	nameAttr := ""
	if name != "" {
		nameAttr = ` N="` + escapeAttr(name) + `"`
	}
	if id, ok := e.seen[o]; ok { // the same object again: a reference, as PowerShell writes it
		e.b.WriteString("<Ref" + nameAttr + ` RefId="` + strconv.Itoa(id) + `" />`)
		return nil
	}
	if e.seen == nil {
		e.seen = map[*Object]int{}
	}
	e.seen[o] = e.refs
	e.b.WriteString("<Obj" + nameAttr + ` RefId="` + strconv.Itoa(e.refs) + `">`)
	e.refs++
	if len(o.TypeNames) > 0 {
		key := strings.Join(o.TypeNames, "\x00")
		if id, ok := e.types[key]; ok {
			e.b.WriteString(`<TNRef RefId="` + strconv.Itoa(id) + `" />`)
		} else {
			e.types[key] = e.nTypes
			e.b.WriteString(`<TN RefId="` + strconv.Itoa(e.nTypes) + `">`)
			e.nTypes++
			for _, t := range o.TypeNames {
				e.b.WriteString("<T>" + Escape(t) + "</T>")
			}
			e.b.WriteString("</TN>")
		}
	}
	if o.HasToString {
		e.b.WriteString("<ToString>" + Escape(o.ToString) + "</ToString>")
	}
	if o.Value != nil {
		if err := e.value("", o.Value, depth+1); err != nil {
			return err
		}
	}
	if err := e.props("Props", o.Props, depth); err != nil {
		return err
	}
	if o.ListKind != "" {
		switch o.ListKind {
		case ListLST, ListIE, ListSTK, ListQUE:
		default:
			return fmt.Errorf("clixml: unknown collection kind %q", o.ListKind)
		}
		if len(o.List) == 0 {
			e.b.WriteString("<" + o.ListKind + " />")
		} else {
			e.b.WriteString("<" + o.ListKind + ">")
			for _, it := range o.List {
				if err := e.value("", it, depth+1); err != nil {
					return err
				}
			}
			e.b.WriteString("</" + o.ListKind + ">")
		}
	}
	if o.IsDict && len(o.Dict) == 0 {
		e.b.WriteString("<DCT />")
	} else if o.IsDict {
		e.b.WriteString("<DCT>")
		for _, en := range o.Dict {
			e.b.WriteString("<En>")
			if err := e.value("Key", en.Key, depth+1); err != nil {
				return err
			}
			if err := e.value("Value", en.Value, depth+1); err != nil {
				return err
			}
			e.b.WriteString("</En>")
		}
		e.b.WriteString("</DCT>")
	}
	if err := e.props("MS", o.Members, depth); err != nil {
		return err
	}
	e.b.WriteString("</Obj>")
	return nil
}

func (e *encoder) props(elem string, ps []Property, depth int) error {
	if len(ps) == 0 {
		return nil
	}
	e.b.WriteString("<" + elem + ">")
	for _, p := range ps {
		if err := e.value(p.Name, p.Value, depth+1); err != nil {
			return err
		}
	}
	e.b.WriteString("</" + elem + ">")
	return nil
}

// escapeAttr escapes a name for an attribute value: Escape, and the quote that delimits it.
func escapeAttr(s string) string { return strings.ReplaceAll(Escape(s), `"`, "&quot;") }

// Escape encodes element text for CLIXML (MS-PSRP 2.2.5.3.2): XML's own entities (& < >), and as _xHHHH_ every character
// XML cannot carry or that is not printable (control characters, CR and LF included, surrogates), and an
// underscore that would otherwise start an escape.
func Escape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X'):
			b.WriteString("_x005F_")
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r < 0x20 || (r >= 0x7F && r <= 0x9F) || r == 0xFFFE || r == 0xFFFF:
			fmt.Fprintf(&b, "_x%04X_", r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, "_x%04X__x%04X_", r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
