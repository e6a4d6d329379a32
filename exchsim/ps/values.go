package ps

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Hashtable is @{...}. Keys keep insertion order (real hashtables do not guarantee an order; exmaintd never
// relies on it).
type Hashtable struct {
	Keys   []string
	Values map[string]any // keyed by lower-case key
}

// Get returns the value for key (case-insensitive).
func (h *Hashtable) Get(key string) (any, bool) {
	v, ok := h.Values[strings.ToLower(key)]
	return v, ok
}

// ScriptBlock is a { ... } value.
type ScriptBlock struct {
	body *scriptNode
	src  string
}

// Get returns the named property of an object, case-insensitively.
func (o *Object) Get(name string) (any, bool) {
	for _, p := range o.Props {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

// typeName is the .NET type name of a value, for error messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case int64:
		return "System.Int32"
	case float64:
		return "System.Double"
	case time.Time:
		return "System.DateTime"
	case time.Duration:
		return "System.TimeSpan"
	case Enum:
		return x.Type
	case *Object:
		return x.TypeName
	case []any:
		return "System.Object[]"
	case *Hashtable:
		return "System.Collections.Hashtable"
	case *ScriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case dotnet:
		return x.typeName()
	}
	return fmt.Sprintf("%T", v)
}

// toString converts like PowerShell's [string] / .ToString() in the en-US culture.
func toString(v any) string {
	switch x := Unwrap(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', 15, 64)
	case time.Time:
		return x.Format("1/2/2006 3:04:05 PM")
	case time.Duration:
		return formatTimeSpan(x)
	case Enum:
		return x.Name
	case *Object:
		if x.ToStringValue != "" {
			return x.ToStringValue
		}
		if strings.HasPrefix(x.TypeName, "Selected.") || x.TypeName == "System.Management.Automation.PSCustomObject" {
			parts := make([]string, len(x.Props))
			for i, p := range x.Props {
				parts[i] = p.Name + "=" + toString(p.Value)
			}
			return "@{" + strings.Join(parts, "; ") + "}"
		}
		return x.TypeName
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = toString(e)
		}
		return strings.Join(parts, " ")
	case *Hashtable:
		return "System.Collections.Hashtable"
	case *ScriptBlock:
		return x.src
	case dotnet:
		return x.String()
	}
	return fmt.Sprint(v)
}

func formatTimeSpan(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	days := int64(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	s := fmt.Sprintf("%02d:%02d:%02d", int64(d/time.Hour), int64(d/time.Minute)%60, int64(d/time.Second)%60)
	if frac := d % time.Second; frac != 0 {
		s += fmt.Sprintf(".%07d", int64(frac/100))
	}
	if days > 0 {
		s = fmt.Sprintf("%d.%s", days, s)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// toBool is PowerShell's truthiness.
func toBool(v any) bool {
	switch x := Unwrap(v).(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int64:
		return x != 0
	case float64:
		return x != 0
	case Enum:
		return x.Value != 0
	case []any:
		switch len(x) {
		case 0:
			return false
		case 1:
			return toBool(x[0])
		}
		return true
	}
	return true
}

// toNumber converts for arithmetic comparison; ok is false when v is not numeric.
func toNumber(v any) (float64, bool) {
	switch x := Unwrap(v).(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case Enum:
		return float64(x.Value), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case nil:
		return 0, true
	}
	return 0, false
}

// compare implements -eq/-lt... with the left operand deciding the conversion, case-insensitive for
// strings. It returns -1, 0, 1, or ok=false when the values cannot be compared.
func compare(l, r any) (int, bool) {
	l, r = Unwrap(l), Unwrap(r)
	switch x := l.(type) {
	case nil:
		if r == nil {
			return 0, true
		}
		return -1, true
	case string:
		return strings.Compare(strings.ToLower(x), strings.ToLower(toString(r))), true
	case Enum:
		if s, ok := r.(string); ok {
			return strings.Compare(strings.ToLower(x.Name), strings.ToLower(s)), true
		}
		if e, ok := r.(Enum); ok {
			return cmp.Compare(x.Value, e.Value), true
		}
		n, ok := toNumber(r)
		if !ok {
			return 0, false
		}
		return cmp.Compare(float64(x.Value), n), true
	case bool:
		return cmp.Compare(b2i(x), b2i(toBool(r))), true
	case int64, float64:
		a, _ := toNumber(x)
		if r == nil {
			return 1, true
		}
		b, ok := toNumber(r)
		if !ok {
			return 0, false
		}
		return cmp.Compare(a, b), true
	case time.Time:
		var t time.Time
		switch y := r.(type) {
		case time.Time:
			t = y
		case string:
			var err error
			if t, err = parseDateTime(y); err != nil {
				return 0, false
			}
		default:
			return 0, false
		}
		return x.Compare(t), true
	case time.Duration:
		y, ok := r.(time.Duration)
		if !ok {
			return 0, false
		}
		return cmp.Compare(int64(x), int64(y)), true
	}
	if l == r {
		return 0, true
	}
	return 0, false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// parseDateTime accepts the forms a [datetime] cast of exmaintd's strings may see.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.0000000Z07:00", "2006-01-02T15:04:05", "2006-01-02", "1/2/2006 3:04:05 PM", "1/2/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot convert %q to System.DateTime", s)
}

// likeToRegexp converts a PowerShell wildcard pattern (* ? [abc]) to a case-insensitive regexp.
func likeToRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[', ']':
			b.WriteRune(r)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// sortValues sorts stably by the given property names (or the values themselves).
func sortValues(items []any, props []string, desc bool) {
	key := func(v any, p string) any {
		if p == "" {
			return v
		}
		return getMember(v, p)
	}
	sort.SliceStable(items, func(i, j int) bool {
		names := props
		if len(names) == 0 {
			names = []string{""}
		}
		for _, p := range names {
			c, ok := compare(key(items[i], p), key(items[j], p))
			if !ok || c == 0 {
				continue
			}
			if desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
}

// getMember returns a property of v, PowerShell-style: missing properties are $null, and on an array the
// member is taken from each element (member enumeration) unless the array itself has it (Count, Length).
func getMember(v any, name string) any {
	if n, ok := v.(Noted); ok {
		for _, p := range n.Notes {
			if strings.EqualFold(p.Name, name) {
				return p.Value
			}
		}
		v = n.Base
	}
	switch x := v.(type) {
	case nil:
		return nil
	case *Object:
		val, _ := x.Get(name)
		return val
	case *Hashtable:
		if val, ok := x.Get(name); ok {
			return val
		}
		if strings.EqualFold(name, "Count") {
			return int64(len(x.Keys))
		}
		return nil
	case []any:
		if strings.EqualFold(name, "Count") || strings.EqualFold(name, "Length") {
			return int64(len(x))
		}
		var out []any
		for _, e := range x {
			if m := getMember(e, name); m != nil {
				out = append(out, unroll(m)...)
			}
		}
		switch len(out) {
		case 0:
			return nil
		case 1:
			return out[0]
		}
		return out
	case string:
		if strings.EqualFold(name, "Length") {
			return int64(len([]rune(x)))
		}
	case Enum:
		if strings.EqualFold(name, "value__") {
			return x.Value
		}
	case time.Duration:
		switch strings.ToLower(name) {
		case "totalseconds":
			return x.Seconds()
		case "totalminutes":
			return x.Minutes()
		case "totalhours":
			return x.Hours()
		case "totalmilliseconds":
			return float64(x) / float64(time.Millisecond)
		case "totaldays":
			return x.Hours() / 24
		case "ticks":
			return int64(x / 100)
		case "days":
			return int64(x / (24 * time.Hour))
		case "hours":
			return int64(x/time.Hour) % 24
		case "minutes":
			return int64(x/time.Minute) % 60
		case "seconds":
			return int64(x/time.Second) % 60
		}
	case time.Time:
		switch strings.ToLower(name) {
		case "year":
			return int64(x.Year())
		case "month":
			return int64(x.Month())
		case "day":
			return int64(x.Day())
		case "hour":
			return int64(x.Hour())
		case "minute":
			return int64(x.Minute())
		case "second":
			return int64(x.Second())
		case "ticks":
			return x.Sub(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)).Nanoseconds() / 100
		}
	}
	if strings.EqualFold(name, "Count") {
		return int64(1) // PowerShell 3+: every scalar has Count 1
	}
	return nil
}

// unroll is how PowerShell enumerates a value into a pipeline.
func unroll(v any) []any {
	if a, ok := v.([]any); ok {
		return a
	}
	return []any{v}
}

// collapse is how PowerShell hands a pipeline's output to an expression: nothing → $null, one → itself,
// many → an array.
func collapse(out []any) any {
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}
