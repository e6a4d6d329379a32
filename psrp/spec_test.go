package psrp

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func readSpec(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "spec", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeObject(t *testing.T, data []byte) *Object {
	t.Helper()
	v, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	o, ok := v.(*Object)
	if !ok {
		t.Fatalf("Decode gave %T, want *Object", v)
	}
	return o
}

// canonical removes whitespace between elements and renumbers object RefIds in document order, so that
// documents that differ only in layout and in the numbering of RefIds compare equal. <TN>/<TNRef> ids are
// kept as they are: the encoder must number them as PowerShell does.
func canonical(b []byte) string {
	s := regexp.MustCompile(`>\s+<`).ReplaceAllString(strings.TrimSpace(string(b)), "><")
	s = regexp.MustCompile(`\s*/>`).ReplaceAllString(s, " />")
	n := 0
	ids := map[string]string{}
	s = regexp.MustCompile(`<(Obj|Ref)([^>]*?) RefId="([^"]*)"`).ReplaceAllStringFunc(s, func(m string) string {
		sub := regexp.MustCompile(`<(Obj|Ref)([^>]*?) RefId="([^"]*)"`).FindStringSubmatch(m)
		if sub[1] == "Obj" {
			ids[sub[3]] = strconv.Itoa(n)
			n++
		}
		return "<" + sub[1] + sub[2] + ` RefId="` + ids[sub[3]] + `"`
	})
	return s
}

// TestSpecExamplesRoundTrip: every example of the specification decodes, and encoding what was decoded
// gives the example back (layout and object RefIds aside).
func TestSpecExamplesRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "spec", "*.xml"))
	if err != nil || len(files) < 7 {
		t.Fatalf("spec examples: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, err := Encode(v)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}

			if g, w := canonical(got), canonical(want); g != w {
				t.Errorf("round trip differs\n got: %s\nwant: %s", g, w)
			}
		})
	}
}

func TestSpecCreatePipeline(t *testing.T) {
	cmds, err := ParseCreatePipeline(readSpec(t, "create_pipeline.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 1 || cmds[0].Name != "123 " || !cmds[0].IsScript {
		t.Fatalf("commands = %+v, want one script command %q", cmds, "123 ")
	}
	if p := cmds[0].Params; len(p) != 1 || p[0].Name != "" || p[0].Value != "powershell.exe" {
		t.Errorf("params = %+v, want one positional \"powershell.exe\"", p)
	}
}

func TestSpecStates(t *testing.T) {
	st, rec, err := State(readSpec(t, "runspacepool_state.xml"))
	if err != nil || st != PoolOpened || rec != nil {
		t.Errorf("runspace pool state = %d, %v, %v; want Opened without error", st, rec, err)
	}
	st, rec, err = State(readSpec(t, "pipeline_state.xml"))
	if err != nil || st != PipelineStopped || rec == nil {
		t.Fatalf("pipeline state = %d, %v, %v; want Stopped with an error record", st, rec, err)
	}
	want := ErrorRecord{Message: "The pipeline has been stopped.", FullyQualifiedErrorID: "PipelineStopped", Category: "OperationStopped",
		ExceptionType: "System.Management.Automation.PipelineStoppedException"}
	if *rec != want {
		t.Errorf("error record = %+v, want %+v", *rec, want)
	}
}

func TestSpecErrorRecord(t *testing.T) {
	rec := ParseErrorRecord(decodeObject(t, readSpec(t, "error_record.xml")))
	if strings.TrimSpace(rec.Message) != "Can't open file" || rec.Category != "OpenError" || rec.FullyQualifiedErrorID != "System.IO.IOException" ||
		rec.ExceptionType != "System.IO.IOException" || rec.Activity != "Write-Error" {
		t.Errorf("error record = %+v", rec)
	}
	// The record shares BoundParameters with InvocationInfo through <Ref>: one object, not a copy.
	o := decodeObject(t, readSpec(t, "error_record.xml"))
	inv, _ := o.Get("InvocationInfo")
	bp, _ := inv.(*Object).Get("BoundParameters")
	ref, _ := o.Get("InvocationInfo_BoundParameters")
	if bp == nil || bp != ref {
		t.Errorf("<Ref RefId=6> = %p, want the object with RefId 6 (%p)", ref, bp)
	}
}

func TestSpecSessionCapabilityAndPrivateData(t *testing.T) {
	o := decodeObject(t, readSpec(t, "session_capability.xml"))
	if v, _ := o.Get("protocolversion"); v != Version("2.2") {
		t.Errorf("protocolversion = %v", v)
	}
	if v, _ := o.Get("TimeZone"); len(v.([]byte)) < 100 {
		t.Errorf("TimeZone = %d bytes, want the serialised time zone", len(v.([]byte)))
	}
	o = decodeObject(t, readSpec(t, "application_private_data.xml"))
	outer, _ := o.Get("ApplicationPrivateData")
	d := outer.(*Object)
	if !d.IsDict || len(d.Dict) != 1 || d.Dict[0].Key != "BashPrivateData" {
		t.Fatalf("dictionary = %+v", d)
	}
	inner := d.Dict[0].Value.(*Object)
	if inner.TypeName() != "System.Management.Automation.PSPrimitiveDictionary" || inner.Dict[0].Value != Version("2.0") {
		t.Errorf("inner dictionary = %+v (TNRef must resolve to the outer type names)", inner)
	}
}

// TestEncoderWritesSpecMessages: the messages exmaintd builds have the shape of the specification's.
func TestEncoderWritesSpecMessages(t *testing.T) {
	got := canonical(RunspacePoolStateData(PoolOpened, nil))
	if want := canonical(readSpec(t, "runspacepool_state.xml")); got != want {
		t.Errorf("RUNSPACEPOOL_STATE\n got: %s\nwant: %s", got, want)
	}
	want := canonical(readSpec(t, "session_capability.xml"))
	want = regexp.MustCompile(`<BA N="TimeZone">[^<]*</BA>`).ReplaceAllString(want, "") // optional (MS-PSRP 2.2.2.1)
	want = strings.Replace(want, ">2.2<", ">"+ProtocolVersion+"<", 1)
	if got := canonical(SessionCapabilityData("2.0")); got != want {
		t.Errorf("SESSION_CAPABILITY\n got: %s\nwant: %s", got, want)
	}
	// CREATE_PIPELINE: the spec's example runs the script "123 " with one positional argument; exmaintd's
	// builder, given the same command, must produce every property of the example with the same element
	// kinds (it adds MergeInformation, History and RedirectShellErrorOutputPipe, which later versions send).
	b, err := CreatePipelineData(Command{Name: "123 ", IsScript: true, Params: []Parameter{{Value: "powershell.exe"}}})
	if err != nil {
		t.Fatal(err)
	}
	gotShape := Shape(decodeObject(t, b))
	for _, line := range Shape(decodeObject(t, readSpec(t, "create_pipeline.xml"))) {
		if !contains(gotShape, line) {
			t.Errorf("CREATE_PIPELINE lacks %q", line)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
