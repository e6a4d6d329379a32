package exchange

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Decoders of the JSON documents the generated scripts produce. They are strict about shape (a wrong
// document is an error naming the cmdlet) and tolerant where PowerShell 5.1 is inconsistent: a single row
// arriving as an object instead of a one-element array, and $null for an empty list.

// decodeRows reads a JSON array of T, or a single T.
func decodeRows[T any](cmdlet, payload string) ([]T, error) {
	p := strings.TrimSpace(payload)
	if p == "" || p == "null" {
		return nil, nil
	}
	if strings.HasPrefix(p, "{") {
		var one T
		if err := json.Unmarshal([]byte(p), &one); err != nil {
			return nil, decodeError(cmdlet, payload, err)
		}
		return []T{one}, nil
	}
	var rows []T
	if err := json.Unmarshal([]byte(p), &rows); err != nil {
		return nil, decodeError(cmdlet, payload, err)
	}
	return rows, nil
}

func decodeError(cmdlet, payload string, err error) error {
	return fmt.Errorf("%s: reading its JSON output (%.120q): %w", cmdlet, payload, err)
}

// strList is a JSON list of strings that PowerShell may also render as one string or null.
type strList []string

func (s *strList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		if one == "" {
			*s = nil
		} else {
			*s = []string{one}
		}
		return nil
	}
	var many []*string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = (*s)[:0]
	for _, v := range many {
		if v != nil && *v != "" {
			*s = append(*s, *v)
		}
	}
	return nil
}

// isoTime is an ISO 8601 UTC time string or null.
type isoTime time.Time

func (t *isoTime) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil || *s == "" {
		*t = isoTime{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return fmt.Errorf("time %q is not ISO 8601: %w", *s, err)
	}
	*t = isoTime(v.UTC())
	return nil
}

// SummarizeQueues applies Microsoft's filter (exchange-maintenance.md §1): a drained server has no message in
// any queue except shadow-redundancy queues and the poison queue, which are reported apart.
func SummarizeQueues(qs []Queue) QueueSummary {
	s := QueueSummary{Queues: len(qs) > 0}
	for _, q := range qs {
		switch {
		case q.DeliveryType == "ShadowRedundancy":
			s.Shadow += q.MessageCount
		case q.NextHopDomain == "Poison Message" || strings.HasSuffix(q.Identity, `\Poison`):
			s.Poison += q.MessageCount
		default:
			s.Active += q.MessageCount
			if q.DeliveryType == "Unreachable" {
				s.Unreachable += q.MessageCount
			}
			if q.Status == "Retry" {
				s.Retry += q.MessageCount
			}
		}
		if q.Status == "Suspended" {
			s.Suspended = append(s.Suspended, q.Identity)
		}
	}
	return s
}

type jobRow struct {
	Exists     bool
	State      string
	LastResult *int64
	Exit       *string
	Log        *string
}

type runRow struct {
	Output   strList
	ExitCode int64
}

func parseExitFile(s string) (int, error) {
	v := strings.TrimSpace(strings.TrimPrefix(s, "\ufeff"))
	return strconv.Atoi(v)
}
