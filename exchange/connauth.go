package exchange

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
)

// NTLM and Kerberos authenticate a TCP connection, not a request (HTTP.sys keeps the result per
// connection), so both negotiators first send a request without credentials and authenticate only when the
// server answers 401. A server that answers that first request with 200 would never be asked to prove
// anything: an impostor on the path, or behind a spoofed name, could feed queue depths and copy health to a
// client that believed itself authenticated. connAuthCheck therefore accepts a reply only on a connection
// that has completed authentication — this request's or an earlier one's.

// authedConn is a TCP connection of the transport, marked once a request authenticated on it was answered.
type authedConn struct {
	net.Conn
	authenticated atomic.Bool
}

// dialAuthed wraps every dialled connection so that connAuthCheck can mark it.
func dialAuthed(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &authedConn{Conn: c}, nil
	}
}

func asAuthedConn(c net.Conn) *authedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	ac, _ := c.(*authedConn)
	return ac
}

// unauthenticatedReply is a reply from a server that never authenticated the connection it came on.
type unauthenticatedReply struct{ status int }

func (e *unauthenticatedReply) Error() string {
	return fmt.Sprintf("the server answered (HTTP %d) on a connection it never authenticated: without an NTLM or Kerberos "+
		"handshake nothing proves it is the server; refusing its reply", e.status)
}

// connAuthCheck refuses replies on connections that have not completed authentication (NTLM, Kerberos).
type connAuthCheck struct{ next http.RoundTripper }

func (c connAuthCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	// The callbacks run on the transport's goroutines (headers are written by the connection's write loop).
	var connPtr atomic.Pointer[authedConn]
	var sentCredentials atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { // once per attempt of the negotiator: the last one answered
			sentCredentials.Store(false)
			connPtr.Store(asAuthedConn(info.Conn))
		},
		WroteHeaderField: func(key string, values []string) {
			if strings.EqualFold(key, "Authorization") && len(values) > 0 && values[0] != "" {
				sentCredentials.Store(true)
			}
		},
	}
	resp, err := c.next.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	if err != nil || resp.StatusCode == http.StatusUnauthorized {
		return resp, err
	}
	conn := connPtr.Load()
	switch {
	case conn == nil:
		_ = resp.Body.Close()
		return nil, errors.New("the connection of the reply is unknown: cannot check it was authenticated")
	case sentCredentials.Load(): // the negotiator authenticated (and, for Kerberos, verified the server) on it
		conn.authenticated.Store(true)
	case !conn.authenticated.Load():
		_ = resp.Body.Close()
		return nil, &unauthenticatedReply{status: resp.StatusCode}
	}
	return resp, nil
}
