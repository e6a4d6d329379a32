package psrp

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// TestFragmentSpecExample: MS-PSRP 4.2 writes ObjectId 1 and FragmentId 1 as seven zero bytes and a 1.
func TestFragmentSpecExample(t *testing.T) {
	b := Fragment{ObjectID: 1, FragmentID: 1, End: true, Blob: []byte("x")}.Append(nil)
	want := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1, 'x'}
	if !bytes.Equal(b, want) {
		t.Errorf("fragment = % x\nwant       % x", b, want)
	}
}

func TestFragmentRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max int
		fragments int
	}{
		{"empty", 0, 100, 1},
		{"fits", 100, 100, 1},
		{"one over", 101, 100, 2},
		{"many", 1000, 7, 143},
		{"protocol max", 70000, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := bytes.Repeat([]byte("abcdefghij"), tc.size/10+1)[:tc.size]
			enc := AppendFragments(nil, 42, msg, tc.max)
			frags, err := ParseFragments(enc)
			if err != nil {
				t.Fatal(err)
			}
			if len(frags) != tc.fragments {
				t.Fatalf("%d fragments, want %d", len(frags), tc.fragments)
			}
			if !frags[0].Start || !frags[len(frags)-1].End {
				t.Errorf("first/last flags wrong: %+v / %+v", frags[0].Start, frags[len(frags)-1].End)
			}
			var d Defragmenter
			var got []byte
			for i, f := range frags {
				m, err := d.Add(f)
				if err != nil {
					t.Fatal(err)
				}
				if (m != nil) != (i == len(frags)-1) {
					t.Fatalf("message complete after fragment %d of %d", i+1, len(frags))
				}
				got = m
			}
			if !bytes.Equal(got, msg) || d.Pending() {
				t.Errorf("reassembled %d bytes (pending %v), want %d", len(got), d.Pending(), len(msg))
			}
		})
	}
}

func TestDefragmenterRefusesDisorder(t *testing.T) {
	enc := AppendFragments(nil, 7, bytes.Repeat([]byte("z"), 30), 10)
	frags, _ := ParseFragments(enc)
	for _, tc := range []struct {
		name  string
		order []Fragment
		want  string
	}{
		{"no start", []Fragment{frags[1]}, "without a start"},
		{"skipped", []Fragment{frags[0], frags[2]}, "expected 1"},
		{"interleaved", []Fragment{frags[0], {ObjectID: 8, Start: true, End: true}}, "incomplete"},
		{"other object", []Fragment{frags[0], {ObjectID: 9, FragmentID: 1}}, "incomplete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Defragmenter
			var err error
			for _, f := range tc.order {
				if _, err = d.Add(f); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	d := Defragmenter{Max: 15}
	if _, err := d.Add(frags[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add(frags[1]); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("over Max: %v", err)
	}
}

func TestParseFragmentsRefusesBadInput(t *testing.T) {
	good := Fragment{ObjectID: 1, Start: true, End: true, Blob: []byte("abc")}.Append(nil)
	for name, b := range map[string][]byte{
		"short header": good[:10],
		"short blob":   good[:len(good)-1],
		"object 0":     Fragment{ObjectID: 0, Start: true, End: true}.Append(nil),
		"huge blob":    append(append([]byte{}, good[:17]...), 0xff, 0xff, 0xff, 0xff),
	} {
		if _, err := ParseFragments(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	rp, _ := ParseGUID("e1e27d95-9fde-4b8c-bd5c-0b5a8c0c3c7d")
	m := Message{Destination: ToServer, Type: CreatePipeline, RPID: rp, PID: NewGUID(), Data: []byte("<Obj RefId=\"0\"/>")}
	b := m.Marshal()
	// The RPID's first group is little-endian on the wire (.NET Guid.ToByteArray): e1e27d95 -> 95 7d e2 e1.
	if !bytes.Equal(b[8:12], []byte{0x95, 0x7d, 0xe2, 0xe1}) || !bytes.Equal(b[messageHeader:messageHeader+3], []byte(bom)) {
		t.Errorf("header % x", b[:messageHeader+3])
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != m.Type || got.RPID != m.RPID || got.PID != m.PID || !bytes.Equal(got.Data, m.Data) || got.Destination != ToServer {
		t.Errorf("round trip: %+v\nwant %+v", got, m)
	}
	if _, err := ParseMessage(b[:20]); err == nil {
		t.Error("short message accepted")
	}
	if CreatePipeline.String() != "CREATE_PIPELINE" || MessageType(0x1234).String() != "0x00001234" {
		t.Error("MessageType.String")
	}
}

func TestPrimitiveRoundTrip(t *testing.T) {
	when := time.Date(2026, 12, 5, 22, 0, 0, 123456700, time.UTC)
	g := NewGUID()
	values := []any{nil, "", "plain", "line\r\nbreak\ttab", "_x0041_ literal", "<&>\"'", "ünïcødé 😀", true, false,
		int8(-8), int16(-16), int32(-32), int64(-1 << 40), uint8(8), uint16(16), uint32(32), uint64(1 << 63),
		float32(1.5), 2.25, Decimal("12.50"), Char('A'), []byte{0, 1, 2, 255}, g, when,
		3*time.Hour + 4*time.Second + 500*time.Millisecond, -90 * time.Minute, Version("15.2.1544.4"), URI("http://ex01/PowerShell"),
		ScriptBlock("Get-Date"), SecureString("AAAA")}
	for _, v := range values {
		b, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", v, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if tv, ok := v.(time.Time); ok {
			if !tv.Equal(got.(time.Time)) {
				t.Errorf("%v -> %s -> %v", v, b, got)
			}
			continue
		}
		if bv, ok := v.([]byte); ok {
			if !bytes.Equal(bv, got.([]byte)) {
				t.Errorf("%v -> %s -> %v", v, b, got)
			}
			continue
		}
		if got != v {
			t.Errorf("%#v -> %s -> %#v", v, b, got)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb":     "a_x000D__x000A_b",
		"_x0041_":    "_x005F_x0041_",
		"_y":         "_y",
		"a<b&c>d":    "a&lt;b&amp;c&gt;d",
		"\x00":       "_x0000_",
		"😀":          "_xD83D__xDE00_",
		`say "hi"`:   `say "hi"`,
		"trailing _": "trailing _",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if back := Unescape(strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(Escape(in))); back != in {
			t.Errorf("Unescape(Escape(%q)) = %q", in, back)
		}
	}
}

func TestDecodeRefusesBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":         "",
		"unknown":       "<Foo>1</Foo>",
		"bad int":       "<I32>x</I32>",
		"overflow":      "<I32>4294967296</I32>",
		"unknown ref":   `<Ref RefId="9"/>`,
		"unknown tnref": `<Obj RefId="0"><TNRef RefId="3"/></Obj>`,
		"two roots":     "<S>a</S><S>b</S>",
		"child in prim": "<S>a<S>b</S></S>",
		"dict no key":   `<Obj RefId="0"><DCT><En><S N="Value">v</S></En></DCT></Obj>`,
		"unclosed":      `<Obj RefId="0"><MS>`,
		"deep":          strings.Repeat(`<Obj RefId="0"><MS>`, 200),
	} {
		if _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestObjectAccessors(t *testing.T) {
	state := &Object{TypeNames: []string{"Microsoft.Exchange.Data.ServiceState", "System.Enum"}, ToString: "Draining", HasToString: true, Value: int32(2)}
	o := &Object{Props: []Property{{"State", state}, {"Count", int64(3)}}, Members: []Property{{"PSComputerName", "ex01"}}}
	if v, _ := o.Get("state"); Text(v) != "Draining" {
		t.Errorf("Text(State) = %q", Text(v))
	}
	if n, ok := Int(state); !ok || n != 2 {
		t.Errorf("Int(enum) = %d, %v", n, ok)
	}
	if v, ok := o.Get("pscomputername"); !ok || v != "ex01" {
		t.Errorf("extended property: %v %v", v, ok)
	}
	if o.Has("Missing") {
		t.Error("Has(Missing)")
	}
	if Items(nil) != nil || len(Items("one")) != 1 || len(Items(StringList("a", "b"))) != 2 {
		t.Error("Items")
	}
	if n, ok := Int(Decimal("7")); !ok || n != 7 {
		t.Error("Int(Decimal)")
	}
	if _, ok := Int(Decimal("7.5")); ok {
		t.Error("Int(7.5)")
	}
}

func TestCommandString(t *testing.T) {
	c := Command{Name: "Set-MailboxServer", Params: []Parameter{{"Identity", "EX01"}, {"DatabaseCopyActivationDisabledAndMoveNow", true},
		{"Status", nil}, {"Name", StringList("a'b", "c")}}}
	want := `Set-MailboxServer -Identity 'EX01' -DatabaseCopyActivationDisabledAndMoveNow:$true -Status -Name @('a''b', 'c')`
	if got := c.String(); got != want {
		t.Errorf("String() = %s\nwant        %s", got, want)
	}
}

func TestDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"PT9.0269026S": 9*time.Second + 26902600*time.Nanosecond,
		"P1DT2H3M4S":   26*time.Hour + 3*time.Minute + 4*time.Second,
		"-PT1M":        -time.Minute,
		"P7D":          7 * 24 * time.Hour,
		"PT0S":         0,
	} {
		got, err := ParseDuration(s)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
		if back, err := ParseDuration(FormatDuration(want)); err != nil || back != want {
			t.Errorf("FormatDuration(%v) = %q does not read back", want, FormatDuration(want))
		}
	}
	for _, bad := range []string{"", "P", "PT", "1S", "P1Y", "PT1S1M", "PT-1S", "PT1.5M"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	// TimeSpan.MaxValue and MinValue (Exchange writes MaxValue for "never"; a whole capture used to fail on
	// it) and anything past 292 years read as the longest and shortest durations.
	for s, want := range map[string]time.Duration{
		"P10675199DT2H48M5.4775807S":  math.MaxInt64,
		"-P10675199DT2H48M5.4775808S": math.MinInt64,
		"P106752D":                    math.MaxInt64,
		"P106751DT23H47M16S":          math.MaxInt64 - 854775807,
	} {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	v, err := Decode([]byte(`<Obj RefId="0"><Props><TS N="RetentionPeriod">P10675199DT2H48M5.4775807S</TS></Props></Obj>`))
	if err != nil {
		t.Fatalf("a document with TimeSpan.MaxValue: %v", err)
	}
	if got, _ := v.(*Object).Get("RetentionPeriod"); got != time.Duration(math.MaxInt64) {
		t.Errorf("RetentionPeriod = %v", got)
	}
}
