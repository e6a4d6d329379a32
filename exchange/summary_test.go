package exchange_test

import (
	"slices"
	"testing"

	"github.com/exmaintd/exmaintd/exchange"
)

// TestSummarizeQueuesClasses: every class is counted where Microsoft's filter puts it — shadow and poison
// apart, unreachable and retry inside active — and every suspended queue is named, whatever its class.
func TestSummarizeQueuesClasses(t *testing.T) {
	qs := []exchange.Queue{
		{Identity: `EX01\Submission`, DeliveryType: "Undefined", Status: "Ready", MessageCount: 2, NextHopDomain: "Submission"},
		{Identity: `EX01\17`, DeliveryType: "SmtpDeliveryToMailbox", Status: "Retry", MessageCount: 5, NextHopDomain: "db01"},
		{Identity: `EX01\Unreachable`, DeliveryType: "Unreachable", Status: "Ready", MessageCount: 3, NextHopDomain: "Unreachable Domain"},
		{Identity: `EX01\Shadow\3`, DeliveryType: "ShadowRedundancy", Status: "Suspended", MessageCount: 7, NextHopDomain: "ex02.exlab.local"},
		{Identity: `EX01\Poison`, DeliveryType: "Undefined", Status: "Ready", MessageCount: 1, NextHopDomain: "Poison Message"},
		{Identity: `EX01\18`, DeliveryType: "SmtpRelayToRemoteAdSite", Status: "Suspended", MessageCount: 11, NextHopDomain: "site-b"},
	}
	got := exchange.SummarizeQueues(qs)
	want := exchange.QueueSummary{Active: 2 + 5 + 3 + 11, Poison: 1, Shadow: 7, Unreachable: 3, Retry: 5, Queues: true,
		Suspended: []string{`EX01\Shadow\3`, `EX01\18`}}
	if got.Active != want.Active || got.Poison != want.Poison || got.Shadow != want.Shadow || got.Unreachable != want.Unreachable ||
		got.Retry != want.Retry || got.Queues != want.Queues || !slices.Equal(got.Suspended, want.Suspended) {
		t.Errorf("SummarizeQueues = %+v\nwant               %+v", got, want)
	}
	if s := exchange.SummarizeQueues(nil); s.Queues || s.Active != 0 {
		t.Errorf("no queues: %+v (Queues must be false: the transport has not booted)", s)
	}
}

// TestFaultMessage: a WS-Management fault names its code and subcode, an HTTP error its status; an empty
// message says so rather than ending in a colon.
func TestFaultMessage(t *testing.T) {
	for _, tc := range []struct {
		f    exchange.Fault
		want string
	}{
		{exchange.Fault{Server: "EX01", Verb: "Receive", HTTPStatus: 500, Code: 2150858793, Subcode: "w:TimedOut", Message: "The operation timed out."},
			"winrm Receive on EX01: fault 2150858793 (w:TimedOut): The operation timed out."},
		{exchange.Fault{Server: "EX01", Verb: "Create", HTTPStatus: 503, Message: "Service Unavailable"}, "winrm Create on EX01: http 503: Service Unavailable"},
		{exchange.Fault{Server: "EX02", Verb: "Send", HTTPStatus: 500}, "winrm Send on EX02: http 500: no fault message"},
	} {
		if got := tc.f.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}
