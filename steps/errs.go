package steps

import "errors"

func asGateError(err error, target **GateFailure) bool { return errors.As(err, target) }
