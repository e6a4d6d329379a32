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

	"github.com/exmaintd/exmaintd/secret"
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
	Name   string
	URL    string
	Events []string
	Lead   time.Duration
	Token  secret.Value
	Client *http.Client
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: %w", w.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if !w.Token.Empty() {
		req.Header.Set("Authorization", "Bearer "+w.Token.Reveal())
	}
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := c.Do(req)
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
