package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/exmaintd/exmaintd/exchange"
)

// restartTransport restarts MSExchangeTransport (and the FrontEnd transport) so that HubTransport Draining
// takes effect at once (Microsoft's step 2). Nothing to undo: hubtransport-draining's Undo restarts again.
type restartTransport struct{}

func (restartTransport) Name() string { return "restart-transport" }
func (restartTransport) Describe() string {
	return "Restart-Service MSExchangeTransport, MSExchangeFrontEndTransport (draining takes effect)"
}
func (restartTransport) Record(context.Context, *Env) (json.RawMessage, error) { return nil, nil }
func (restartTransport) Do(ctx context.Context, env *Env, _ json.RawMessage) error {
	return restartServices(ctx, env)
}
func (restartTransport) Verify(ctx context.Context, env *Env, _ json.RawMessage) error {
	if err := servicesRunning(ctx, env, env.Settings.TransportServices); err != nil {
		return err
	}
	_, err := readQueues(ctx, env) // the service runs before its queues exist
	return err
}
func (restartTransport) Undo(context.Context, *Env, json.RawMessage) error       { return nil }
func (restartTransport) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }

// redirectMessage hands the server's queued messages to a peer whose HubTransport is Active (Redirect-Message
// needs an FQDN). A standalone server without peers skips it. Messages moved stay moved: no undo.
type redirectMessage struct{}

type redirectOrig struct {
	Target string `json:"target"` // FQDN, "" when there was no peer
}

func (redirectMessage) Name() string { return "redirect-message" }
func (redirectMessage) Describe() string {
	return "Redirect-Message to the first peer whose HubTransport is Active"
}

func (redirectMessage) Record(ctx context.Context, env *Env) (json.RawMessage, error) {
	target, err := acceptingPeer(ctx, env, nil)
	if err != nil {
		return nil, err
	}
	return encodeOrig(redirectOrig{Target: target})
}

// acceptingPeer is the FQDN of the first peer, not in tried, whose HubTransport and ServerWideOffline are
// Active; "" for a standalone server without one (its queued mail waits until it is back). A DAG member
// without one is an error: its databases' mail would have nowhere to go.
func acceptingPeer(ctx context.Context, env *Env, tried map[string]bool) (string, error) {
	var reasons []string
	for _, p := range env.Target.Peers {
		if tried[p.FQDN] {
			continue
		}
		ok, err := peerAccepts(ctx, env, p.FQDN)
		switch {
		case err != nil:
			reasons = append(reasons, fmt.Sprintf("%s: %v", p.Server, err))
		case ok:
			return p.FQDN, nil
		default:
			reasons = append(reasons, p.Server+": HubTransport or ServerWideOffline not Active")
		}
	}
	if env.Target.DAG != "" {
		return "", fmt.Errorf("no peer can take %s's mail (%s)", env.Target.Server, strings.Join(reasons, "; "))
	}
	return "", nil
}

func effectiveActive(comps []exchange.ComponentState, component string) bool {
	for _, c := range comps {
		if strings.EqualFold(c.Component, component) {
			return c.State == "Active"
		}
	}
	return false
}

func (redirectMessage) Do(ctx context.Context, env *Env, orig json.RawMessage) error {
	o, err := decodeOrig[redirectOrig]("redirect-message", orig)
	if err != nil {
		return err
	}
	// The peer was chosen when the step was recorded; it may have stopped accepting since (another window
	// took it into maintenance). When the refused target itself no longer accepts, that explains the refusal:
	// move on to the next peer that accepts, or, with none left, go on as a server without a peer does (its
	// queued mail waits; a DAG member has none to go without). A refusal from a target that still accepts is
	// the step's error.
	tried := map[string]bool{}
	for target := o.Target; ; {
		if target == "" {
			env.Logger.Info("no peer to redirect to: queued mail waits until the server is back", "server", env.Target.Server)
			return nil
		}
		err := env.Ex.RedirectMessage(ctx, env.Target.Server, target)
		var pe *exchange.PSError
		if err == nil || !errors.As(err, &pe) {
			return err
		}
		if still, cerr := peerAccepts(ctx, env, target); cerr != nil || still {
			return err
		}
		tried[target] = true
		next, perr := acceptingPeer(ctx, env, tried)
		if perr != nil {
			return fmt.Errorf("%w (after %s refused: %w)", perr, target, err)
		}
		env.Logger.Warn("redirect target stopped accepting mail", "server", env.Target.Server, "target", target, "next", next, "err", err)
		target = next
	}
}

// peerAccepts tells whether the peer with fqdn has HubTransport and ServerWideOffline Active.
func peerAccepts(ctx context.Context, env *Env, fqdn string) (bool, error) {
	for _, p := range env.Target.Peers {
		if !strings.EqualFold(p.FQDN, fqdn) {
			continue
		}
		comps, err := env.Ex.ComponentStates(ctx, p.Server)
		if err != nil {
			return false, err
		}
		return effectiveActive(comps, "HubTransport") && effectiveActive(comps, "ServerWideOffline"), nil
	}
	return false, fmt.Errorf("%s is not a peer of %s", fqdn, env.Target.Server)
}

func (redirectMessage) Verify(context.Context, *Env, json.RawMessage) error     { return nil }
func (redirectMessage) Undo(context.Context, *Env, json.RawMessage) error       { return nil }
func (redirectMessage) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }

// drainQueues waits until the server's queues hold no message by Microsoft's filter (shadow-redundancy and
// poison excluded), with stall detection apart from the overall timeout.
type drainQueues struct{}

func (drainQueues) Name() string { return "drain-queues" }
func (drainQueues) Describe() string {
	return "wait until Get-Queue holds no message (shadow redundancy and poison excluded)"
}
func (drainQueues) Record(context.Context, *Env) (json.RawMessage, error) { return nil, nil }

func (drainQueues) Do(ctx context.Context, env *Env, _ json.RawMessage) error {
	err := waitProgress(ctx, env, "drain-queues", "the transport queues to drain", env.Settings.DrainTimeout, env.Settings.DrainStall,
		func(ctx context.Context) (int64, error) {
			qs, err := env.Ex.Queues(ctx, env.Target.Server)
			if err != nil {
				return 0, err
			}
			s := exchange.SummarizeQueues(qs)
			if !hasSubmission(qs, env.Target.Server) {
				return -1, nil // transport still booting after the restart: unknown, not empty (no metric either)
			}
			env.Observer.Queues(env.Target.Server, s)
			return s.Active, nil
		})
	if env.Settings.DrainPolicy != DrainContinue || !errors.Is(err, ErrStalled) && !errors.Is(err, ErrTimedOut) {
		return err
	}
	s, rerr := readQueues(ctx, env)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	w := fmt.Sprintf("%s goes into maintenance with %d messages still queued (%d in Retry, %d Unreachable) after drain_timeout %v: "+
		"they stay in the queue database and leave when the server returns (drain_policy = continue)",
		env.Target.Server, s.Active, s.Retry, s.Unreachable, env.Settings.DrainTimeout)
	env.Logger.Warn(w, "server", env.Target.Server)
	env.warnings = append(env.warnings, w)
	env.drainLeft = true
	return nil
}

func (drainQueues) Verify(ctx context.Context, env *Env, _ json.RawMessage) error {
	s, err := readQueues(ctx, env)
	if err != nil {
		return err
	}
	if s.Active != 0 && !env.drainLeft {
		return fmt.Errorf("queues not empty: %d active messages (%d in Retry, %d Unreachable)", s.Active, s.Retry, s.Unreachable)
	}
	return nil
}
func (drainQueues) Undo(context.Context, *Env, json.RawMessage) error       { return nil }
func (drainQueues) VerifyUndo(context.Context, *Env, json.RawMessage) error { return nil }
