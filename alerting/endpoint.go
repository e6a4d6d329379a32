package alerting

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/secret"
)

// Endpoint is an HTTP service exmaintd calls — Prometheus, Alertmanager, a webhook — and how to
// authenticate to it. Its URL may carry a secret (a webhook's path token, an API key in the query), so it
// never appears in errors or logs: only Redacted does.
type Endpoint struct {
	URL           string
	BearerToken   secret.Value
	BasicUser     string
	BasicPassword secret.Value
	// CACertPEM, when set, is trusted instead of the system's roots.
	CACertPEM []byte
	Timeout   time.Duration
}

// Redacted is what of a URL may be shown: its scheme and host.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(an unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Client is the endpoint's HTTP client (its timeout and trusted CAs); build it once per endpoint, so that
// calls reuse its connections.
func (e Endpoint) Client() (*http.Client, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	c := &http.Client{Timeout: timeout}
	if len(e.CACertPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.CACertPEM) {
			return nil, fmt.Errorf("%s: ca_file holds no PEM certificate", Redacted(e.URL))
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.Transport = t
	}
	return c, nil
}

// request builds a request for path below the base URL: the path is appended to the base's path and the
// base's query (an API key, a tenant) is kept, merged with query.
func (e Endpoint) request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, errors.New("the configured URL does not parse") // url.Parse's error would quote it
	}
	if path != "" {
		u.Path = strings.TrimRight(u.Path, "/") + path
		u.RawPath = ""
	}
	if len(query) > 0 {
		q := u.Query()
		for k, vs := range query {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot build a %s request", Redacted(e.URL), method)
	}
	switch {
	case !e.BearerToken.Empty():
		req.Header.Set("Authorization", "Bearer "+e.BearerToken.Reveal())
	case e.BasicUser != "":
		req.SetBasicAuth(e.BasicUser, e.BasicPassword.Reveal())
	}
	return req, nil
}

// do sends req with c; a transport error names only the scheme and host.
func (e Endpoint) do(c *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = Redacted(ue.URL)
		}
		return nil, err
	}
	return resp, nil
}
