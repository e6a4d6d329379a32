package steps

import "errors"

func asGateError(err error, target **GateFailure) bool { return errors.As(err, target) }

// BlockedError: the server is marked rollback_failed and not cleared.
type BlockedError struct{ Server string }

func (e *BlockedError) Error() string {
	return e.Server + " is marked rollback_failed: exmaintd will not touch it until an operator clears it"
}

func errBlocked(server string) error { return &BlockedError{Server: server} }

// StoppedError: an earlier server of the group failed beyond the failure budget.
type StoppedError struct{ Group, After string }

func (e *StoppedError) Error() string {
	return "group " + e.Group + " stopped after " + e.After + " failed (failure budget spent)"
}

func errStopped(group, after string) error { return &StoppedError{Group: group, After: after} }

// HoldError is an Undo failure that stops a reverse where it is: undoing the earlier steps would bring the
// server back into service while something on it is unfinished — a patch still installing. The server stays
// in maintenance, marked rollback_failed with the reason, for an operator.
type HoldError struct{ Reason string }

func (e *HoldError) Error() string {
	return e.Reason + "; the server stays in maintenance for an operator"
}
