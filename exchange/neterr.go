package exchange

import (
	"errors"
	"net"
)

// isDialError reports whether err happened while connecting (refused, no route, DNS): the request never left.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func errorsIsNotSent(err error) bool { return errors.Is(err, errNotSent) }
