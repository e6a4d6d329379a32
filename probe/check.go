package probe

import (
	"encoding/json"
	"time"
)

// Status is a check's outcome.
type Status string

// Outcomes: OK passed; Fail would stop a window (or a step of it); Warn is worth knowing and stops nothing;
// Skip was not run because an earlier check it needs failed.
const (
	OK   Status = "ok"
	Fail Status = "fail"
	Warn Status = "warning"
	Skip Status = "skipped"
)

// Check is one probe check.
type Check struct {
	Server  string        `json:"server"`
	Channel string        `json:"channel"` // network, winrs, exchange, patching
	Name    string        `json:"check"`
	Status  Status        `json:"status"`
	Detail  string        `json:"detail"`           // what was found
	Remedy  string        `json:"remedy,omitempty"` // what to do about a failure or a warning
	Took    time.Duration `json:"-"`
}

// MarshalJSON writes Took in milliseconds.
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	return json.Marshal(struct {
		plain
		TookMS int64 `json:"took_ms"`
	}{plain(c), c.Took.Milliseconds()})
}

// Report is a probe's result: every check, servers in the order they were given, checks in the order run.
type Report struct {
	Checks []Check       `json:"checks"`
	Took   time.Duration `json:"-"`
}

// OK reports whether nothing would stop a window: no check failed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// Count is how many checks ended with status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}
