package steps_test

import (
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/steps"
)

// The real client is what the steps run against: this fails to compile if it stops implementing Exchange.
var _ steps.Exchange = (*exchange.Client)(nil)

func TestClientImplementsExchange(t *testing.T) {
	t.Log("*exchange.Client implements steps.Exchange (checked at compile time)")
}
