package exchange_test

import (
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/exchange"
)

func TestVersion(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		text, product string
		warn          bool
	}{
		{"Version 15.2 (Build 2562.17)", "Exchange Server SE", false},
		{"Version 15.2 (Build 2562.37)", "Exchange Server SE", false},
		{"Version 15.2 (Build 1748.10)", "Exchange Server 2019", true}, // CU15
		{"Version 15.2 (Build 986.5)", "Exchange Server 2019", true},   // the CSS-Exchange capture
		{"Version 15.1 (Build 2507.6)", "Exchange Server 2016", true},
		{"Version 15.0 (Build 1497.2)", "Exchange Server 2013", true},
	} {
		v, err := exchange.ParseVersion(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if v.Product() != tc.product {
			t.Errorf("%s: product %s, want %s", tc.text, v.Product(), tc.product)
		}
		if w := v.SupportWarning(now); (w != "") != tc.warn || (tc.warn && !strings.Contains(w, tc.product)) {
			t.Errorf("%s: warning %q, want one: %v", tc.text, w, tc.warn)
		}
	}
	if w, _ := exchange.ParseVersion("Version 15.1 (Build 2507.6)"); w.SupportWarning(time.Date(2025, 10, 13, 0, 0, 0, 0, time.UTC)) != "" {
		t.Error("2016 warned before its end of support")
	}
	for _, bad := range []string{"", "15.2.2562.17", "Version 15.2", "Version x.y (Build 1.2)"} {
		if _, err := exchange.ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}
