package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/exmaintd/exmaintd/sentinel"
)

// Parse reads a window's schedule: "monthly <rule>" (see ParseNthWeekday) or a 5-field cron spec (or a
// descriptor such as @daily), optionally prefixed "CRON_TZ=Zone"; without a prefix the spec runs in loc.
//
// Cron specs are evaluated on the wall clock of their zone, not by robfig/cron's own DST handling, which
// (measured) skips a 02:30 window entirely on the spring-forward day and runs it twice on the fall-back day.
// Here a time in the skipped hour runs once, moved forward by the gap, and a time in the repeated hour runs
// once, at its first instance.
//
// A spec that restricts both the day of the month and the day of the week is refused: cron ORs them, which
// is never what "the Saturday in the second week" means.
func Parse(spec string, loc *time.Location) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(s, "monthly "); ok {
		r, err := ParseNthWeekday(rest, loc)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	if loc == nil {
		loc = time.Local
	}
	if zone, body, ok := zonePrefix(s); ok {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: unknown time zone %q: %w", spec, zone, err)
		}
		if loc != time.Local && loc.String() != l.String() {
			return nil, fmt.Errorf("schedule %q: the prefix's zone %s contradicts the window's zone %s: %w", spec, l, loc, ErrZoneContradiction)
		}
		loc, s = l, strings.TrimSpace(body)
	}
	if strings.HasPrefix(s, "@every") {
		return nil, fmt.Errorf("schedule %q: @every is not a window schedule (use a cron spec or a monthly rule)", spec)
	}
	if f := strings.Fields(s); len(f) == 5 && strings.ContainsFunc(f[4], func(r rune) bool { return r == '7' }) {
		return nil, fmt.Errorf("schedule %q: day-of-week %q: 7 is not a weekday here, use 0 for Sunday", spec, f[4])
	}
	if f := strings.Fields(s); len(f) == 5 && restricted(f[2]) && restricted(f[4]) {
		return nil, fmt.Errorf("schedule %q restricts both day-of-month (%s) and day-of-week (%s): cron runs on every day matching either, not on days matching both; use a monthly rule such as \"monthly 2nd tuesday +4d 22:00\"", spec, f[2], f[4])
	}
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	sch, err := p.Parse("CRON_TZ=UTC " + s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	// robfig/cron gives up after five years: a spec that never matches a real date (0 0 30 2 *) would
	// silently never start a window.
	if sch.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires: no date matches it", spec)
	}
	return wallClock{inner: sch, loc: loc}, nil
}

func restricted(field string) bool { return field != "*" && field != "?" }

// wallClock evaluates a UTC cron schedule on loc's wall clock.
type wallClock struct {
	inner cron.Schedule
	loc   *time.Location
}

func (s wallClock) Next(t time.Time) time.Time {
	if r, ok := s.nextSteady(t); ok {
		return r
	}
	return s.nextAcrossTransition(t)
}

// wallSlack bounds how far a clock change moves the wall clock (a few hours at most, in every zone).
const wallSlack = 4 * time.Hour

// nextSteady is the common case: the next wall time after t's own, when the zone's offset does not change
// from wallSlack before t to wallSlack after that result — wall times and instants then run in step, so
// nothing earlier can resolve after t. ok is false when an offset change is near (or the result is more than
// a day away, too far to probe cheaply).
func (s wallClock) nextSteady(t time.Time) (time.Time, bool) {
	lt := t.In(s.loc)
	w := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), time.UTC)
	wc := s.inner.Next(w)
	if wc.IsZero() {
		return wc, true
	}
	r := localTime(wc.Year(), wc.Month(), wc.Day(), wc.Hour(), wc.Minute(), s.loc)
	if !r.After(t) || r.Sub(t) > 24*time.Hour {
		return time.Time{}, false
	}
	_, off := t.In(s.loc).Zone()
	for at := t.Add(-wallSlack); at.Before(r.Add(wallSlack)); at = at.Add(30 * time.Minute) { // no change lasts under 30 min
		if _, o := at.In(s.loc).Zone(); o != off {
			return time.Time{}, false
		}
	}
	if _, o := r.Add(wallSlack).In(s.loc).Zone(); o != off {
		return time.Time{}, false
	}
	return r, true
}

// nextAcrossTransition handles a clock change near t. A wall time in a spring-forward gap resolves to an
// instant after wall times that follow it (02:30 runs at 03:30, after 03:15), so the earliest instant after t
// is not simply the next wall time after t's own: look from wallSlack before t's wall clock and take the
// earliest resolved instant after t among the wall times up to wallSlack after the first one found.
func (s wallClock) nextAcrossTransition(t time.Time) time.Time {
	lt := t.In(s.loc)
	w := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), time.UTC).Add(-wallSlack)
	var best, horizon time.Time
	for range 4000 { // an every-minute schedule scans 2×wallSlack of minutes; window schedules a handful
		wc := s.inner.Next(w)
		if wc.IsZero() || (!horizon.IsZero() && wc.After(horizon)) {
			break
		}
		// One rule for times that do not exist or exist twice (localTime), not time.Date's unspecified choice.
		r := localTime(wc.Year(), wc.Month(), wc.Day(), wc.Hour(), wc.Minute(), s.loc)
		if r.After(t) && (best.IsZero() || r.Before(best)) {
			best = r
			if horizon.IsZero() {
				horizon = wc.Add(wallSlack)
			}
		}
		w = wc
	}
	return best
}

// ErrZoneContradiction: a schedule's CRON_TZ= or TZ= prefix names another zone than the one the window
// runs in. The caller says where that zone came from (the window's time_zone, [daemon] time_zone).
const ErrZoneContradiction = sentinel.Error("remove the prefix or make the zones agree")

// Zone returns the zone named by a spec's CRON_TZ= or TZ= prefix, or nil when it has none (or names no zone
// Parse would accept).
func Zone(spec string) *time.Location {
	zone, _, ok := zonePrefix(strings.TrimSpace(spec))
	if !ok {
		return nil
	}
	l, err := time.LoadLocation(zone)
	if err != nil {
		return nil
	}
	return l
}

// zonePrefix splits "CRON_TZ=Zone rest" or "TZ=Zone rest" into the zone's name and the rest.
func zonePrefix(s string) (zone, body string, ok bool) {
	if !strings.HasPrefix(s, "CRON_TZ=") && !strings.HasPrefix(s, "TZ=") {
		return "", "", false
	}
	prefix, body, _ := strings.Cut(s, " ")
	_, zone, _ = strings.Cut(prefix, "=")
	return zone, body, true
}
