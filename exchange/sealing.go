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
	head     *headerLimit
	br       *bufio.Reader
	sec      *gsswrap.Context
	lastUsed time.Time
}

// sealError is a reply that breaks the sealed session: not sealed, not opening with the context, or with
// headers over maxReplyHeader. It is a protocol failure, never evidence that a request did not arrive.
type sealError struct{ err error }

func (e *sealError) Error() string { return e.err.Error() }
func (e *sealError) Unwrap() error { return e.err }

// maxReplyHeader bounds a reply's status line and headers on the sealer's own connection (net/http's
// client bounds them at 10 MiB; a WinRM reply's take a few hundred bytes).
const maxReplyHeader = 64 << 10

// headerLimit is the reader under a sealed connection's bufio.Reader: while a reply's head is read, it
// gives at most left bytes (the bufio.Reader may read up to its buffer's size ahead, into the body).
type headerLimit struct {
	r       io.Reader
	left    int
	limited bool
}

func (h *headerLimit) Read(p []byte) (int, error) {
	if !h.limited {
		return h.r.Read(p)
	}
	if h.left <= 0 {
		return 0, &sealError{err: fmt.Errorf("the reply's status line and headers are over %d bytes", maxReplyHeader)}
	}
	n, err := h.r.Read(p[:min(len(p), h.left)])
	h.left -= n
	return n, err
}

func newKerberosSealer(krb *kerberosAuth, host string) *kerberosSealer {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &kerberosSealer{krb: krb, dial: d.DialContext, addr: host}
}

// RoundTrip sends r (a clear SOAP request) sealed and returns the reply opened, with its original
// Content-Type. A reply that is not sealed, whatever its status, is refused and the connection closed:
// anyone on the path can write one, so a clear "500 ShellNotFound" or "401" cannot tell that a request did
// not arrive (the caller would resend a write the server ran), and its text is not the server's.
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
	if s.conn == nil {
		resp, err := s.connect(r)
		if err != nil || resp != nil {
			return resp, err
		}
	}
	return s.exchange(r, body)
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
	s.conn, s.head = conn, &headerLimit{r: conn}
	s.br = bufio.NewReader(s.head)
	setup, err := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), http.NoBody)
	if err != nil {
		s.closeLocked()
		return nil, err
	}
	copyHeaders(setup, r)
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

// copyHeaders gives a request the sealer writes what the client put on r: the User-Agent and the cookies
// from the endpoint's jar — an affinity cookie (MS-WSMAN) must reach the server with every request of its
// pool, or a load balancer sends them elsewhere (exchsim's affinity.go). The sealer's own requests used to
// carry the User-Agent alone.
func copyHeaders(dst, r *http.Request) {
	dst.Header.Set("User-Agent", r.Header.Get("User-Agent"))
	for _, c := range r.Header.Values("Cookie") {
		dst.Header.Add("Cookie", c)
	}
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
	copyHeaders(req, r)
	req.Header.Set("Content-Type", gsswrap.ContentType)
	resp, data, err := s.send(req)
	if err != nil {
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	if !gsswrap.IsSealed(ct) {
		s.closeLocked()
		return nil, &sealError{err: fmt.Errorf("the server answered a sealed request in clear text (HTTP %d, content type %.80q): refusing it, and not taking it as a sign that the request did not arrive", resp.StatusCode, ct)}
	}
	plain, typ, err := gsswrap.Open(s.sec, ct, data)
	if err != nil {
		s.closeLocked()
		return nil, &sealError{err: fmt.Errorf("the sealed reply does not open: %w", err)}
	}
	data = plain
	resp.Header.Set("Content-Type", typ)
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
	s.head.left, s.head.limited = maxReplyHeader, true
	resp, err := http.ReadResponse(s.br, req)
	s.head.limited = false
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
	s.conn, s.head, s.br, s.sec = nil, nil, nil, nil
}

// CloseIdleConnections closes the connection (http.Client.CloseIdleConnections calls it).
func (s *kerberosSealer) CloseIdleConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}
