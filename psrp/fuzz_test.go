package psrp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: any input either fails cleanly or decodes to a value that encodes and decodes to the same
// encoding (the encoder is the decoder's inverse on everything the decoder accepts).
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "spec", "*.xml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`<Obj RefId="0"><TN RefId="0"><T>X</T></TN><ToString>a_x000A_b</ToString><I32>3</I32></Obj>`))
	f.Add([]byte(`<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S>x</S></Objs>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("decoded %T but cannot encode it: %v", v, err)
		}
		v2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding our own encoding failed: %v\n%s", err, enc)
		}
		enc2, err := Encode(v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzFragments: the fragment parser and the defragmenter never panic and never return a message larger
// than their input.
func FuzzFragments(f *testing.F) {
	f.Add(AppendFragments(nil, 1, []byte("hello"), 2))
	f.Add(AppendFragments(nil, 3, bytes.Repeat([]byte("x"), 100), 0))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		frags, _ := ParseFragments(data)
		var d Defragmenter
		total := 0
		for _, fr := range frags {
			m, err := d.Add(fr)
			if err != nil {
				continue
			}
			total += len(m)
			if _, err := ParseMessage(m); err != nil {
				continue
			}
		}
		if total > len(data) {
			t.Fatalf("reassembled %d bytes from %d", total, len(data))
		}
	})
}

// FuzzCreatePipeline: what a server reads from a CREATE_PIPELINE never panics, and what exmaintd writes
// reads back to the same commands.
func FuzzCreatePipeline(f *testing.F) {
	f.Add("Get-Queue", "Server", "EX01", false)
	f.Add("Set-ServerComponentState", "State", "Draining'; Remove-Item C:\\", true)
	f.Fuzz(func(t *testing.T, name, param, value string, script bool) {
		if name == "" || param == "" {
			return
		}
		data, err := CreatePipelineData(Command{Name: name, IsScript: script, Params: []Parameter{{param, value}, {"Confirm", false}}})
		if err != nil {
			if !utf8.ValidString(name) || !utf8.ValidString(param) || !utf8.ValidString(value) { // each: invalid pieces can join into valid UTF-8
				return // refused: XML cannot carry it
			}
			t.Fatal(err)
		}
		cmds, err := ParseCreatePipeline(data)
		if err != nil {
			if name == "" || bytes.TrimSpace([]byte(name)) == nil {
				return
			}
			t.Fatalf("cannot read back %q: %v", name, err)
		}
		p := cmds[0].Params
		if cmds[0].Name != name || cmds[0].IsScript != script || len(p) != 2 || p[0].Name != param || p[0].Value != value || p[1].Value != false {
			t.Fatalf("round trip: %+v", cmds)
		}
	})
}

// FuzzCallers: whatever decodes is safe to use the way exmaintd's callers use it — Text, Int and Items on
// every value, ParseErrorRecord on every object, State on the document — and a decode never builds a cycle.
// (The fuzz targets that only round-tripped the encoding missed a self-referencing object, which decoded and
// then overflowed the stack in Text.)
func FuzzCallers(f *testing.F) {
	for _, seed := range selfReferences() {
		f.Add([]byte(seed))
	}
	f.Add(PipelineStateData(3, &ErrorRecord{Message: "boom", FullyQualifiedErrorID: "X", Category: "InvalidOperation"}))
	f.Add([]byte(`<Obj RefId="0"><TN RefId="0"><T>E</T></TN><I32>4</I32></Obj>`))
	f.Add([]byte(`<Obj RefId="0"><MS><Obj N="A" RefId="1"><S>x</S></Obj><Ref N="B" RefId="1" /></MS></Obj>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = State(data)
		v, err := Decode(data)
		if err != nil {
			return
		}
		done := map[*Object]bool{} // walked whole: shared objects (a <Ref> to a complete one) are walked once
		var walk func(v any, depth int)
		walk = func(v any, depth int) {
			_ = Text(v)
			_, _ = Int(v)
			o, _ := v.(*Object)
			if o == nil || done[o] {
				return
			}
			if depth > maxDepth+1 { // an ancestor met again (a cycle) ends here too
				t.Fatalf("a decoded value nests deeper than %d", maxDepth)
			}
			_ = ParseErrorRecord(o)
			_ = Shape(o)
			for _, p := range append(append([]Property(nil), o.Props...), o.Members...) {
				walk(p.Value, depth+1)
			}
			for _, it := range o.List {
				walk(it, depth+1)
			}
			for _, e := range o.Dict {
				walk(e.Key, depth+1)
				walk(e.Value, depth+1)
			}
			walk(o.Value, depth+1)
			_ = Items(o)
			done[o] = true
		}
		walk(v, 0)
	})
}

// selfReferences are documents in which an object refers to itself or to an ancestor.
func selfReferences() []string {
	return []string{
		`<Obj RefId="1"><Ref RefId="1"/></Obj>`,
		`<Obj RefId="0"><Props><Obj N="Identity" RefId="1"><Ref RefId="1" /></Obj></Props></Obj>`,
		`<Obj RefId="0"><MS><Obj N="Exception" RefId="1"><Props><Ref N="Message" RefId="0" /></Props></Obj></MS></Obj>`,
		`<Obj RefId="0"><MS><Ref N="PipelineState" RefId="0" /></MS></Obj>`,
		`<Obj RefId="0"><LST><Ref RefId="0" /></LST></Obj>`,
		`<Obj RefId="0"><DCT><En><S N="Key">k</S><Ref N="Value" RefId="0" /></En></DCT></Obj>`,
	}
}
