package exchsim

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exmaintd/exmaintd/exchsim/cost"
	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/psrp"
)

// readShape reads a shape file derived from a real server's Export-Clixml capture (REALITIES.md, "Shapes").
func readShape(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			set[l] = true
		}
	}
	if err := sc.Err(); err != nil || len(set) == 0 {
		t.Fatalf("%s: %v (%d lines)", path, err, len(set))
	}
	return set
}

// TestExchangeEndpointShapes: what exchsim's Exchange endpoint sends for the cmdlets that real captures
// exist for has the real objects' shape — the same most-derived type name, and every property path it writes
// exists in the capture with the same element kind and type (values aside). exchsim may write fewer
// properties than Exchange; it may not invent one or give one another kind.
func TestExchangeEndpointShapes(t *testing.T) {
	sc, err := org.BuiltinScenario("standalone") // the captures are of servers outside a DAG
	if err != nil {
		t.Fatal(err)
	}
	g, err := org.New(sc, org.Options{Clock: org.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	server := g.Servers()[0].Name
	r := newRemoting(g.Cmdlets(), cost.Profile{}, org.RealClock{})
	for _, tc := range []struct {
		file string
		cmd  psrp.Command
	}{
		{"GetServerComponentState.shape", psrp.Command{Name: "Get-ServerComponentState", Params: []psrp.Parameter{{Name: "Identity", Value: server}}}},
		{"GetMailboxServer.shape", psrp.Command{Name: "Get-MailboxServer", Params: []psrp.Parameter{{Name: "Identity", Value: server}}}},
		{"GetExchangeServer.shape", psrp.Command{Name: "Get-ExchangeServer", Params: []psrp.Parameter{{Name: "Identity", Value: server}}}},
		{"TestServiceHealth.shape", psrp.Command{Name: "Test-ServiceHealth", Params: []psrp.Parameter{{Name: "Server", Value: server}}}},
	} {
		for _, version := range []string{"e16", "e19"} {
			t.Run(version+"/"+tc.file, func(t *testing.T) {
				want := readShape(t, filepath.Join("testdata", "shapes", version, tc.file))
				out, errs, failed := r.Invoke(t.Context(), server, "Administrator", []psrp.Command{tc.cmd})
				if failed != nil || len(errs) > 0 || len(out) == 0 {
					t.Fatalf("%s: %d objects, errors %v %v", tc.cmd.Name, len(out), errs, failed)
				}
				for _, v := range out {
					// Through the wire format, as the client sees it.
					b, err := psrp.Encode(v)
					if err != nil {
						t.Fatal(err)
					}
					back, err := psrp.Decode(b)
					if err != nil {
						t.Fatal(err)
					}
					for _, line := range psrp.Shape(back.(*psrp.Object)) {
						if !want[line] {
							t.Errorf("exchsim writes %q, which the capture of a real server does not have", line)
						}
					}
				}
			})
		}
	}
}
