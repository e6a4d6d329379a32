package exchange

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/psrp"
)

// Projections of deserialised Exchange objects (CLIXML from the remote PowerShell endpoint) onto the typed
// results. They read what arrives — enums by their ToString, identities (ADObjectId) by their ToString, rich
// values such as EnhancedTimeSpan from their properties or their text — and never assume a .NET type exists
// here. A property that is missing entirely is an error naming the cmdlet: the object is not what exmaintd
// was written against. A property that is present but null reads as the zero value.

// row is one output object of a cmdlet.
type row struct {
	cmdlet string
	o      *psrp.Object
}

func rows(cmdlet string, out []any) ([]row, error) {
	var rs []row
	for i, v := range out {
		o, ok := v.(*psrp.Object)
		if !ok || o == nil {
			return nil, fmt.Errorf("%s: output %d is a %T, not an object", cmdlet, i, v)
		}
		rs = append(rs, row{cmdlet, o})
	}
	return rs, nil
}

// first records e unless an earlier error was recorded: the first problem is the one to report.
func first(err *error, e error) {
	if *err == nil {
		*err = e
	}
}

func (r row) get(name string) (any, error) {
	v, ok := r.o.Get(name)
	if !ok {
		return nil, fmt.Errorf("%s: output %s has no property %s", r.cmdlet, r.o.TypeName(), name)
	}
	return v, nil
}

func (r row) str(name string, err *error) string {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return ""
	}
	return psrp.Text(v)
}

func (r row) boolean(name string, err *error) bool {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return false
	}
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		b, perr := strconv.ParseBool(x)
		if perr != nil {
			first(err, fmt.Errorf("%s: %s is %q, not a boolean", r.cmdlet, name, x))
		}
		return b
	}
	first(err, fmt.Errorf("%s: %s is a %s, not a boolean", r.cmdlet, name, psrp.Kind(v)))
	return false
}

func (r row) integer(name string, err *error) int64 {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return 0
	}
	if v == nil {
		return 0
	}
	n, ok := psrp.Int(v)
	if !ok {
		first(err, fmt.Errorf("%s: %s is %q, not an integer", r.cmdlet, name, psrp.Text(v)))
	}
	return n
}

func (r row) when(name string, err *error) time.Time {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return time.Time{}
	}
	switch x := v.(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return x.UTC()
	}
	first(err, fmt.Errorf("%s: %s is a %s, not a date", r.cmdlet, name, psrp.Kind(v)))
	return time.Time{}
}

func (r row) strs(name string, err *error) []string {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return nil
	}
	var out []string
	for _, it := range psrp.Items(v) {
		if s := psrp.Text(it); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r row) objects(name string, err *error) []row {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return nil
	}
	var out []row
	for i, it := range psrp.Items(v) {
		o, ok := it.(*psrp.Object)
		if !ok || o == nil {
			first(err, fmt.Errorf("%s: %s item %d is a %T, not an object", r.cmdlet, name, i, it))
			return nil
		}
		out = append(out, row{r.cmdlet, o})
	}
	return out
}

// pair is one KeyValuePair of a list property.
type pair struct {
	key   string
	value any
}

// pairs reads a list of KeyValuePair however it arrives: objects with Key and Value (serialised in full), or
// their ToString, "[EX01, 1]" or "[EX02, 7.00:00:00]" (what a deserialised KeyValuePair past the
// serialisation depth becomes).
func (r row) pairs(name string, err *error) []pair {
	v, e := r.get(name)
	if e != nil {
		first(err, e)
		return nil
	}
	var out []pair
	for i, it := range psrp.Items(v) {
		if o, ok := it.(*psrp.Object); ok && o != nil && o.Has("Key") {
			kv := row{r.cmdlet, o}
			val, e := kv.get("Value")
			first(err, e)
			out = append(out, pair{key: kv.str("Key", err), value: val})
			continue
		}
		text := strings.TrimSpace(psrp.Text(it))
		k, val, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(text, "["), "]"), ", ")
		if !ok || !strings.HasPrefix(text, "[") || !strings.HasSuffix(text, "]") || strings.TrimSpace(k) == "" {
			first(err, fmt.Errorf("%s: %s item %d is %q, neither a key/value object nor \"[key, value]\"", r.cmdlet, name, i, text))
			return nil
		}
		out = append(out, pair{key: strings.TrimSpace(k), value: strings.TrimSpace(val)})
	}
	return out
}

func projectComponentStates(out []any) ([]ComponentState, error) {
	rs, err := rows("Get-ServerComponentState", out)
	if err != nil {
		return nil, err
	}
	res := make([]ComponentState, 0, len(rs))
	for _, r := range rs {
		var err error
		c := ComponentState{Server: r.str("ServerFqdn", &err), Component: r.str("Component", &err), State: r.str("State", &err)}
		c.LocalStates = requesterStates(r.objects("LocalStates", &err), &err)
		c.RemoteStates = requesterStates(r.objects("RemoteStates", &err), &err)
		if err == nil && c.Component == "" {
			err = fmt.Errorf("Get-ServerComponentState: an object without Component")
		}
		if err != nil {
			return nil, err
		}
		res = append(res, c)
	}
	return res, nil
}

func requesterStates(rs []row, err *error) []RequesterState {
	var out []RequesterState
	for _, r := range rs {
		out = append(out, RequesterState{Requester: r.str("Requester", err), State: r.str("State", err), Timestamp: r.when("Timestamp", err)})
	}
	return out
}

func projectQueues(out []any) ([]Queue, error) {
	rs, err := rows("Get-Queue", out)
	if err != nil {
		return nil, err
	}
	res := make([]Queue, 0, len(rs))
	for _, r := range rs {
		var err error
		q := Queue{Identity: r.str("Identity", &err), DeliveryType: r.str("DeliveryType", &err), Status: r.str("Status", &err),
			MessageCount: r.integer("MessageCount", &err), NextHopDomain: r.str("NextHopDomain", &err), LastError: r.str("LastError", &err)}
		if err == nil && (q.Identity == "" || q.MessageCount < 0) {
			err = fmt.Errorf("Get-Queue: a queue without Identity or with MessageCount %d", q.MessageCount)
		}
		if err != nil {
			return nil, err
		}
		res = append(res, q)
	}
	return res, nil
}

func projectCopies(out []any) ([]CopyStatus, error) {
	rs, err := rows("Get-MailboxDatabaseCopyStatus", out)
	if err != nil {
		return nil, err
	}
	res := make([]CopyStatus, 0, len(rs))
	for _, r := range rs {
		var err error
		c := CopyStatus{Name: r.str("Name", &err), DatabaseName: r.str("DatabaseName", &err), MailboxServer: r.str("MailboxServer", &err),
			Status: r.str("Status", &err), ActiveCopy: r.boolean("ActiveCopy", &err), ActiveDatabaseCopy: r.str("ActiveDatabaseCopy", &err),
			ActivationSuspended: r.boolean("ActivationSuspended", &err), CopyQueueLength: r.integer("CopyQueueLength", &err),
			ReplayQueueLength: r.integer("ReplayQueueLength", &err), ContentIndexState: r.str("ContentIndexState", &err)}
		if err == nil && (c.Name == "" || c.DatabaseName == "" || c.CopyQueueLength < 0 || c.ReplayQueueLength < 0) {
			err = fmt.Errorf("Get-MailboxDatabaseCopyStatus: a copy without Name or DatabaseName, or with a negative queue length (%+v)", c)
		}
		if err != nil {
			return nil, err
		}
		res = append(res, c)
	}
	return res, nil
}

// databaseSettings are a database's activation preference and replay lag per server.
type databaseSettings struct {
	preference map[string]int           // server (upper case) -> preference
	lag        map[string]time.Duration // server (upper case) -> replay lag
}

func projectDatabaseSettings(out []any) (map[string]databaseSettings, error) {
	rs, err := rows("Get-MailboxDatabase", out)
	if err != nil {
		return nil, err
	}
	res := map[string]databaseSettings{}
	for _, r := range rs {
		var err error
		name := r.str("Name", &err)
		st := databaseSettings{preference: map[string]int{}, lag: map[string]time.Duration{}}
		for _, kv := range r.pairs("ActivationPreference", &err) {
			n, ok := psrp.Int(kv.value)
			if !ok {
				first(&err, fmt.Errorf("Get-MailboxDatabase %s: ActivationPreference of %s: %q is not a number", name, kv.key, psrp.Text(kv.value)))
			}
			st.preference[strings.ToUpper(kv.key)] = int(n)
		}
		for _, kv := range r.pairs("ReplayLagTimes", &err) {
			d, e := timeSpan(kv.value)
			if e != nil {
				first(&err, fmt.Errorf("Get-MailboxDatabase %s: ReplayLagTimes: %w", name, e))
			}
			st.lag[strings.ToUpper(kv.key)] = d
		}
		if err != nil {
			return nil, err
		}
		res[strings.ToUpper(name)] = st
	}
	return res, nil
}

// timeSpanText is .NET's TimeSpan text: [-][d.]hh:mm:ss[.fffffff].
var timeSpanText = regexp.MustCompile(`^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$`)

// timeSpan reads a duration however it arrives: <TS>, an EnhancedTimeSpan object (Ticks, else its text), or
// the text alone.
func timeSpan(v any) (time.Duration, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case time.Duration:
		return x, nil
	case *psrp.Object:
		if t, ok := x.Get("Ticks"); ok {
			if n, ok := psrp.Int(t); ok {
				// Ticks of 100 ns; past a Go duration's range (TimeSpan.MaxValue: "never"), its ends.
				if n > math.MaxInt64/100 {
					return math.MaxInt64, nil
				}
				if n < math.MinInt64/100 {
					return math.MinInt64, nil
				}
				return time.Duration(n) * 100, nil
			}
		}
		return timeSpan(psrp.Text(x))
	case string:
		m := timeSpanText.FindStringSubmatch(strings.TrimSpace(x))
		if m == nil {
			return 0, fmt.Errorf("%q is not a time span", x)
		}
		num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
		d := time.Duration(num(m[2]))*24*time.Hour + time.Duration(num(m[3]))*time.Hour + time.Duration(num(m[4]))*time.Minute + time.Duration(num(m[5]))*time.Second
		if m[6] != "" {
			d += time.Duration(num((m[6] + "000000")[:7])) * 100
		}
		if m[1] == "-" {
			d = -d
		}
		return d, nil
	}
	return 0, fmt.Errorf("a %s is not a time span", psrp.Kind(v))
}

func projectDatabases(out []any) ([]Database, error) {
	rs, err := rows("Get-MailboxDatabase", out)
	if err != nil {
		return nil, err
	}
	res := make([]Database, 0, len(rs))
	for _, r := range rs {
		var err error
		mountedOn, _, _ := strings.Cut(r.str("MountedOnServer", &err), ".") // an FQDN; servers are named by host
		d := Database{Name: r.str("Name", &err), Server: strings.ToUpper(mountedOn), Owner: r.str("Server", &err), ReplicationType: r.str("ReplicationType", &err), Recovery: r.boolean("Recovery", &err),
			Mounted: r.boolean("Mounted", &err), Servers: r.strs("Servers", &err), LastFullBackup: r.when("LastFullBackup", &err),
			LastIncrementalBackup: r.when("LastIncrementalBackup", &err)}
		if err != nil {
			return nil, err
		}
		res = append(res, d)
	}
	return res, nil
}

func projectMailboxServer(out []any, server string) (MailboxServer, error) {
	rs, err := rows("Get-MailboxServer", out)
	if err != nil {
		return MailboxServer{}, err
	}
	if len(rs) != 1 {
		return MailboxServer{}, fmt.Errorf("Get-MailboxServer %s: %d objects, want 1", server, len(rs))
	}
	r := rs[0]
	m := MailboxServer{Name: r.str("Name", &err), DatabaseAvailabilityGroup: r.str("DatabaseAvailabilityGroup", &err),
		DatabaseCopyAutoActivationPolicy:         r.str("DatabaseCopyAutoActivationPolicy", &err),
		DatabaseCopyActivationDisabledAndMoveNow: r.boolean("DatabaseCopyActivationDisabledAndMoveNow", &err),
		MaximumActiveDatabases:                   r.integer("MaximumActiveDatabases", &err)}
	return m, err
}

func projectDAG(out []any, name string) (DAG, error) {
	rs, err := rows("Get-DatabaseAvailabilityGroup", out)
	if err != nil {
		return DAG{}, err
	}
	if len(rs) != 1 {
		return DAG{}, fmt.Errorf("Get-DatabaseAvailabilityGroup %s: %d objects, want 1", name, len(rs))
	}
	r := rs[0]
	d := DAG{Name: r.str("Name", &err), Servers: r.strs("Servers", &err), StoppedMailboxServers: r.strs("StoppedMailboxServers", &err),
		PrimaryActiveManager: r.str("PrimaryActiveManager", &err), WitnessShareInUse: r.str("WitnessShareInUse", &err)}
	return d, err
}

func projectExchangeServers(out []any) ([]ExchangeServer, error) {
	rs, err := rows("Get-ExchangeServer", out)
	if err != nil {
		return nil, err
	}
	res := make([]ExchangeServer, 0, len(rs))
	for _, r := range rs {
		var err error
		e := ExchangeServer{Name: r.str("Name", &err), Fqdn: r.str("Fqdn", &err), Site: r.str("Site", &err), ServerRole: r.str("ServerRole", &err),
			AdminDisplayVersion: r.str("AdminDisplayVersion", &err)}
		if err != nil {
			return nil, err
		}
		res = append(res, e)
	}
	return res, nil
}

func projectServiceHealth(out []any) ([]ServiceHealth, error) {
	rs, err := rows("Test-ServiceHealth", out)
	if err != nil {
		return nil, err
	}
	res := make([]ServiceHealth, 0, len(rs))
	for _, r := range rs {
		var err error
		h := ServiceHealth{Role: r.str("Role", &err), RequiredServicesRunning: r.boolean("RequiredServicesRunning", &err), ServicesNotRunning: r.strs("ServicesNotRunning", &err)}
		if err != nil {
			return nil, err
		}
		res = append(res, h)
	}
	return res, nil
}
