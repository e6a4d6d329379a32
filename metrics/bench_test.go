package metrics_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/exmaintd/exmaintd/metrics"
	"github.com/exmaintd/exmaintd/steps"
)

// scrapeAccept is what Prometheus sends when it scrapes.
const scrapeAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// BenchmarkScrape measures one scrape of /metrics as Prometheus does it (OpenMetrics, gzip) with the
// registry exmaintd serves: the Go and process collectors and exmaintd's own, for an organisation of n
// servers in windows of 12, a few of them busy.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{500, 2000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			var k metrics.Known
			for i := range n {
				k.Servers = append(k.Servers, fmt.Sprintf("EX%04d", i+1))
				if i%12 == 0 {
					k.Windows = append(k.Windows, fmt.Sprintf("w%03d", i/12+1))
				}
			}
			m := metrics.New(reg, "bench", k)
			for _, s := range k.Servers[:8] {
				m.ServerState(s, steps.StateEntering)
				m.StepStarted(s, "drain-queues", time.Now())
				m.WinRMRequest(s, "Receive", "ok", time.Millisecond)
			}
			srv := httptest.NewServer(m.Handler(reg, slog.New(slog.DiscardHandler)))
			b.Cleanup(srv.Close)
			b.ReportAllocs()
			size := 0
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				req.Header.Set("Accept", scrapeAccept)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %s", resp.Status, body)
				}
				_ = resp.Body.Close()
				size = len(body)
			}
			b.ReportMetric(float64(size), "gzip-bytes")
		})
	}
}
