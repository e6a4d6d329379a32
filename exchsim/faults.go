package exchsim

import (
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/org"
	"github.com/exmaintd/exmaintd/exchsim/wsman"
)

// Fault is a fault to inject: transport kinds (http_500, malformed_xml, truncated_xml, slow, auth_failure,
// reset, ntlm_split, unreachable) act on the WinRM listener, model kinds (stuck_queue, copy_failure, move_fails,
// cmdlet_error, reboot_never_returns, setup_running) on the organisation. Server "" means every server.
type Fault struct {
	Kind    string        `json:"kind"`
	Server  string        `json:"server,omitempty"`
	Target  string        `json:"target,omitempty"`
	Message string        `json:"message,omitempty"`
	Delay   time.Duration `json:"delay,omitempty"` // for slow, in nanoseconds in JSON; see the control API for "delay_ms"
	// Actions limits a transport fault to some WinRM actions (e.g. ["Receive"]).
	Actions []string `json:"actions,omitempty"`
}

// InjectFault injects f.
func (s *Sim) InjectFault(f Fault) error {
	var targets []*host
	for _, h := range s.snapshotHosts() {
		if f.Server == "" || strings.EqualFold(f.Server, h.ep.Name) {
			targets = append(targets, h)
		}
	}
	if f.Server != "" && len(targets) == 0 {
		return fmt.Errorf("exchsim: fault %s: unknown server %q", f.Kind, f.Server)
	}
	switch k := wsman.FaultKind(f.Kind); k {
	case wsman.FaultHTTP500, wsman.FaultMalformedXML, wsman.FaultTruncatedXML, wsman.FaultSlow, wsman.FaultAuthFailure, wsman.FaultReset, wsman.FaultNTLMSplit:
		for _, h := range targets {
			h.wsman.SetFault(wsman.Fault{Kind: k, Delay: f.Delay, Actions: f.Actions})
		}
		return nil
	}
	if f.Kind == "unreachable" {
		if f.Server == "" {
			// Every listener serves the control API too: closing all of them would leave nothing to clear
			// the fault with.
			return fmt.Errorf("exchsim: fault unreachable: a server is required (with none, every listener would close, the control API's with them)")
		}
		for _, h := range targets {
			h.wsman.DropShells()
			h.stop()
		}
		return nil
	}
	if err := s.org.InjectFault(org.Fault{Kind: f.Kind, Server: f.Server, Target: f.Target, Message: f.Message}); err != nil {
		return fmt.Errorf("exchsim: %w", err)
	}
	return nil
}

// ClearFaults removes every fault and brings unreachable servers back (a server still rebooting stays down
// until its reboot ends). A running Exchange setup (setup_running) ends; what faults did to the model's
// state stays, as it would on a real server (see the control API in README.md).
func (s *Sim) ClearFaults() error {
	s.org.ClearFaults()
	for _, h := range s.snapshotHosts() {
		h.wsman.ClearFault()
		if s.org.Rebooting(h.ep.Name) {
			continue
		}
		if err := h.restart(); err != nil {
			return err
		}
	}
	return nil
}
