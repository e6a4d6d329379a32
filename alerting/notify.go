package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Event is a user notification: a generic JSON body any Teams/Slack relay can map.
type Event struct {
	Event   string    `json:"event"` // ahead, start, end, abort
	Window  string    `json:"window"`
	Run     string    `json:"run,omitempty"`
	Servers []string  `json:"servers"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Result  string    `json:"result,omitempty"`
	Text    string    `json:"text"` // one human sentence
}

// Webhook is one configured notification target.
type Webhook struct {
	Name     string
	Endpoint Endpoint // its URL, token (BearerToken) and CA
	Events   []string
	Lead     time.Duration
	Client   *http.Client
}

// Wants tells whether the webhook takes this event.
func (w Webhook) Wants(event string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, event)
}

// Send posts e as JSON; a non-2xx answer is an error naming the webhook.
func (w Webhook) Send(ctx context.Context, e Event) error {
	if !w.Wants(e.Event) {
		return nil
	}
	if e.Text == "" {
		e.Text = text(e)
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := w.Endpoint.request(ctx, http.MethodPost, "", nil, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: %w", w.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := w.Client
	if c == nil {
		if c, err = w.Endpoint.Client(); err != nil {
			return fmt.Errorf("notify %s: %w", w.Name, err)
		}
	}
	resp, err := w.Endpoint.do(c, req)
	if err != nil {
		return fmt.Errorf("notify %s: %w", w.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notify %s: %s", w.Name, resp.Status)
	}
	return nil
}

func text(e Event) string {
	switch e.Event {
	case "ahead":
		return fmt.Sprintf("Exchange maintenance %s starts %s and ends by %s (servers %v). Mail may be delayed briefly; no outage is planned.", e.Window, e.Start.Format(time.RFC1123), e.End.Format(time.RFC1123), e.Servers)
	case "start":
		return fmt.Sprintf("Exchange maintenance %s has started (servers %v).", e.Window, e.Servers)
	case "abort":
		return fmt.Sprintf("Exchange maintenance %s was stopped and reversed: %s.", e.Window, e.Result)
	}
	return fmt.Sprintf("Exchange maintenance %s has ended: %s.", e.Window, e.Result)
}
