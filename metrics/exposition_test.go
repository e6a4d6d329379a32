package metrics_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/exmaintd/exmaintd/exchange"
	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/steps"
)

// canonical parses a text exposition and writes it back family by family in name order, so that two
// expositions with the same content compare equal whatever their order.
func canonical(tb testing.TB, text []byte) string {
	tb.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		tb.Fatalf("parsing the exposition: %v\n%s", err, text)
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		if _, err := expfmt.MetricFamilyToText(&b, fams[n]); err != nil {
			tb.Fatal(err)
		}
	}
	return b.String()
}

func get(tb testing.TB, h http.Handler, encoding string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestHandlerMatchesClientGolang: the per-server families Handler writes itself are exactly what
// client_golang's encoder writes for the same values (names, help, types, labels, escaping, values).
func TestHandlerMatchesClientGolang(t *testing.T) {
	reg := prometheus.NewRegistry()
	odd := `EX"05\back` + "\nslash" // no configuration allows it; the escaping must hold anyway
	m := metrics.New(reg, "test", metrics.Known{Windows: []string{"monthly"}, Servers: []string{"EX02", "EX01", "EX03", odd}})
	m.ServerState("EX01", steps.StateRebooting)
	m.StepStarted("EX01", "reboot", time.Unix(1_700_000_000, 123_000_000))
	m.StepStarted(odd, "drain-queues", time.Unix(1_700_000_100, 0))
	m.Queues("EX02", exchange.QueueSummary{Active: 123456789, Poison: 2, Shadow: 7, Unreachable: 1, Retry: 3, Queues: true})
	m.Copies("EX02", 12, 3.0e9, 1)
	m.DrainStalled("EX02", "drain-queues", true)
	m.DrainStalled("EX02", "not-a-waiting-step", true)
	m.RollbackFailed("EX03", true)
	m.RollbackFailed("EX09", true) // a removed server the journal still blocks
	m.RunStarted("monthly", time.Unix(1_700_003_600, 0), []string{"EX01"})
	for range 3 {
		m.WinRMRequest("EX01", "Receive", "ok", time.Millisecond)
	}
	m.WinRMRequest("EX01", "Send", "transport", time.Millisecond)
	m.WinRMRequest("EX02", "Send", "something-new", time.Millisecond)
	m.StepFinished("EX02", "drain-queues", false, time.Second, errors.New("x"))

	generic := prometheus.NewRegistry()
	generic.MustRegister(m.ServerCollector())
	mfs, err := prometheus.Gatherers{reg, generic}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&want, mf); err != nil {
			t.Fatal(err)
		}
	}
	h := m.Handler(reg, slog.New(slog.DiscardHandler))
	resp := get(t, h, "")
	plain := resp.Body.Bytes()
	if ct := resp.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header().Get("Content-Encoding") != "" {
		t.Errorf("compressed without Accept-Encoding")
	}
	if got, w := canonical(t, plain), canonical(t, want.Bytes()); got != w {
		t.Errorf("Handler's exposition differs from client_golang's.\n--- got\n%s\n--- want\n%s", got, w)
	}
	// The family blocks must each appear once (the text format forbids a family split in two).
	for _, name := range []string{"exmaintd_server_state", "exmaintd_server_step_info", "exmaintd_winrm_requests_total"} {
		if n := bytes.Count(plain, []byte("# TYPE "+name+" ")); n != 1 {
			t.Errorf("%s: %d TYPE lines", name, n)
		}
	}
	resp = get(t, h, "br;q=1.0, gzip;q=0.8")
	if resp.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip answered with Content-Encoding %q", resp.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Error("the gzip body differs from the plain one")
	}
	if resp := get(t, h, "gzip;q=0, identity"); resp.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 was answered compressed")
	}
}

// blockingGatherer holds every Gather until released, to fill the handler's in-flight slots.
type blockingGatherer struct {
	entered chan struct{}
	release chan struct{}
}

func (g blockingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.entered <- struct{}{}
	<-g.release
	return nil, nil
}

// TestHandlerLimitsConcurrentScrapes: a fifth scrape while four run is refused with 503, not queued (each
// holds a snapshot of every server).
func TestHandlerLimitsConcurrentScrapes(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), "test", metrics.Known{Servers: []string{"EX01"}})
	g := blockingGatherer{entered: make(chan struct{}), release: make(chan struct{})}
	h := m.Handler(g, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	codes := make(chan int, 4)
	for range 4 {
		wg.Go(func() { codes <- get(t, h, "").Code })
		<-g.entered
	}
	if code := get(t, h, "").Code; code != http.StatusServiceUnavailable {
		t.Errorf("fifth concurrent scrape: %d, want 503", code)
	}
	close(g.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a held scrape ended with %d", c)
		}
	}
}

// TestHandlerGatherError: a failing collector fails the scrape whole (500), as promhttp does by default.
func TestHandlerGatherError(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), "test", metrics.Known{Servers: []string{"EX01"}})
	h := m.Handler(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, errors.New("broken collector") }), slog.New(slog.DiscardHandler))
	resp := get(t, h, "")
	if resp.Code != http.StatusInternalServerError || !bytes.Contains(resp.Body.Bytes(), []byte("broken collector")) {
		t.Errorf("%d %s", resp.Code, resp.Body)
	}
}
