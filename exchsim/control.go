package exchsim

import (
	"encoding/json"
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
