package exchange

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/exmaintd/exmaintd/secret"
)

// TestReplyLimit: a reply of exactly maxReply bytes is read whole; one byte more is a protocol error, not
// a reply cut at the limit.
func TestReplyLimit(t *testing.T) {
	envelope := func(n int) []byte { // a well-formed SOAP envelope of exactly n bytes
		head, tail := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`, `</s:Body></s:Envelope>`
		return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
	}
	var mu sync.Mutex
	var reply []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = w.Write(reply)
	}))
	t.Cleanup(srv.Close)
	tr, err := newTransport(Endpoint{Name: "EX01", Auth: AuthBasic, User: "u", Password: secret.New("p"), AllowUnencrypted: true},
		srv.URL+"/wsman", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.close)
	for _, tc := range []struct {
		size int
		ok   bool
	}{{maxReply, true}, {maxReply + 1, false}} {
		mu.Lock()
		reply = envelope(tc.size)
		mu.Unlock()
		got, err := tr.postOnce(t.Context(), "Get", "<x/>")
		var pe *ProtocolError
		switch {
		case tc.ok && (err != nil || len(got) != tc.size):
			t.Errorf("a reply of %d bytes: %d bytes read, %v", tc.size, len(got), err)
		case !tc.ok && (!errors.As(err, &pe) || !strings.Contains(err.Error(), "larger than")):
			t.Errorf("a reply of %d bytes: %v; want a protocol error naming the limit", tc.size, err)
		}
	}
}

// TestScrub: a password in an error's text is replaced; an error without it, or no password, is kept as is.
func TestScrub(t *testing.T) {
	err := errors.New(`Post "http://admin:s3cret@ex01/wsman": dial tcp: refused`)
	if got := scrub(err, secret.New("s3cret")).Error(); strings.Contains(got, "s3cret") || !strings.Contains(got, "<redacted>") {
		t.Errorf("scrub = %q", got)
	}
	if got := scrub(err, secret.Value{}); !errors.Is(got, err) {
		t.Errorf("with no password the error changed: %v", got)
	}
	other := errors.New("connection refused")
	if got := scrub(other, secret.New("s3cret")); !errors.Is(got, other) {
		t.Errorf("an error without the password changed: %v", got)
	}
}

// TestCookiesKept: a cookie the endpoint sets comes back with every later request to it (an affinity
// cookie keeps a pool's requests on one back end); another transport does not send it.
func TestCookiesKept(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Cookie"))
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "X-BackEndCookie", Value: "ex02", Path: "/"})
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = w.Write([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`))
	}))
	t.Cleanup(srv.Close)
	newT := func() *transport {
		tr, err := newTransport(Endpoint{Name: "EX01", Auth: AuthBasic, User: "u", Password: secret.New("p"), AllowUnencrypted: true},
			srv.URL+"/PowerShell", slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.close)
		return tr
	}
	a, b := newT(), newT()
	for _, tr := range []*transport{a, a, b} {
		if _, err := tr.postOnce(t.Context(), "Get", "<x/>"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != "" || seen[1] != "X-BackEndCookie=ex02" || seen[2] != "" {
		t.Errorf("cookies sent %q; want none, the endpoint's, none (a new transport)", seen)
	}
}

// TestCookieJarBounded: a server cannot grow the jar without end: a cookie over maxCookieBytes is
// dropped, and once maxCookies names are kept a new name is dropped while a known one is still updated.
func TestCookieJarBounded(t *testing.T) {
	u, _ := url.Parse("http://ex02.exlab.local/PowerShell")
	j := newJar()
	j.SetCookies(u, []*http.Cookie{{Name: "big", Value: strings.Repeat("x", maxCookieBytes)}, {Name: "fits", Value: strings.Repeat("y", maxCookieBytes-4)}})
	for i := range maxCookies + 10 {
		j.SetCookies(u, []*http.Cookie{{Name: "c" + strconv.Itoa(i), Value: "1"}})
	}
	j.SetCookies(u, []*http.Cookie{{Name: "c0", Value: "2"}})
	got := map[string]string{}
	for _, c := range j.Cookies(u) {
		got[c.Name] = c.Value
	}
	if len(got) != maxCookies || got["big"] != "" || len(got["fits"]) != maxCookieBytes-4 || got["c0"] != "2" || got["c"+strconv.Itoa(maxCookies)] != "" {
		t.Errorf("%d cookies kept (big %d bytes, fits %d, c0 %q); want %d: the first names, none over %d bytes, a known one updated",
			len(got), len(got["big"]), len(got["fits"]), got["c0"], maxCookies, maxCookieBytes)
	}
}
