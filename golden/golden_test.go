package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records a failure instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

// TestCheck: the same bytes pass, other bytes fail; UPDATE_GOLDEN writes the file.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "x.golden"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got    string
		failed bool
	}{{"one\n", false}, {"two\n", true}} {
		r := &recorder{TB: t}
		Check(r, "x.golden", []byte(tc.got))
		if r.failed != tc.failed {
			t.Errorf("Check(%q): failed %v, want %v", tc.got, r.failed, tc.failed)
		}
	}
	t.Setenv("UPDATE_GOLDEN", "1")
	Check(t, "x.golden", []byte("three\n"))
	if b, _ := os.ReadFile(filepath.Join("testdata", "x.golden")); string(b) != "three\n" {
		t.Errorf("after UPDATE_GOLDEN: %q", b)
	}
}
