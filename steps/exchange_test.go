package steps_test

import (
	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/steps"
)

// The real client is what the steps run against: this fails to compile if it stops implementing Exchange.
var _ steps.Exchange = (*exchange.Client)(nil)
