package exchsim

import (
	"encoding/json"

	"github.com/exmaintd/exmaintd/exchsim/org"
	"net/http"
	"time"
)

// controlAPI serves /sim/v1/: GET state, GET requests, POST/DELETE faults, POST reset. JSON in and out;
// errors as {"error": "..."}.
func (s *Sim) controlAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sim/v1/state", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.org.Snapshot())
	})
	mux.HandleFunc("GET /sim/v1/requests", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Requests())
	})
	mux.HandleFunc("POST /sim/v1/faults", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Fault
			DelayMS int64 `json:"delay_ms"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "fault: " + err.Error()})
			return
		}
		f := body.Fault
		if body.DelayMS > 0 {
			f.Delay = time.Duration(body.DelayMS) * time.Millisecond
		}
		if err := s.InjectFault(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "injected"})
	})
	mux.HandleFunc("DELETE /sim/v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ClearFaults(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "cleared"})
	})
	mux.HandleFunc("POST /sim/v1/clock", func(w http.ResponseWriter, r *http.Request) {
		mc, ok := s.opts.Clock.(*org.ManualClock)
		if !ok {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "the simulation runs on the wall clock; start it with a manual clock (exchsim -clock manual) to drive time"})
			return
		}
		var body struct {
			AdvanceMS int64 `json:"advance_ms"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.AdvanceMS <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "clock: want {\"advance_ms\": N} with N > 0"})
			return
		}
		mc.Advance(time.Duration(body.AdvanceMS) * time.Millisecond)
		writeJSON(w, http.StatusOK, map[string]string{"now": mc.Now().UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("POST /sim/v1/reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ClearFaults(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		_ = s.org.Reset()
		s.ResetRequests()
		writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
