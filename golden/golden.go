// Package golden compares a test's output with a file under testdata: the test helper the golden-file tests
// share. With UPDATE_GOLDEN=1 in the environment it writes the file instead, for a change that is meant.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Check fails tb when got differs from testdata/name, showing both.
func Check(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("output differs from %s (UPDATE_GOLDEN=1 rewrites it if the change is meant):\n%s\nwant:\n%s", path, got, want)
	}
}
