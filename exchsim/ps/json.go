package ps

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ConvertToJSON serialises v the way Windows PowerShell 5.1's ConvertTo-Json does — which is why exmaintd
// projects everything itself: enums are written as their integer value, DateTime as "\/Date(ms)\/",
// objects nested deeper than depth become their ToString() (silently: 5.1 gives no warning), and <, >, &,
// ' are escaped as \u003c, \u003e, \u0026, \u0027 (JavaScriptSerializer). The indented form uses 5.1's
// layout: four spaces per level and two spaces after the colon.
func ConvertToJSON(v any, depth int, compress bool) string {
	var b strings.Builder
	w := jsonWriter{b: &b, depth: depth, compress: compress}
	w.value(v, 0)
	return b.String()
}

type jsonWriter struct {
	b        *strings.Builder
	depth    int
	compress bool
}

func (w *jsonWriter) nl(level int) {
	if w.compress {
		return
	}
	w.b.WriteString("\r\n")
	w.b.WriteString(strings.Repeat("    ", level))
}

func (w *jsonWriter) value(v any, level int) {
	switch x := v.(type) {
	case nil:
		w.b.WriteString("null")
	case bool:
		if x {
			w.b.WriteString("true")
		} else {
			w.b.WriteString("false")
		}
	case int64:
		w.b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			w.b.WriteString(`"` + toString(x) + `"`)
		case x == math.Trunc(x) && math.Abs(x) < 1e15:
			w.b.WriteString(strconv.FormatInt(int64(x), 10))
		default:
			w.b.WriteString(strconv.FormatFloat(x, 'g', 15, 64))
		}
	case string:
		w.str(x)
	case Enum:
		w.b.WriteString(strconv.FormatInt(x.Value, 10))
	case time.Time:
		fmt.Fprintf(w.b, `"\/Date(%d)\/"`, x.UnixMilli())
	case time.Duration:
		w.object(level, []Prop{
			{"Ticks", int64(x / 100)}, {"Days", int64(x / (24 * time.Hour))}, {"Hours", int64(x/time.Hour) % 24},
			{"Milliseconds", int64(x/time.Millisecond) % 1000}, {"Minutes", int64(x/time.Minute) % 60},
			{"Seconds", int64(x/time.Second) % 60}, {"TotalDays", x.Hours() / 24}, {"TotalHours", x.Hours()},
			{"TotalMilliseconds", float64(x) / float64(time.Millisecond)}, {"TotalMinutes", x.Minutes()}, {"TotalSeconds", x.Seconds()},
		}, v)
	case []any:
		if level > w.depth {
			w.str(toString(x))
			return
		}
		if len(x) == 0 {
			w.b.WriteString("[")
			w.nl(level)
			w.b.WriteString("]")
			return
		}
		w.b.WriteString("[")
		for i, e := range x {
			if i > 0 {
				w.b.WriteString(",")
			}
			w.nl(level + 1)
			w.value(e, level+1)
		}
		w.nl(level)
		w.b.WriteString("]")
	case Noted:
		w.object(level, append([]Prop{{"value", x.Base}}, x.Notes...), v)
	case *Object:
		w.object(level, x.Props, v)
	case *Hashtable:
		props := make([]Prop, len(x.Keys))
		for i, k := range x.Keys {
			props[i] = Prop{k, x.Values[strings.ToLower(k)]}
		}
		w.object(level, props, v)
	default:
		w.str(toString(v))
	}
}

func (w *jsonWriter) object(level int, props []Prop, self any) {
	if level > w.depth {
		w.str(toString(self))
		return
	}
	w.b.WriteString("{")
	for i, p := range props {
		if i > 0 {
			w.b.WriteString(",")
		}
		w.nl(level + 1)
		w.str(p.Name)
		if w.compress {
			w.b.WriteString(":")
		} else {
			w.b.WriteString(":  ")
		}
		w.value(p.Value, level+1)
	}
	w.nl(level)
	w.b.WriteString("}")
}

func (w *jsonWriter) str(s string) {
	w.b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			w.b.WriteString(`\"`)
		case '\\':
			w.b.WriteString(`\\`)
		case '\n':
			w.b.WriteString(`\n`)
		case '\r':
			w.b.WriteString(`\r`)
		case '\t':
			w.b.WriteString(`\t`)
		case '\b':
			w.b.WriteString(`\b`)
		case '\f':
			w.b.WriteString(`\f`)
		case '<', '>', '&', '\'':
			fmt.Fprintf(w.b, `\u%04x`, r)
		default:
			if r < 0x20 {
				fmt.Fprintf(w.b, `\u%04x`, r)
			} else {
				w.b.WriteRune(r)
			}
		}
	}
	w.b.WriteByte('"')
}
