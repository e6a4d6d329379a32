package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/steps"
)

// AlertGate is the pre-gate "alerts": a server does not start while alerts matching the configured
// matchers fire. It reads Prometheus' ALERTS series, which exmaintd's own Alertmanager silences do not hide.
type AlertGate struct {
	ep       Endpoint
	matchers []string
	failOpen bool
	http     *http.Client
}

// NewAlertGate validates the matchers. Prometheus is ep (default timeout 10 s).
func NewAlertGate(ep Endpoint, matchers []string, failOpen bool) (*AlertGate, error) {
	for _, m := range matchers {
		if _, err := ParseMatcher(m, "EX01", "ex01.example.com"); err != nil {
			return nil, fmt.Errorf("prometheus.alert_matchers: %w", err)
		}
	}
	if ep.Timeout <= 0 {
		ep.Timeout = 10 * time.Second
	}
	c, err := ep.Client()
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return &AlertGate{ep: ep, matchers: matchers, failOpen: failOpen, http: c}, nil
}

// Name implements steps.PreGate.
func (g *AlertGate) Name() string { return "alerts" }

// Query is the PromQL the gate runs for a server.
func (g *AlertGate) Query(t steps.Target) string {
	sel := []string{`alertstate="firing"`}
	for _, m := range g.matchers {
		pm, _ := ParseMatcher(m, t.Server, t.FQDN)
		sel = append(sel, pm.PromQL())
	}
	return "ALERTS{" + strings.Join(sel, ",") + "}"
}

// Check implements steps.PreGate. Prometheus unreachable fails the gate (closed) unless fail_open.
func (g *AlertGate) Check(ctx context.Context, t steps.Target) error {
	q := g.Query(t)
	names, err := g.firing(ctx, q)
	if err != nil {
		if g.failOpen {
			return nil
		}
		return fmt.Errorf("querying Prometheus (%s): %w", q, err)
	}
	if len(names) > 0 {
		return &steps.GateFailure{Server: t.Server, Gate: "alerts", Reason: "firing: " + strings.Join(names, ", ")}
	}
	return nil
}

func (g *AlertGate) firing(ctx context.Context, q string) ([]string, error) {
	req, err := g.ep.request(ctx, http.MethodGet, "/api/v1/query", url.Values{"query": {q}}, nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.ep.do(g.http, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", resp.Status, r.Error)
	}
	seen := map[string]bool{}
	var names []string
	for _, x := range r.Data.Result {
		n := x.Metric["alertname"]
		if inst := x.Metric["instance"]; inst != "" {
			n += "{instance=" + inst + "}"
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}
