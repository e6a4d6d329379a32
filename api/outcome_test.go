package api_test

import (
	"testing"

	"github.com/exmaintd/exmaintd/api"
)

// TestLegacyResults: a journal written before the outcome vocabulary (2026-12) reads in it: success is
// succeeded, rolled_back reversed.
func TestLegacyResults(t *testing.T) {
	for in, want := range map[string]string{"success": api.Succeeded, "rolled_back": api.Reversed, "failed": "failed", api.Held: api.Held} {
		if got := api.LegacyResult(in); got != want {
			t.Errorf("LegacyResult(%q) = %q; want %q", in, got, want)
		}
	}
}
