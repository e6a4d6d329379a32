package psrp

import (
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// copyStatusRow is one Get-MailboxDatabaseCopyStatus row as Exchange's remote PowerShell serialises it in
// full: no capture of this cmdlet is public (exchsim/REALITIES.md), so the row is built from Microsoft
// Learn's documented property list (≈ 90 properties) with the serialisation real captures of other Exchange
// objects show (exchsim/testdata/shapes): enums as objects with type names, a ToString and their integer;
// rich types (ADObjectId, ByteQuantifiedSize, EnhancedTimeSpan) as objects with about ten properties and a
// SerializationData blob of about 1 KiB.
func copyStatusRow(i int) string {
	var b strings.Builder
	blob := base64.StdEncoding.EncodeToString(make([]byte, 768))
	fmt.Fprintf(&b, `<Obj RefId="%d"><TN RefId="%d"><T>Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry</T><T>System.Object</T></TN><ToString>DB%03d\EX%02d</ToString><Props>`, i*100, i*100, i/16, i%16)
	for p := range 60 { // strings, numbers, times, booleans
		switch p % 4 {
		case 0:
			fmt.Fprintf(&b, `<S N="StringProperty%d">value of property %d on DB%03d</S>`, p, p, i/16)
		case 1:
			fmt.Fprintf(&b, `<I64 N="Int64Property%d">%d</I64>`, p, p*1000)
		case 2:
			fmt.Fprintf(&b, `<DT N="TimeProperty%d">2026-12-12T22:00:00.1234567+00:00</DT>`, p)
		default:
			fmt.Fprintf(&b, `<B N="BoolProperty%d">false</B>`, p)
		}
	}
	for p := range 15 { // enums
		fmt.Fprintf(&b, `<Obj N="EnumProperty%d" RefId="%d"><TN RefId="%d"><T>Microsoft.Exchange.Enum%d</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Healthy</ToString><I32>1</I32></Obj>`, p, i*100+1+p, i*100+1+p, p)
	}
	for p := range 15 { // rich types
		fmt.Fprintf(&b, `<Obj N="RichProperty%d" RefId="%d"><TN RefId="%d"><T>Microsoft.Exchange.Data.Rich%d</T><T>System.Object</T></TN><ToString>rich %d</ToString><Props>`, p, i*100+20+p, i*100+20+p, p, p)
		for q := range 9 {
			fmt.Fprintf(&b, `<I32 N="Part%d">%d</I32>`, q, q)
		}
		fmt.Fprintf(&b, `<BA N="SerializationData">%s</BA></Props></Obj>`, blob)
	}
	b.WriteString(`</Props></Obj>`)
	return b.String()
}

// BenchmarkDecodeCopyStatusDAG16 sizes DefaultBudget: an organisation's Get-MailboxDatabaseCopyStatus for a
// DAG of 16 servers with 100 databases, every database with a copy on every server (1,600 rows, each its
// own PIPELINE_OUTPUT message, decoded within one operation's budget). It reports the CLIXML bytes, the
// values charged and the heap the decoded rows hold.
func BenchmarkDecodeCopyStatusDAG16(b *testing.B) {
	rows := make([][]byte, 1600)
	total := 0
	for i := range rows {
		rows[i] = []byte(copyStatusRow(i))
		total += len(rows[i])
	}
	b.SetBytes(int64(total))
	var values, held int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		budget := DefaultBudget()
		out := make([]any, 0, len(rows))
		for _, r := range rows {
			v, err := DecodeWithin(r, budget)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, v)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		values, _ = budget.Used()
		held = int(after.HeapAlloc) - int(before.HeapAlloc)
		runtime.KeepAlive(out)
	}
	b.ReportMetric(float64(total)/(1<<20), "clixml-MiB")
	b.ReportMetric(float64(values), "values")
	b.ReportMetric(float64(held)/(1<<20), "held-MiB")
}

// BenchmarkDecodeAtBudget is the worst a server can make one operation hold: empty objects, the cheapest
// value to send and the most expensive to keep (≈ 35 bytes decoded for each 6 sent), up to DefaultBudget's
// value limit.
func BenchmarkDecodeAtBudget(b *testing.B) {
	max := DefaultBudget().MaxValues
	per := 30000 // values per message, well inside one reassembled message
	msg := []byte("<Obj RefId=\"0\"><LST>" + strings.Repeat("<Obj/>", per-1) + "</LST></Obj>")
	var held int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		budget := DefaultBudget()
		var out []any
		for {
			v, err := DecodeWithin(msg, budget)
			if err != nil {
				break
			}
			out = append(out, v)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = int(after.HeapAlloc) - int(before.HeapAlloc)
		runtime.KeepAlive(out)
	}
	b.ReportMetric(float64(max), "max-values")
	b.ReportMetric(float64(held)/(1<<20), "held-MiB")
}
