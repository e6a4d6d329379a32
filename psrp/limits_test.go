package psrp

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestReferencesOnlyToCompleteObjects: a <Ref> that names the object it is in, or an ancestor, is refused
// with an error (it used to decode into a cycle that Text and Int followed until the stack overflowed,
// which kills the process); a <Ref> to an earlier, complete object still decodes to that object.
func TestReferencesOnlyToCompleteObjects(t *testing.T) {
	for _, doc := range selfReferences() {
		if v, err := Decode([]byte(doc)); err == nil || !strings.Contains(err.Error(), "no earlier complete object") {
			t.Errorf("Decode(%s) = %v, %v; want a refused reference", doc, v, err)
		}
		if _, _, err := State([]byte(doc)); err == nil {
			t.Errorf("State(%s) accepted it", doc)
		}
	}
	v, err := Decode([]byte(`<Obj RefId="0"><MS><Obj N="A" RefId="1"><ToString>a</ToString></Obj><Ref N="B" RefId="1" /></MS></Obj>`))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	a, _ := o.Get("A")
	b, _ := o.Get("B")
	if a != b || Text(b) != "a" {
		t.Errorf("A = %v, B = %v; want one object, shared", a, b)
	}
}

// TestWalksEnd: Text and Int end on a value built by hand with a cycle (decoded values have none).
func TestWalksEnd(t *testing.T) {
	o := &Object{TypeNames: []string{"Loop"}}
	o.Value = o
	if got := Text(o); got != "Loop" {
		t.Errorf("Text = %q", got)
	}
	if n, ok := Int(o); ok {
		t.Errorf("Int = %d, true", n)
	}
	// A chain within the bound is followed to its end.
	var v any = int32(7)
	for range maxDepth - 1 {
		v = &Object{Value: v}
	}
	if n, ok := Int(v); !ok || n != 7 {
		t.Errorf("Int through %d objects = %d, %v", maxDepth-1, n, ok)
	}
	if got := Text(v); got != "7" {
		t.Errorf("Text through %d objects = %q", maxDepth-1, got)
	}
}

// TestBudget: what one operation decodes is bounded in values and in bytes, across its documents, with
// an error that says which; within the budget the same documents decode.
func TestBudget(t *testing.T) {
	list := []byte("<Obj RefId=\"0\"><LST>" + strings.Repeat("<Obj/>", 1000) + "</LST></Obj>")
	b := &Budget{MaxValues: 1000, MaxBytes: 1 << 20}
	var be *BudgetError
	if _, err := DecodeWithin(list, b); !errors.As(err, &be) || be.What != "values" || be.Limit != 1000 {
		t.Errorf("1,001 values within 1,000: %v", err)
	}
	b = &Budget{MaxValues: 2000, MaxBytes: 1 << 20}
	if _, err := DecodeWithin(list, b); err != nil {
		t.Fatalf("1,001 values within 2,000: %v", err)
	}
	if _, err := DecodeWithin(list, b); !errors.As(err, &be) || be.What != "values" {
		t.Errorf("the second document of the same operation: %v; want over the budget", err)
	}
	b = &Budget{MaxValues: 1 << 20, MaxBytes: 2*len(list) - 1}
	if _, err := DecodeWithin(list, b); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeWithin(list, b); !errors.As(err, &be) || be.What != "bytes" || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("bytes over the budget: %v", err)
	}
}

// TestShapeOfSharedObjects: Shape walks an object reached through many paths (shared with <Ref>) a bounded
// number of times: six levels of 64 references each would be 64^6 walks.
func TestShapeOfSharedObjects(t *testing.T) {
	doc := `<Objs>` + nested(6, 64) + `</Objs>`
	v, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	list := v.(*Object).List
	top := list[len(list)-1].(*Object)
	if lines := Shape(top); len(lines) == 0 || len(lines) > 1<<20 {
		t.Errorf("Shape gave %d lines", len(lines))
	}
}

// nested is levels+1 objects in a list, each but the first with fan references to the one before.
func nested(levels, fan int) string {
	var b strings.Builder
	b.WriteString(`<Obj RefId="0"><Props><S N="Leaf">x</S></Props></Obj>`)
	for level := 1; level <= levels; level++ {
		b.WriteString(`<Obj RefId="` + strconv.Itoa(level) + `"><Props>`)
		for i := range fan {
			b.WriteString(`<Ref N="P` + strconv.Itoa(i) + `" RefId="` + strconv.Itoa(level-1) + `" />`)
		}
		b.WriteString(`</Props></Obj>`)
	}
	return b.String()
}
