package exchange

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/exmaintd/exmaintd/gsswrap"
	"github.com/exmaintd/exmaintd/sentinel"
)

// Idle limits of a sealed connection: past sealedIdleCheck it is probed before reuse (a server that closed
// it is seen before a request is lost on it), past sealedIdleMax it is replaced (HTTP.sys drops idle
// connections after 120 s).
const (
	sealedIdleCheck = 5 * time.Second
	sealedIdleMax   = 90 * time.Second
)

// kerberosSealer carries WS-Management over plain HTTP as Windows clients do with Kerberos (MS-WSMV
// §2.2.9.1): it authenticates a TCP connection once — an empty POST with the AP-REQ, whose AP-REP proves
// the server and completes a security context — and then seals every request and opens every reply with
// that context (gsswrap). The context belongs to the connection, and net/http's pool would hide which
// connection a request went on, so the connection is this type's own: one at a time, requests in series
// (transport.post serialises them anyway).
type kerberosSealer struct {
	krb  *kerberosAuth
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	addr string // host:port

	mu       sync.Mutex
	conn     net.Conn
	br       *bufio.Reader
	sec      *gsswrap.Context
	lastUsed time.Time
}

// sealError is a reply that breaks the sealed session: not sealed, or not opening with the context.
type sealError struct{ err error }

func (e *sealError) Error() string { return e.err.Error() }
func (e *sealError) Unwrap() error { return e.err }

// errContextLost is a 401 on an established connection: the server forgot the context (an IIS recycle).
const errContextLost = sentinel.Error("the server no longer knows this connection's Kerberos context")

func newKerberosSealer(krb *kerberosAuth, host string) *kerberosSealer {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &kerberosSealer{krb: krb, dial: d.DialContext, addr: host}
}

// RoundTrip sends r (a clear SOAP request) sealed and returns the reply opened, with its original
// Content-Type. A reply that is not sealed is returned as it came when it is not a 200 (a proxy's error
// page, the bare 500 of a refused message) and refused when it is.
func (s *kerberosSealer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && !s.reusable() {
		s.closeLocked()
	}
	fresh := s.conn == nil
	if fresh {
		resp, err := s.connect(r)
		if err != nil || resp != nil {
			return resp, err
		}
	}
	resp, err := s.exchange(r, body)
	if errors.Is(err, errContextLost) && !fresh {
		// Nothing was processed (the 401 came before the body was read): authenticate again and resend.
		s.closeLocked()
		if resp, err := s.connect(r); err != nil || resp != nil {
			return resp, err
		}
		resp, err = s.exchange(r, body)
	}
	if errors.Is(err, errContextLost) {
		s.closeLocked()
		return nil, &kerberosError{err: errors.New("the server refused the Kerberos context it had just accepted")}
	}
	return resp, err
}

// reusable probes an idle connection: a server that closed it has sent EOF, which a short read sees.
func (s *kerberosSealer) reusable() bool {
	idle := time.Since(s.lastUsed)
	if idle > sealedIdleMax {
		return false
	}
	if idle < sealedIdleCheck {
		return true
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := s.br.Peek(1)
	_ = s.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() // nothing to read and not closed: alive
}

// connect dials and sets up the context. It returns a response only when the server refused (a 401 for
// the caller to report) — the connection is then closed.
func (s *kerberosSealer) connect(r *http.Request) (*http.Response, error) {
	conn, err := s.dial(r.Context(), "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	s.conn, s.br = conn, bufio.NewReader(conn)
	setup, err := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), http.NoBody)
	if err != nil {
		s.closeLocked()
		return nil, err
	}
	setup.Header.Set("User-Agent", r.Header.Get("User-Agent"))
	setup.ContentLength = 0
	proof, err := s.krb.authorize(setup)
	if err != nil {
		s.closeLocked()
		return nil, &kerberosError{err: err, transient: strings.Contains(err.Error(), "Networking_Error")}
	}
	resp, data, err := s.send(setup)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		s.closeLocked()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		return resp, nil
	}
	sec, err := proof.sealing(resp)
	if err != nil {
		s.closeLocked()
		return nil, &kerberosError{err: err}
	}
	s.sec = sec
	return nil, nil
}

// exchange sends one sealed request on the established connection.
func (s *kerberosSealer) exchange(r *http.Request, body []byte) (*http.Response, error) {
	sealed, err := gsswrap.Seal(s.sec, r.Header.Get("Content-Type"), body)
	if err != nil {
		s.closeLocked()
		return nil, err
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), bytes.NewReader(sealed))
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", r.Header.Get("User-Agent"))
	req.Header.Set("Content-Type", gsswrap.ContentType)
	resp, data, err := s.send(req)
	if err != nil {
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, errContextLost
	case gsswrap.IsSealed(ct):
		plain, typ, err := gsswrap.Open(s.sec, ct, data)
		if err != nil {
			s.closeLocked()
			return nil, &sealError{err: fmt.Errorf("the sealed reply does not open: %w", err)}
		}
		data = plain
		resp.Header.Set("Content-Type", typ)
	case resp.StatusCode == http.StatusOK:
		s.closeLocked()
		return nil, &sealError{err: fmt.Errorf("the server answered a sealed request in clear text (%s): refusing its reply", ct)}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp, nil
}

// send writes req on the connection and reads the whole reply, within req's context: a cancellation
// unblocks the connection's reads and writes, and the connection is then closed (its state is unknown).
func (s *kerberosSealer) send(req *http.Request) (*http.Response, []byte, error) {
	ctx := req.Context()
	conn := s.conn
	// Only when ctx is done (its error then set): a deadline of the connection's own could expire a moment
	// before ctx's and turn a deadline into a transient transport error, which would be retried.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (*http.Response, []byte, error) {
		s.closeLocked()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	if err := req.Write(s.conn); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(s.br, req)
	if err != nil {
		return fail(err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 2*maxReply))
	_ = resp.Body.Close()
	if err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	_ = s.conn.SetDeadline(time.Time{})
	s.lastUsed = time.Now()
	if resp.Close {
		s.closeLocked()
	}
	return resp, data, nil
}

func (s *kerberosSealer) closeLocked() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn, s.br, s.sec = nil, nil, nil
}

// CloseIdleConnections closes the connection (http.Client.CloseIdleConnections calls it).
func (s *kerberosSealer) CloseIdleConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}
