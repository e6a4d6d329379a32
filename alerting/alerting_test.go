package alerting_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/alerting"
	"github.com/exmaintd/exmaintd/secret"
	"github.com/exmaintd/exmaintd/steps"
)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in, server, fqdn string
		want             alerting.Matcher
		promql           string
	}{
		{`server="{{server}}"`, "EX01", "", alerting.Matcher{Name: "server", Value: "EX01", IsEqual: true}, `server="EX01"`},
		{`instance=~"(?i)({{server}}|{{fqdn}})(:[0-9]+)?"`, "EX01", "ex01.exlab.local", alerting.Matcher{Name: "instance", Value: `(?i)(EX01|ex01\.exlab\.local)(:[0-9]+)?`, IsRegex: true, IsEqual: true}, `instance=~"(?i)(EX01|ex01\\.exlab\\.local)(:[0-9]+)?"`},
		{`host="{{fqdn}}"`, "EX01", "", alerting.Matcher{Name: "host", Value: "EX01", IsEqual: true}, `host="EX01"`},
		{`instance=~"{{server}}(:.*)?"`, "ex.01", "", alerting.Matcher{Name: "instance", Value: `ex\.01(:.*)?`, IsRegex: true, IsEqual: true}, `instance=~"ex\\.01(:.*)?"`},
		{`severity!="info"`, "", "", alerting.Matcher{Name: "severity", Value: "info"}, `severity!="info"`},
		{`job!~"a|b"`, "", "", alerting.Matcher{Name: "job", Value: "a|b", IsRegex: true}, `job!~"a|b"`},
	}
	for _, tt := range tests {
		got, err := alerting.ParseMatcher(tt.in, tt.server, tt.fqdn)
		if err != nil || got != tt.want || got.PromQL() != tt.promql {
			t.Errorf("ParseMatcher(%q) = %+v %q, %v; want %+v %q", tt.in, got, got.PromQL(), err, tt.want, tt.promql)
		}
	}
	for _, bad := range []string{"server", `server="x`, `9x="y"`, `a=="b"`, `instance=~"({{server}}"`} {
		if _, err := alerting.ParseMatcher(bad, "EX01", ""); err == nil {
			t.Errorf("ParseMatcher(%q) accepted", bad)
		}
	}
}

// fakeAlertmanager records the silence API calls (the real Alertmanager is exercised in e2e).
type fakeAM struct {
	mu      sync.Mutex
	created []map[string]any
	deleted []string
	// failDeletes answers that many DELETEs with 503 first (Alertmanager down or restarting).
	failDeletes int
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/silences":
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.created = append(f.created, body)
		_, _ = io.WriteString(w, `{"silenceID":"s-1"}`)
	case r.Method == http.MethodDelete && f.failDeletes > 0:
		f.failDeletes--
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v2/silence/"):
		f.deleted = append(f.deleted, strings.TrimPrefix(r.URL.Path, "/api/v2/silence/"))
	default:
		http.Error(w, "no", http.StatusNotFound)
	}
}

func TestSilencer(t *testing.T) {
	fake := &fakeAM{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	var recorded []string
	s, err := alerting.NewSilencer(alerting.SilencerOptions{Endpoint: alerting.Endpoint{URL: srv.URL}, Matchers: []string{`server="{{server}}"`},
		Record: func(server, id string, _ time.Time, expired bool) {
			recorded = append(recorded, server+" "+id+" "+map[bool]string{true: "expired", false: "created"}[expired])
		}})
	if err != nil {
		t.Fatal(err)
	}
	ends := time.Date(2026, 11, 29, 4, 30, 0, 0, time.UTC)
	id, err := s.Silence(t.Context(), "EX01", "", "test", ends)
	if err != nil || id != "s-1" || s.Active() != 1 {
		t.Fatalf("Silence = %q, %v, active %d", id, err, s.Active())
	}
	body := fake.created[0]
	if body["endsAt"] != "2026-11-29T04:30:00Z" || body["createdBy"] != "exmaintd" {
		t.Errorf("silence body %v", body)
	}
	ms, _ := json.Marshal(body["matchers"])
	if !strings.Contains(string(ms), `{"isEqual":false,"isRegex":true,"name":"alertname","value":"Exmaintd.*"}`) || !strings.Contains(string(ms), `{"isEqual":true,"isRegex":false,"name":"server","value":"EX01"}`) {
		t.Errorf("matchers %s: want exmaintd's own alerts excluded and the server selected", ms)
	}
	if err := s.Expire(t.Context(), "EX01", ""); err != nil || len(fake.deleted) != 1 || fake.deleted[0] != "s-1" || s.Active() != 0 {
		t.Errorf("Expire: %v, deleted %v", err, fake.deleted)
	}
	if strings.Join(recorded, ";") != "EX01 s-1 created;EX01 s-1 expired" {
		t.Errorf("recorded %v", recorded)
	}
	if _, err := alerting.NewSilencer(alerting.SilencerOptions{Endpoint: alerting.Endpoint{URL: srv.URL}, Matchers: []string{"bad"}}); err == nil {
		t.Error("a bad matcher was accepted")
	}
}

func TestAlertGate(t *testing.T) {
	var query string
	firing := `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"ALERTS","alertname":"DiskFull","instance":"ex01:9182","alertstate":"firing"},"value":[1,"1"]}]}}`
	reply := firing
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.Query().Get("query")
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	g, err := alerting.NewAlertGate(alerting.Endpoint{URL: srv.URL, Timeout: time.Second}, []string{`severity="page"`, `instance=~"{{server}}.*"`}, false)
	if err != nil {
		t.Fatal(err)
	}
	err = g.Check(t.Context(), steps.Target{Server: "ex01"})
	var gf *steps.GateFailure
	if !errors.As(err, &gf) || !strings.Contains(gf.Reason, "DiskFull{instance=ex01:9182}") {
		t.Errorf("firing alert: %v", err)
	}
	if query != `ALERTS{alertstate="firing",severity="page",instance=~"ex01.*"}` {
		t.Errorf("query %s", query)
	}
	reply = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	if err := g.Check(t.Context(), steps.Target{Server: "ex01"}); err != nil {
		t.Errorf("no alerts: %v", err)
	}
	srv.Close()
	if err := g.Check(t.Context(), steps.Target{Server: "ex01"}); err == nil {
		t.Error("Prometheus unreachable: the gate passed (must fail closed)")
	}
	open, _ := alerting.NewAlertGate(alerting.Endpoint{URL: srv.URL, Timeout: time.Second}, nil, true)
	if err := open.Check(t.Context(), steps.Target{Server: "ex01"}); err != nil {
		t.Errorf("fail_open: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	var got alerting.Event
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	t.Cleanup(srv.Close)
	w := alerting.Webhook{Name: "users", Endpoint: alerting.Endpoint{URL: srv.URL, BearerToken: secret.New("tkn")}, Events: []string{"ahead", "abort"}}
	start := time.Date(2026, 11, 14, 22, 0, 0, 0, time.UTC)
	if err := w.Send(t.Context(), alerting.Event{Event: "ahead", Window: "monthly", Servers: []string{"EX01"}, Start: start, End: start.Add(6 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got.Event != "ahead" || !strings.Contains(got.Text, "monthly starts Sat, 14 Nov 2026 22:00:00 UTC") || auth != "Bearer tkn" {
		t.Errorf("got %+v, auth %q", got, auth)
	}
	got = alerting.Event{}
	if err := w.Send(t.Context(), alerting.Event{Event: "start", Window: "monthly"}); err != nil || got.Event != "" {
		t.Errorf("an unwanted event was sent: %+v, %v", got, err)
	}
}

// TestSilenceExpiryRetried: an expiry Alertmanager refuses keeps the silence counted (the gauge tells the
// truth — before, it was forgotten at the first attempt) and is retried with backoff until it succeeds; a
// silence that has ended by itself is given up.
func TestSilenceExpiryRetried(t *testing.T) {
	fake := &fakeAM{failDeletes: 2}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	s, err := alerting.NewSilencer(alerting.SilencerOptions{Endpoint: alerting.Endpoint{URL: srv.URL}, Matchers: []string{`server="{{server}}"`}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	if _, err := s.Silence(t.Context(), "EX01", "", "test", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Expire(t.Context(), "EX01", ""); err == nil || s.Active() != 1 {
		t.Fatalf("a refused expiry: err %v, active %d; want an error and the silence still counted", err, s.Active())
	}
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) bool { waits = append(waits, d); return true }
	if err := s.ExpireRetrying(t.Context(), "EX01", time.Second, func() time.Time { return now }, sleep); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	deleted := fmt.Sprint(fake.deleted)
	fake.failDeletes = 1000
	fake.mu.Unlock()
	if s.Active() != 0 || deleted != "[s-1]" || fmt.Sprint(waits) != "[1s]" {
		t.Errorf("after the retry: active %d, deleted %v, waits %v; want 0, [s-1], [1s]", s.Active(), deleted, waits)
	}

	if _, err := s.Silence(t.Context(), "EX02", "", "test", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock := now
	sleep = func(_ context.Context, d time.Duration) bool { clock = clock.Add(d); return true }
	if err := s.ExpireRetrying(t.Context(), "EX02", 10*time.Second, func() time.Time { return clock }, sleep); err != nil || s.Active() != 0 {
		t.Errorf("a silence past its end: err %v, active %d; want it given up", err, s.Active())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Silence(t.Context(), "EX03", "", "test", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stop := func(context.Context, time.Duration) bool { return false }
	if err := s.ExpireRetrying(ctx, "EX03", time.Second, func() time.Time { return now }, stop); err == nil || s.Active() != 1 {
		t.Errorf("stopped retrying: err %v, active %d; want an error and the silence still counted", err, s.Active())
	}
}

// TestEndpointsKeepSecretsOutOfErrors: a URL's path and query may hold a secret (a webhook's token, an API
// key); errors name only scheme and host. A base URL's query is kept after the API path, and bearer and
// basic authentication are sent.
func TestEndpointsKeepSecretsOutOfErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now: every call fails in the transport
	g, err := alerting.NewAlertGate(alerting.Endpoint{URL: dead + "/prom?key=SECRET-KEY", Timeout: time.Second}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	w := alerting.Webhook{Name: "users", Endpoint: alerting.Endpoint{URL: dead + "/hooks/SECRET-TOKEN"}}
	s, err := alerting.NewSilencer(alerting.SilencerOptions{Endpoint: alerting.Endpoint{URL: dead + "/am?SECRET-Q=1"}, Matchers: []string{`server="{{server}}"`}})
	if err != nil {
		t.Fatal(err)
	}
	_, serr := s.Silence(t.Context(), "EX01", "", "c", time.Now().Add(time.Hour))
	for name, err := range map[string]error{
		"gate":     g.Check(t.Context(), steps.Target{Server: "EX01"}),
		"webhook":  w.Send(t.Context(), alerting.Event{Event: "start", Window: "w"}),
		"silencer": serr,
	} {
		if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), dead) {
			t.Errorf("%s: error %v; want one naming %s and nothing of the path or query", name, err, dead)
		}
	}
	if got := alerting.Redacted("https://user:pw@prom.example:9090/x?y=z"); got != "https://prom.example:9090" {
		t.Errorf("Redacted = %q", got)
	}

	var gotURL, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURL, gotAuth = r.URL.String(), r.Header.Get("Authorization")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		ep       alerting.Endpoint
		wantAuth string
	}{
		{alerting.Endpoint{URL: srv.URL + "/prom/?tenant=a", BearerToken: secret.New("tok")}, "Bearer tok"},
		{alerting.Endpoint{URL: srv.URL + "/prom?tenant=a", BasicUser: "u", BasicPassword: secret.New("p")}, "Basic dTpw"},
	} {
		g, err := alerting.NewAlertGate(tc.ep, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Check(t.Context(), steps.Target{Server: "EX01"}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(gotURL, "/prom/api/v1/query?") || !strings.Contains(gotURL, "tenant=a") || !strings.Contains(gotURL, "query=ALERTS") || gotAuth != tc.wantAuth {
			t.Errorf("request %s with Authorization %q; want /prom/api/v1/query with tenant=a and the query, %q", gotURL, gotAuth, tc.wantAuth)
		}
	}
}
