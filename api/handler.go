package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/secret"
)

// Options are the handler's dependencies.
type Options struct {
	Controller Controller
	Metrics    http.Handler // GET /metrics (metrics.Metrics.Handler); nil: 404
	// Token authorises the POST actions (Authorization: Bearer <token>). An empty token disables the
	// actions (403) rather than leaving them open.
	Token  secret.Value
	Logger *slog.Logger
	// AllowedHosts are the host names requests may carry in Host (IP literals always pass; see allowHosts).
	// Empty: DefaultAllowedHosts("").
	AllowedHosts []string
	// Now is the clock that paces the log of refused hosts (nil: time.Now).
	Now func() time.Time
}

// NewHandler returns the API's routes. The whole surface is listed here.
func NewHandler(o Options) http.Handler {
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := o.Controller.Ready(r.Context()); err != nil {
			writeError(w, o.Logger, http.StatusServiceUnavailable, "not_ready", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, o.Controller.Status(r.Context()))
	})
	auth := requireToken(o.Token, o.Logger)
	mux.Handle("POST /api/v1/windows/{name}/start", auth(func(w http.ResponseWriter, r *http.Request) {
		id, err := o.Controller.StartWindow(r.Context(), r.PathValue("name"))
		if err != nil {
			writeControllerError(w, o.Logger, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"run_id": id})
	}))
	mux.Handle("POST /api/v1/runs/{id}/abort", auth(func(w http.ResponseWriter, r *http.Request) {
		if err := o.Controller.AbortRun(r.Context(), r.PathValue("id")); err != nil {
			writeControllerError(w, o.Logger, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "aborting"})
	}))
	mux.Handle("POST /api/v1/servers/{name}/clear", auth(func(w http.ResponseWriter, r *http.Request) {
		if err := o.Controller.ClearServer(r.Context(), r.PathValue("name")); err != nil {
			writeControllerError(w, o.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "cleared"})
	}))
	allowed := o.AllowedHosts
	if len(allowed) == 0 {
		allowed = DefaultAllowedHosts("")
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return allowHosts(jsonMuxErrors(mux, o.Logger), allowed, o.Logger, now)
}

// jsonMuxErrors gives the mux's own 404 and 405 answers the API's JSON error shape (keeping Allow), so
// that every error a client sees has one shape.
func jsonMuxErrors(mux *http.ServeMux, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch rec.status {
		case http.StatusMethodNotAllowed:
			writeError(w, logger, rec.status, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
		default:
			writeError(w, logger, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
		}
	})
}

// statusRecorder captures the status and headers of the mux's built-in error handlers.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(status int)      { s.status = status }

func requireToken(token secret.Value, logger *slog.Logger) func(http.HandlerFunc) http.Handler {
	return func(next http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if token.Empty() {
				writeError(w, logger, http.StatusForbidden, "forbidden", "actions are disabled: no API token configured (daemon.api_token)")
				return
			}
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token.Reveal())) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="exmaintd"`)
				writeError(w, logger, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
				return
			}
			next(w, r)
		})
	}
}

// errorBody is the one shape of every error the API returns.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeControllerError(w http.ResponseWriter, logger *slog.Logger, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, logger, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrConflict):
		// The code says conflict; the message says why ("server EX01 is busy in run …"), without a
		// redundant ": conflict" at its end.
		writeError(w, logger, http.StatusConflict, "conflict", strings.TrimSuffix(err.Error(), ": "+ErrConflict.Error()))
	case errors.Is(err, ErrInvalid):
		writeError(w, logger, http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, ErrNotLeader):
		writeError(w, logger, http.StatusMisdirectedRequest, "not_leader", err.Error())
	default:
		logger.Error("api action failed", "err", err)
		writeError(w, logger, http.StatusInternalServerError, "internal", err.Error())
	}
}

func writeError(w http.ResponseWriter, logger *slog.Logger, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	if status >= 500 {
		logger.Warn("api error", "status", status, "code", code, "message", msg)
	}
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}
