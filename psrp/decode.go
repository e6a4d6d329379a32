package psrp

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Namespace is the CLIXML namespace (MS-PSRP 2.2.5).
const Namespace = "http://schemas.microsoft.com/powershell/2004/04"

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack; the helpers that follow values
// (Text, Int) stop at it too.
const maxDepth = 128

// Budget bounds what decoding may build from one operation's replies, across all the documents decoded
// with it: a hostile or broken server could otherwise make a few MiB of CLIXML into GiB of values (a list
// of empty <Obj/> costs ≈ 35 times its size once decoded). The zero Budget allows nothing; DefaultBudget
// is sized in BENCHMARKS.md against the largest reply exmaintd reads.
type Budget struct {
	MaxValues int // values decoded: objects, primitives, nulls and references
	MaxBytes  int // CLIXML bytes decoded
	values    int
	bytes     int
}

// DefaultBudget is one operation's budget: about 2.5 times the values and 3 times the bytes of the largest
// reply exmaintd needs — an organisation's Get-MailboxDatabaseCopyStatus for a DAG of 16 servers with 100
// databases, serialised in full (409,600 values, 41.5 MiB; BenchmarkDecodeCopyStatusDAG16 in BENCHMARKS.md).
// At the limit a server can make one operation hold ≈ 200 MiB (BenchmarkDecodeAtBudget).
func DefaultBudget() *Budget { return &Budget{MaxValues: 1_000_000, MaxBytes: 128 << 20} }

// Used reports what has been charged so far.
func (b *Budget) Used() (values, bytes int) { return b.values, b.bytes }

// BudgetError is the error of a decode that would go over its Budget.
type BudgetError struct {
	What  string // "values" or "bytes"
	Limit int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("clixml: the reply is over the %d %s one operation may decode", e.Limit, e.What)
}

// Decode reads one serialised value (a message's data: one root element such as <Obj>) or, for an
// Export-Clixml document, the root <Objs> with its items returned as a list object. It decodes within a
// DefaultBudget of its own.
func Decode(data []byte) (any, error) { return DecodeWithin(data, DefaultBudget()) }

// DecodeWithin is Decode charging what it builds to b, which the caller shares among the documents of
// one operation. A <Ref> may name only an object already complete, so decoded values have no cycles.
func DecodeWithin(data []byte, b *Budget) (any, error) {
	if b.bytes += len(data); b.bytes > b.MaxBytes {
		return nil, &BudgetError{What: "bytes", Limit: b.MaxBytes}
	}
	d := &decoder{x: xml.NewDecoder(bytes.NewReader(data)), refs: map[string]*Object{}, types: map[string][]string{}, budget: b}
	d.x.Strict = true
	for {
		tok, err := d.x.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("clixml: no element")
			}
			return nil, fmt.Errorf("clixml: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			var v any
			if se.Name.Local == "Objs" {
				v, err = d.objs()
			} else {
				_, v, err = d.value(se, 0)
			}
			if err != nil {
				return nil, err
			}
			if err := d.trailing(); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

type decoder struct {
	x      *xml.Decoder
	refs   map[string]*Object // complete objects by RefId
	types  map[string][]string
	budget *Budget
}

func (d *decoder) trailing() error {
	for {
		tok, err := d.x.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("clixml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fmt.Errorf("clixml: a second root element <%s>", t.Name.Local)
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return errors.New("clixml: text after the root element")
			}
		}
	}
}

func (d *decoder) objs() (any, error) {
	o := &Object{ListKind: ListLST}
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("clixml <Objs>: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			_, v, err := d.value(t, 1)
			if err != nil {
				return nil, err
			}
			o.List = append(o.List, v)
		case xml.EndElement:
			return o, nil
		}
	}
}

func attr(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// text reads the character content of the element just opened, up to its end. Child elements are an
// error: primitives hold text only.
func (d *decoder) text(se xml.StartElement) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.x.Token()
		if err != nil {
			return "", fmt.Errorf("clixml <%s>: %w", se.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", fmt.Errorf("clixml <%s>: unexpected element <%s>", se.Name.Local, t.Name.Local)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// skip consumes the rest of the element just opened.
func (d *decoder) skip() error {
	if err := d.x.Skip(); err != nil {
		return fmt.Errorf("clixml: %w", err)
	}
	return nil
}

// value reads one value element whose start tag is se. It returns the N attribute too.
func (d *decoder) value(se xml.StartElement, depth int) (string, any, error) {
	name, _ := attr(se, "N")
	if depth > maxDepth {
		return name, nil, fmt.Errorf("clixml: nesting deeper than %d", maxDepth)
	}
	if d.budget.values++; d.budget.values > d.budget.MaxValues {
		return name, nil, &BudgetError{What: "values", Limit: d.budget.MaxValues}
	}
	if se.Name.Local == "Obj" {
		o, err := d.object(se, depth)
		return name, o, err
	}
	if se.Name.Local == "Ref" {
		id, _ := attr(se, "RefId")
		o, ok := d.refs[id]
		if !ok {
			return name, nil, fmt.Errorf("clixml <Ref RefId=%q>: no earlier complete object has that id (a reference to an object from inside it would be a cycle)", id)
		}
		return name, o, d.skip()
	}
	if se.Name.Local == "Nil" {
		return name, nil, d.skip()
	}
	s, err := d.text(se)
	if err != nil {
		return name, nil, err
	}
	v, err := primitive(se.Name.Local, s)
	if err != nil {
		return name, nil, fmt.Errorf("clixml <%s N=%q>: %w", se.Name.Local, name, err)
	}
	return name, v, nil
}

// primitive converts the text of a primitive element (MS-PSRP 2.2.5.1).
func primitive(kind, s string) (any, error) {
	trim := strings.TrimSpace(s)
	switch kind {
	case "S":
		return Unescape(s), nil
	case "B":
		switch trim {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, fmt.Errorf("boolean %q", trim)
	case "SB":
		return sized[int8](strconv.ParseInt(trim, 10, 8))
	case "I16":
		return sized[int16](strconv.ParseInt(trim, 10, 16))
	case "I32":
		return sized[int32](strconv.ParseInt(trim, 10, 32))
	case "I64":
		return sized[int64](strconv.ParseInt(trim, 10, 64))
	case "By":
		return sized[uint8](strconv.ParseUint(trim, 10, 8))
	case "U16":
		return sized[uint16](strconv.ParseUint(trim, 10, 16))
	case "U32":
		return sized[uint32](strconv.ParseUint(trim, 10, 32))
	case "U64":
		return sized[uint64](strconv.ParseUint(trim, 10, 64))
	case "Sg":
		f, err := strconv.ParseFloat(trim, 32)
		return float32(f), err
	case "Db":
		return strconv.ParseFloat(trim, 64)
	case "D":
		if _, err := strconv.ParseFloat(trim, 64); err != nil {
			return nil, fmt.Errorf("decimal %q", trim)
		}
		return Decimal(trim), nil
	case "C":
		n, err := strconv.ParseUint(trim, 10, 16)
		return Char(n), err
	case "BA":
		return base64.StdEncoding.DecodeString(trim)
	case "G":
		return ParseGUID(trim)
	case "DT":
		return parseDateTime(trim)
	case "TS":
		return ParseDuration(trim)
	case "Version":
		return Version(trim), nil
	case "URI":
		return URI(Unescape(s)), nil
	case "XD":
		return XMLDocument(Unescape(s)), nil
	case "SBK":
		return ScriptBlock(Unescape(s)), nil
	case "SS":
		return SecureString(trim), nil
	}
	return nil, fmt.Errorf("unknown element <%s>", kind)
}

func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date/time %q is not xs:dateTime", s)
}

func (d *decoder) object(se xml.StartElement, depth int) (*Object, error) {
	o := &Object{}
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("clixml <Obj>: %w", err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			// Registered only now: a reference from inside the object to itself or an ancestor is refused,
			// and every walk over decoded values ends.
			if id, ok := attr(se, "RefId"); ok {
				d.refs[id] = o
			}
			return o, nil
		case xml.StartElement:
			if err := d.objectPart(o, t, depth); err != nil {
				return nil, err
			}
		}
	}
}

func (d *decoder) objectPart(o *Object, t xml.StartElement, depth int) error {
	switch t.Name.Local {
	case "TN":
		names, err := d.typeNames()
		if err != nil {
			return err
		}
		if id, ok := attr(t, "RefId"); ok {
			d.types[id] = names
		}
		o.TypeNames = names
	case "TNRef":
		id, _ := attr(t, "RefId")
		names, ok := d.types[id]
		if !ok {
			return fmt.Errorf("clixml <TNRef RefId=%q>: no earlier <TN> has that id", id)
		}
		o.TypeNames = names
		return d.skip()
	case "ToString":
		s, err := d.text(t)
		if err != nil {
			return err
		}
		o.ToString, o.HasToString = Unescape(s), true
	case "Props", "MS":
		props, err := d.properties(t, depth)
		if err != nil {
			return err
		}
		if t.Name.Local == "Props" {
			o.Props = append(o.Props, props...)
		} else {
			o.Members = append(o.Members, props...)
		}
	case ListLST, ListIE, ListSTK, ListQUE:
		items, err := d.items(t, depth)
		if err != nil {
			return err
		}
		o.ListKind, o.List = t.Name.Local, items
	case "DCT":
		entries, err := d.dict(depth)
		if err != nil {
			return err
		}
		o.Dict, o.IsDict = entries, true
	default:
		_, v, err := d.value(t, depth+1)
		if err != nil {
			return err
		}
		o.Value = v
	}
	return nil
}

func (d *decoder) typeNames() ([]string, error) {
	var names []string
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("clixml <TN>: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "T" {
				return nil, fmt.Errorf("clixml <TN>: unexpected <%s>", t.Name.Local)
			}
			s, err := d.text(t)
			if err != nil {
				return nil, err
			}
			names = append(names, Unescape(s))
		case xml.EndElement:
			return names, nil
		}
	}
}

func (d *decoder) properties(se xml.StartElement, depth int) ([]Property, error) {
	var out []Property
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("clixml <%s>: %w", se.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name, v, err := d.value(t, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, Property{Name: Unescape(name), Value: v})
		case xml.EndElement:
			return out, nil
		}
	}
}

func (d *decoder) items(se xml.StartElement, depth int) ([]any, error) {
	var out []any
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("clixml <%s>: %w", se.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			_, v, err := d.value(t, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		case xml.EndElement:
			return out, nil
		}
	}
}

func (d *decoder) dict(depth int) ([]DictEntry, error) {
	var out []DictEntry
	for {
		tok, err := d.x.Token()
		if err != nil {
			return nil, fmt.Errorf("clixml <DCT>: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "En" {
				return nil, fmt.Errorf("clixml <DCT>: unexpected <%s>", t.Name.Local)
			}
			e, err := d.entry(depth)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		case xml.EndElement:
			return out, nil
		}
	}
}

func (d *decoder) entry(depth int) (DictEntry, error) {
	var e DictEntry
	var haveKey bool
	for {
		tok, err := d.x.Token()
		if err != nil {
			return e, fmt.Errorf("clixml <En>: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name, v, err := d.value(t, depth+1)
			if err != nil {
				return e, err
			}
			switch name {
			case "Key":
				e.Key, haveKey = v, true
			case "Value":
				e.Value = v
			default:
				return e, fmt.Errorf("clixml <En>: element named %q (want Key or Value)", name)
			}
		case xml.EndElement:
			if !haveKey {
				return e, errors.New("clixml <En>: no Key")
			}
			return e, nil
		}
	}
}

// Unescape decodes CLIXML's _xHHHH_ escapes (MS-PSRP 2.2.5.3.2): UTF-16 code units, a surrogate pair as two
// escapes. An escape that is not well formed stays as it is.
func Unescape(s string) string {
	if !strings.Contains(s, "_x") && !strings.Contains(s, "_X") {
		return s
	}
	var b strings.Builder
	var units []uint16
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && (s[i+1] == 'x' || s[i+1] == 'X') && s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				units = append(units, uint16(n))
				i += 7
				continue
			}
		}
		flush()
		b.WriteByte(s[i])
		i++
	}
	flush()
	return b.String()
}

// sized gives a parsed integer the Go type of its CLIXML element (the parse already checked its range).
func sized[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64, N int64 | uint64](n N, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return T(n), nil
}
