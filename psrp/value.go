package psrp

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// CLIXML values in Go. Decode returns, and Encode accepts:
//
//	nil                 <Nil/>
//	string              <S>
//	bool                <B>
//	int8 int16 int32 int64, uint8 uint16 uint32 uint64   <SB> <I16> <I32> <I64>, <By> <U16> <U32> <U64>
//	float32 float64     <Sg> <Db>
//	Decimal             <D>
//	Char                <C>
//	[]byte              <BA>
//	GUID                <G>
//	time.Time           <DT>
//	time.Duration       <TS>
//	Version, URI, XMLDocument, ScriptBlock, SecureString   <Version> <URI> <XD> <SBK> <SS>
//	*Object             <Obj> (and <Ref> to one already seen)
//
// Rich .NET types that have no element of their own (Exchange's ADObjectId, ByteQuantifiedSize,
// EnhancedTimeSpan, enums) arrive as *Object: read them through their ToString or their properties, never
// assume the .NET type exists here (MS-PSRP 2.2.5.2).

// Decimal is a System.Decimal as its text.
type Decimal string

// Char is a System.Char (a UTF-16 code unit).
type Char uint16

// Version is a System.Version ("2.3", "15.2.1544.4").
type Version string

// URI is a System.Uri.
type URI string

// XMLDocument is a System.Xml.XmlDocument as its text.
type XMLDocument string

// ScriptBlock is a System.Management.Automation.ScriptBlock as its text.
type ScriptBlock string

// SecureString is the encrypted content of a System.Security.SecureString (base64, session-key encrypted).
type SecureString string

// Property is one named value of an object.
type Property struct {
	Name  string
	Value any
}

// DictEntry is one key/value pair of a dictionary.
type DictEntry struct {
	Key, Value any
}

// Collection kinds of an object's content (MS-PSRP 2.2.5.2.6).
const (
	ListLST = "LST" // list (System.Collections.IList)
	ListIE  = "IE"  // enumerable
	ListSTK = "STK" // stack
	ListQUE = "QUE" // queue
)

// Object is a complex object (<Obj>, MS-PSRP 2.2.5.2).
type Object struct {
	// TypeNames, most derived first (e.g. "Microsoft.Exchange.Data.ServiceState", "System.Enum", ...). A
	// deserialising PowerShell prefixes them with "Deserialized."; the wire does not, and neither does this.
	TypeNames []string
	// ToString is the object's ToString() at the source; HasToString tells an empty one from none.
	ToString    string
	HasToString bool
	// Value is the primitive an enum or an extended primitive carries (an enum's <I32>), nil otherwise.
	Value any
	// Props are the adapted properties (<Props>), Members the extended ones (<MS>).
	Props   []Property
	Members []Property
	// ListKind and List hold a collection's items; ListKind is "" when the object is no collection.
	ListKind string
	List     []any
	// Dict holds a dictionary's entries (<DCT>); IsDict tells an empty dictionary from none.
	Dict   []DictEntry
	IsDict bool
}

// TypeName returns the most derived type name, or "".
func (o *Object) TypeName() string {
	if o == nil || len(o.TypeNames) == 0 {
		return ""
	}
	return o.TypeNames[0]
}

// Get returns the property named name (case-insensitive, as in PowerShell), looking at adapted properties
// first and extended ones second.
func (o *Object) Get(name string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for _, set := range [][]Property{o.Props, o.Members} {
		for _, p := range set {
			if strings.EqualFold(p.Name, name) {
				return p.Value, true
			}
		}
	}
	return nil, false
}

// Has reports whether the property exists (even when it is null).
func (o *Object) Has(name string) bool {
	_, ok := o.Get(name)
	return ok
}

// Text is what PowerShell's [string] cast gives for a value: a string as is, an object's ToString (an
// enum's name, an ADObjectId's name), a number in invariant form, "" for null.
func Text(v any) string {
	v = carried(v, true)
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case *Object:
		if x.HasToString {
			return x.ToString
		}
		return x.TypeName()
	case bool:
		if x {
			return "True"
		}
		return "False"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	case GUID:
		return x.String()
	case Char:
		return string(rune(x))
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// carried follows objects that carry a value (an enum's integer, an extended primitive) to that value —
// for Text, not past an object with a ToString of its own. It stops after maxDepth objects, so that values
// built by hand with a cycle end too (decoded ones have none).
func carried(v any, stopAtToString bool) any {
	for range maxDepth {
		o, ok := v.(*Object)
		if !ok || o == nil || o.Value == nil || stopAtToString && o.HasToString {
			return v
		}
		v = o.Value
	}
	return v
}

// Int returns an integer value of any integer kind (or an enum's integer, or a numeric string).
func Int(v any) (int64, bool) {
	switch x := carried(v, false).(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > 1<<63-1 {
			return 0, false
		}
		return int64(x), true //nolint:gosec // checked above
	case Decimal:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok || !r.IsInt() || !r.Num().IsInt64() {
			return 0, false
		}
		return r.Num().Int64(), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Items returns a collection's items: an object's list, or nil for null. A value that is not a collection
// is returned as a one-item list (PowerShell's own rule for a property that holds one value).
func Items(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case *Object:
		if x.ListKind != "" {
			return x.List
		}
	}
	return []any{v}
}
