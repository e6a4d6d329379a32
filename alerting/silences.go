package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OwnAlerts is the matcher every silence carries so that it can never cover exmaintd's own alerts.
func OwnAlerts() Matcher {
	return Matcher{Name: "alertname", Value: "Exmaintd.*", IsRegex: true, IsEqual: false}
}

// Silencer creates and expires Alertmanager silences for servers in maintenance.
type Silencer struct {
	ep        Endpoint
	matchers  []string
	createdBy string
	http      *http.Client
	logger    *slog.Logger
	record    func(server, id string, ends time.Time, expired bool) // journals silence ids

	mu  sync.Mutex
	ids map[string]silence // server → its silence, until an expiry succeeds or it has ended
}

// silence is one silence this Silencer created.
type silence struct {
	id   string
	ends time.Time
}

// SilencerOptions configure a Silencer.
type SilencerOptions struct {
	Endpoint  Endpoint // Alertmanager
	Matchers  []string // config alertmanager.silence_matchers ({{server}} replaced)
	CreatedBy string
	Client    *http.Client
	Logger    *slog.Logger
	// Record is called after a silence is created or expired (the daemon journals it); may be nil.
	Record func(server, id string, ends time.Time, expired bool)
}

// NewSilencer returns a Silencer; it validates the matchers.
func NewSilencer(o SilencerOptions) (*Silencer, error) {
	for _, m := range o.Matchers {
		if _, err := ParseMatcher(m, "EX01", "ex01.example.com"); err != nil {
			return nil, fmt.Errorf("alertmanager.silence_matchers: %w", err)
		}
	}
	if o.Client == nil {
		c, err := o.Endpoint.Client()
		if err != nil {
			return nil, fmt.Errorf("alertmanager: %w", err)
		}
		o.Client = c
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CreatedBy == "" {
		o.CreatedBy = "exmaintd"
	}
	return &Silencer{ep: o.Endpoint, matchers: o.Matchers, createdBy: o.CreatedBy, http: o.Client, logger: o.Logger, record: o.Record, ids: map[string]silence{}}, nil
}

// Silence creates a silence for server until ends (the window's end plus a margin, so that a crashed
// exmaintd cannot leave it forever) and returns its id.
func (s *Silencer) Silence(ctx context.Context, server, fqdn, comment string, ends time.Time) (string, error) {
	ms := []Matcher{OwnAlerts()}
	for _, m := range s.matchers {
		pm, err := ParseMatcher(m, server, fqdn)
		if err != nil {
			return "", err
		}
		ms = append(ms, pm)
	}
	body, _ := json.Marshal(map[string]any{"matchers": ms, "startsAt": time.Now().UTC().Format(time.RFC3339), "endsAt": ends.UTC().Format(time.RFC3339),
		"createdBy": s.createdBy, "comment": comment})
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := s.do(ctx, http.MethodPost, "/api/v2/silences", body, &out); err != nil {
		return "", fmt.Errorf("silence for %s: %w", server, err)
	}
	s.mu.Lock()
	s.ids[server] = silence{id: out.SilenceID, ends: ends}
	s.mu.Unlock()
	if s.record != nil {
		s.record(server, out.SilenceID, ends, false)
	}
	s.logger.Info("silence created", "server", server, "id", out.SilenceID, "ends", ends)
	return out.SilenceID, nil
}

// Expire ends server's silence (or the given id when known from the journal). A silence whose expiry
// fails stays counted in Active, so the gauge tells the truth; ExpireRetrying tries again.
func (s *Silencer) Expire(ctx context.Context, server, id string) error {
	s.mu.Lock()
	known := id == ""
	if known {
		id = s.ids[server].id
	}
	s.mu.Unlock()
	if id == "" {
		return nil
	}
	if err := s.do(ctx, http.MethodDelete, "/api/v2/silence/"+url.PathEscape(id), nil, nil); err != nil {
		return fmt.Errorf("expiring the silence for %s: %w", server, err)
	}
	s.mu.Lock()
	if known || s.ids[server].id == id {
		delete(s.ids, server)
	}
	s.mu.Unlock()
	if s.record != nil {
		s.record(server, id, time.Time{}, true)
	}
	s.logger.Info("silence expired", "server", server, "id", id)
	return nil
}

// ExpireRetrying expires server's silence, retrying with backoff (from first, doubling, at most a minute)
// until it succeeds, the silence has ended by itself (then it is forgotten), or ctx ends. sleep waits
// (a clock's Sleep: false when ctx ended).
func (s *Silencer) ExpireRetrying(ctx context.Context, server string, first time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) bool) error {
	backoff := first
	for {
		err := s.Expire(ctx, server, "")
		if err == nil {
			return nil
		}
		s.mu.Lock()
		sil, ok := s.ids[server]
		if ok && !now().Before(sil.ends) {
			delete(s.ids, server) // Alertmanager ends it by itself now
			ok = false
		}
		s.mu.Unlock()
		if !ok {
			return nil
		}
		s.logger.Warn("expiring a silence failed; retrying", "server", server, "id", sil.id, "retry_in", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return fmt.Errorf("giving up expiring the silence for %s (it ends at %s): %w", server, sil.ends.Format(time.RFC3339), err)
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// Active is the number of silences this Silencer holds.
func (s *Silencer) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *Silencer) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := s.ep.request(ctx, method, path, nil, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.ep.do(s.http, req)
	if err != nil {
		return fmt.Errorf("alertmanager %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alertmanager %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
