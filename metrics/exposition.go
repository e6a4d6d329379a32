package metrics

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Handler serves /metrics in the Prometheus text format (0.0.4, what promhttp serves unless OpenMetrics is
// enabled): first g's families through client_golang's encoder, then the per-server families written
// straight from their records. At 2,000 servers the per-server families are 60,000 series; building a
// client_model message for each, sorting and encoding them took most of a 150 ms scrape and allocated
// 45 MB per scrape (BENCHMARKS.md). The text they produce is the same (TestHandlerMatchesClientGolang).
// g must not include ServerCollector. At most 4 scrapes run at once; more get 503, as promhttp does.
func (m *Metrics) Handler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return &handler{g: g, servers: m.servers, logger: logger, inFlight: make(chan struct{}, 4),
		gzips: sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }}}
}

// ServerCollector is the per-server families as an ordinary collector, for registries other than the one
// Handler serves (tests, linting). Handler does not need it.
func (m *Metrics) ServerCollector() prometheus.Collector { return m.servers }

type handler struct {
	g        prometheus.Gatherer
	servers  *servers
	logger   *slog.Logger
	inFlight chan struct{}
	gzips    sync.Pool // *gzip.Writer at BestSpeed: a scrape is CPU on a small host, bytes on a LAN are cheap
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
	default:
		http.Error(w, "too many concurrent scrapes", http.StatusServiceUnavailable)
		return
	}
	mfs, err := h.g.Gather()
	if err != nil { // nothing written yet: the scrape fails whole, as promhttp's default HTTPErrorOnError
		h.logger.Error("gathering metrics", "err", err)
		http.Error(w, "gathering metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		gz := h.gzips.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() {
			_ = gz.Close()
			h.gzips.Put(gz)
		}()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			h.logger.Debug("writing metrics", "err", err) // the scraper went away
			return
		}
	}
	h.servers.writeText(bw)
	if err := bw.Flush(); err != nil {
		h.logger.Debug("writing metrics", "err", err)
	}
}

// acceptsGzip reads Accept-Encoding as promhttp does: gzip listed with a q other than 0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

// perServer is one per-server family: a value per server, or per server and value of a second label.
type perServer struct {
	name, typ string
	label     string   // the second label ("" for none)
	values    []string // its values
	all       bool     // also for servers kept only because their rollback failed
	value     func(r *namedRecord, i int) float64
}

// writeText renders the per-server families from one snapshot, each family's samples in the order
// client_golang uses: labels by name, samples sorted by label values in that order.
func (s *servers) writeText(w *bufio.Writer) {
	snap := s.snapshot()
	one := func(f func(r *namedRecord) float64) func(*namedRecord, int) float64 {
		return func(r *namedRecord, _ int) float64 { return f(r) }
	}
	fams := []perServer{
		{name: "exmaintd_database_copies_unhealthy", typ: "gauge", value: one(func(r *namedRecord) float64 { return r.unhealthy })},
		{name: "exmaintd_database_copy_queue_length_max", typ: "gauge", value: one(func(r *namedRecord) float64 { return r.copyQueue })},
		{name: "exmaintd_database_replay_queue_length_max", typ: "gauge", value: one(func(r *namedRecord) float64 { return r.replayQueue })},
		{name: "exmaintd_drain_stalled", typ: "gauge", label: "step", values: s.waiting, value: func(r *namedRecord, i int) float64 { return b2f(r.stalled[i]) }},
		{name: "exmaintd_server_in_run", typ: "gauge", value: one(func(r *namedRecord) float64 { return b2f(r.inRun) })},
		{name: "exmaintd_server_rollback_failed", typ: "gauge", all: true, value: one(func(r *namedRecord) float64 { return b2f(r.rollbackFailed) })},
		{name: "exmaintd_server_state", typ: "gauge", label: "state", values: s.states, value: func(r *namedRecord, i int) float64 { return b2f(r.state == i) }},
		{name: "exmaintd_server_step_started_timestamp_seconds", typ: "gauge", value: one(func(r *namedRecord) float64 { return r.stepStarted })},
		{name: "exmaintd_transport_queue_messages", typ: "gauge", label: "class", values: s.queueClasses, value: func(r *namedRecord, i int) float64 { return r.queue[i] }},
		{name: "exmaintd_winrm_requests_total", typ: "counter", label: "result", values: s.results, value: func(r *namedRecord, i int) float64 { return r.winrm[i] }},
	}
	var line []byte
	sample := func(name, label, value string, server string, v float64) {
		line = append(line[:0], name...)
		line = append(line, '{')
		if label != "" && label < "server" {
			line = appendLabel(line, label, value)
			line = append(line, ',')
		}
		line = appendLabel(line, "server", server)
		if label != "" && label > "server" {
			line = append(line, ',')
			line = appendLabel(line, label, value)
		}
		line = append(line, "} "...)
		line = appendFloat(line, v)
		line = append(line, '\n')
		_, _ = w.Write(line)
	}
	for _, f := range fams {
		_, _ = fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(s.help[f.name]), f.name, f.typ)
		order := sortedIndex(f.values)
		if f.label == "" {
			order = []int{0}
		}
		emit := func(r *namedRecord, i int) {
			if !r.configured && !f.all {
				return
			}
			value := ""
			if f.label != "" {
				value = f.values[i]
			}
			sample(f.name, f.label, value, r.name, f.value(r, i))
		}
		if f.label < "server" { // sorted by the second label first, then by server
			for _, i := range order {
				for k := range snap {
					emit(&snap[k], i)
				}
			}
			continue
		}
		for k := range snap {
			for _, i := range order {
				emit(&snap[k], i)
			}
		}
	}
	// The step in progress exists only while a step runs; no step anywhere, no family (as client_golang).
	header := false
	for k := range snap {
		if r := &snap[k]; r.configured && r.step != "" {
			if !header {
				_, _ = fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", "exmaintd_server_step_info", escapeHelp(s.help["exmaintd_server_step_info"]), "exmaintd_server_step_info")
				header = true
			}
			sample("exmaintd_server_step_info", "step", r.step, r.name, 1)
		}
	}
}

// appendLabel appends name="value" with the value escaped.
func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value)
	return append(b, '"')
}

// sortedIndex returns the indexes of names in the order of the sorted names.
func sortedIndex(names []string) []int {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	return idx
}

// appendEscaped escapes a label value as the text format requires: backslash, double quote and newline.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// escapeHelp escapes a HELP text: backslash and newline.
func escapeHelp(h string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(h)
}

// appendFloat writes a sample value as expfmt does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
