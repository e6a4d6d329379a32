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

// list is a JSON list that PowerShell renders as a single object when it has one element (a calculated
// property's script block output is unrolled, so @(x) of one x becomes x) and as null when empty.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	p := strings.TrimSpace(string(b))
	switch {
	case p == "null":
		*l = nil
		return nil
	case strings.HasPrefix(p, "["):
		var many []T
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*l = many
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*l = []T{one}
	return nil
}

type requesterRow struct {
	Requester string
	State     string
	Timestamp isoTime
}

type componentRow struct {
	ServerFqdn   string
	Component    string
	State        string
	LocalStates  list[requesterRow]
	RemoteStates list[requesterRow]
}

func decodeComponentStates(payload string) ([]ComponentState, error) {
	rows, err := decodeRows[componentRow]("Get-ServerComponentState", payload)
	if err != nil {
		return nil, err
	}
	conv := func(rs []requesterRow) []RequesterState {
		out := make([]RequesterState, 0, len(rs))
		for _, r := range rs {
			out = append(out, RequesterState{Requester: r.Requester, State: r.State, Timestamp: time.Time(r.Timestamp)})
		}
		return out
	}
	out := make([]ComponentState, 0, len(rows))
	for _, r := range rows {
		if r.Component == "" {
			return nil, decodeError("Get-ServerComponentState", payload, fmt.Errorf("a row without Component"))
		}
		out = append(out, ComponentState{Server: r.ServerFqdn, Component: r.Component, State: r.State, LocalStates: conv(r.LocalStates), RemoteStates: conv(r.RemoteStates)})
	}
	return out, nil
}

func decodeQueues(payload string) ([]Queue, error) {
	rows, err := decodeRows[Queue]("Get-Queue", payload)
	if err != nil {
		return nil, err
	}
	for _, q := range rows {
		if q.Identity == "" || q.MessageCount < 0 {
			return nil, decodeError("Get-Queue", payload, fmt.Errorf("a row without Identity or with a negative MessageCount"))
		}
	}
	return rows, nil
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
		}
		if q.Status == "Suspended" {
			s.Suspended = append(s.Suspended, q.Identity)
		}
	}
	return s
}

type kv struct {
	Key   string
	Value int64
}

type copiesDoc struct {
	Copies    json.RawMessage
	Databases json.RawMessage
}

type copyRow struct {
	Name                string
	DatabaseName        string
	MailboxServer       string
	Status              string
	ActiveCopy          bool
	ActiveDatabaseCopy  string
	ActivationSuspended bool
	CopyQueueLength     int64
	ReplayQueueLength   int64
	ContentIndexState   string
}

type dbPrefRow struct {
	Name                 string
	ActivationPreference list[kv]
	ReplayLagTimes       list[kv]
}

func decodeCopies(payload string) ([]CopyStatus, error) {
	const cmdlet = "Get-MailboxDatabaseCopyStatus"
	var doc copiesDoc
	if err := json.Unmarshal([]byte(payload), &doc); err != nil {
		return nil, decodeError(cmdlet, payload, err)
	}
	rows, err := decodeRows[copyRow](cmdlet, string(doc.Copies))
	if err != nil {
		return nil, err
	}
	dbs, err := decodeRows[dbPrefRow]("Get-MailboxDatabase", string(doc.Databases))
	if err != nil {
		return nil, err
	}
	type key struct{ db, server string }
	pref, lag := map[key]int64{}, map[key]int64{}
	for _, d := range dbs {
		for _, p := range d.ActivationPreference {
			pref[key{strings.ToUpper(d.Name), strings.ToUpper(p.Key)}] = p.Value
		}
		for _, l := range d.ReplayLagTimes {
			lag[key{strings.ToUpper(d.Name), strings.ToUpper(l.Key)}] = l.Value
		}
	}
	out := make([]CopyStatus, 0, len(rows))
	for _, r := range rows {
		if r.Name == "" || r.DatabaseName == "" || r.CopyQueueLength < 0 || r.ReplayQueueLength < 0 {
			return nil, decodeError(cmdlet, payload, fmt.Errorf("a row without Name or with a negative queue length"))
		}
		k := key{strings.ToUpper(r.DatabaseName), strings.ToUpper(r.MailboxServer)}
		out = append(out, CopyStatus{Name: r.Name, DatabaseName: r.DatabaseName, MailboxServer: r.MailboxServer, Status: r.Status,
			ActiveCopy: r.ActiveCopy, ActiveDatabaseCopy: r.ActiveDatabaseCopy, ActivationSuspended: r.ActivationSuspended,
			CopyQueueLength: r.CopyQueueLength, ReplayQueueLength: r.ReplayQueueLength, ContentIndexState: r.ContentIndexState,
			ActivationPreference: int(pref[k]), ReplayLagTime: time.Duration(lag[k]) * time.Second})
	}
	return out, nil
}

type databaseRow struct {
	Name                  string
	Server                string
	ReplicationType       string
	Mounted               bool
	Servers               strList
	LastFullBackup        isoTime
	LastIncrementalBackup isoTime
	UserMailboxes         int64
	ArbitrationMailboxes  int64
}

func decodeDatabases(payload string) ([]Database, error) {
	rows, err := decodeRows[databaseRow]("Get-MailboxDatabase", payload)
	if err != nil {
		return nil, err
	}
	out := make([]Database, 0, len(rows))
	for _, r := range rows {
		if r.Name == "" {
			return nil, decodeError("Get-MailboxDatabase", payload, fmt.Errorf("a row without Name"))
		}
		out = append(out, Database{Name: r.Name, Server: r.Server, ReplicationType: r.ReplicationType, Mounted: r.Mounted, Servers: r.Servers,
			LastFullBackup: time.Time(r.LastFullBackup), LastIncrementalBackup: time.Time(r.LastIncrementalBackup),
			Mailboxes: r.UserMailboxes + r.ArbitrationMailboxes})
	}
	return out, nil
}

func decodeOne[T any](cmdlet, what, payload string) (T, error) {
	var zero T
	rows, err := decodeRows[T](cmdlet, payload)
	if err != nil {
		return zero, err
	}
	if len(rows) != 1 {
		return zero, decodeError(cmdlet, payload, fmt.Errorf("want exactly one %s, got %d", what, len(rows)))
	}
	return rows[0], nil
}

type dagRow struct {
	Name                  string
	Servers               strList
	StoppedMailboxServers strList
	PrimaryActiveManager  string
	WitnessShareInUse     string
}

type exchangeServerRow struct {
	Name                string
	Fqdn                string
	Site                string
	ServerRole          string
	AdminDisplayVersion string
	IsMemberOfCluster   string // "Yes" / "No" in Exchange
}

type serviceHealthRow struct {
	Role                    string
	RequiredServicesRunning bool
	ServicesNotRunning      strList
}

type jobRow struct {
	Running bool
	Exit    *string
	Log     *string
}

type runRow struct {
	Output   strList
	ExitCode int64
}

func decodeBool(cmdlet, payload string) (bool, error) {
	var b bool
	if err := json.Unmarshal([]byte(strings.TrimSpace(payload)), &b); err != nil {
		return false, decodeError(cmdlet, payload, err)
	}
	return b, nil
}

func parseExitFile(s string) (int, error) {
	v := strings.TrimSpace(strings.TrimPrefix(s, "\ufeff"))
	return strconv.Atoi(v)
}
