package sentinel_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/exmaintd/exmaintd/sentinel"
)

func TestIsThroughWrapping(t *testing.T) {
	const errLost = sentinel.Error("session lost")
	const errOther = sentinel.Error("something else")
	wrapped := fmt.Errorf("Get-Queue on EX01: %w: %w", errLost, errors.New("EOF"))
	if !errors.Is(wrapped, errLost) {
		t.Errorf("errors.Is(%v, errLost) = false", wrapped)
	}
	if errors.Is(wrapped, errOther) {
		t.Errorf("errors.Is(%v, errOther) = true", wrapped)
	}
	if wrapped.Error() != "Get-Queue on EX01: session lost: EOF" {
		t.Errorf("text %q", wrapped)
	}
}
