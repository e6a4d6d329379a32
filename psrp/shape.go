package psrp

import (
	"sort"
	"strings"
	"time"
)

// Shape describes an object's structure without its values: one line per property path with the element
// kind ("S", "I32", "Obj", ...) and, for objects, the most derived type name. Collections contribute the
// union of their items' shapes under "[]". Two objects of the same type and the same serialisation have
// the same shape whatever their data; exchsim's output is compared with captures of real Exchange servers
// this way (exchsim/REALITIES.md).
func Shape(o *Object) []string {
	set := map[string]bool{}
	visits := maxShapeVisits
	shapeInto(set, "", o, 0, &visits)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Kind names the CLIXML element a value is written as.
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "Nil"
	case string:
		return "S"
	case bool:
		return "B"
	case int8:
		return "SB"
	case int16:
		return "I16"
	case int32, int:
		return "I32"
	case int64:
		return "I64"
	case uint8:
		return "By"
	case uint16:
		return "U16"
	case uint32:
		return "U32"
	case uint64:
		return "U64"
	case float32:
		return "Sg"
	case float64:
		return "Db"
	case Decimal:
		return "D"
	case Char:
		return "C"
	case []byte:
		return "BA"
	case GUID:
		return "G"
	case Version:
		return "Version"
	case URI:
		return "URI"
	case XMLDocument:
		return "XD"
	case ScriptBlock:
		return "SBK"
	case SecureString:
		return "SS"
	case *Object:
		return "Obj"
	case time.Time:
		return "DT"
	case time.Duration:
		return "TS"
	}
	return "?"
}

// maxShapeVisits bounds Shape's walk: objects shared through <Ref> are walked at every path that reaches
// them, which a hostile document could make exponential.
const maxShapeVisits = 1 << 17

func shapeInto(set map[string]bool, path string, o *Object, depth int, visits *int) {
	if o == nil || depth > 6 || *visits <= 0 {
		return
	}
	*visits--
	line := strings.TrimPrefix(path, ".") + " Obj " + o.TypeName()
	if o.Value != nil {
		line += " value=" + Kind(o.Value)
	}
	if o.ListKind != "" {
		line += " " + o.ListKind
	}
	if o.IsDict {
		line += " DCT"
	}
	set[strings.TrimSpace(line)] = true
	for _, group := range []struct {
		prefix string
		props  []Property
	}{{"", o.Props}, {"@", o.Members}} {
		for _, p := range group.props {
			sub := path + "." + group.prefix + p.Name
			if po, ok := p.Value.(*Object); ok && po != nil {
				shapeInto(set, sub, po, depth+1, visits)
				continue
			}
			set[strings.TrimPrefix(sub, ".")+" "+Kind(p.Value)] = true
		}
	}
	for _, it := range o.List {
		if io, ok := it.(*Object); ok && io != nil {
			shapeInto(set, path+"[]", io, depth+1, visits)
		} else {
			set[strings.TrimPrefix(path+"[]", ".")+" "+Kind(it)] = true
		}
	}
}
