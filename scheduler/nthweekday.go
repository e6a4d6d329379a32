// Package scheduler computes when maintenance windows open and close: standard cron specs
// (robfig/cron/v3, CRON_TZ= allowed) and monthly rules such as the Saturday after Patch Tuesday
// ("monthly 2nd tuesday +4d 22:00"), in a time zone, DST-safe. Everything is a pure function of `now`.
package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NthWeekday is a monthly rule: the Nth weekday of the month (Week 1..5, or -1 for the last) plus
// OffsetDays days, at Hour:Minute in Location. It implements cron.Schedule, which robfig/cron cannot
// express: "0 22 8-14 * 6" means the 8th to 14th OR any Saturday there (cron ORs day-of-month and
// day-of-week), and "the 2nd Saturday" is not the Saturday after Patch Tuesday in months that start on a
// Wednesday to Saturday.
type NthWeekday struct {
	Week         int
	Weekday      time.Weekday
	OffsetDays   int
	Hour, Minute int
	Location     *time.Location
}

// Next returns the first occurrence strictly after t. A local time that does not exist (the spring-forward
// gap) runs at the offset in force before the change (02:30 → 03:30); an ambiguous one (fall back) at its
// first instance (localTime): either way the window starts exactly once that day.
func (r NthWeekday) Next(t time.Time) time.Time {
	loc := r.Location
	if loc == nil {
		loc = time.Local
	}
	lt := t.In(loc)
	// The occurrence of a month can fall into the next month (offset), so start a month back.
	y, m := lt.Year(), lt.Month()-1
	for range 14 * 12 { // bounded: a 5th weekday appears within a few months
		if d, ok := r.dayIn(y, m, loc); ok {
			at := localTime(d.Year(), d.Month(), d.Day(), r.Hour, r.Minute, loc)
			if at.After(t) {
				return at
			}
		}
		m++
		if m > 12 {
			y, m = y+1, 1
		}
	}
	return time.Time{}
}

// Caveats says how the rule departs from "once a month": a 5th weekday exists only in some months (the
// others have no window), and an offset can move the day into the next month (or the previous one), so a
// month can have two windows or none. check prints them as warnings.
func (r NthWeekday) Caveats() []string {
	var out []string
	if r.Week == 5 {
		out = append(out, fmt.Sprintf("a 5th %s exists in only 4 or 5 months a year: the other months have no window", r.Weekday))
	}
	// The rule's own day (before the offset) is always in its month: the Nth weekday is the 7N-6th to the
	// 7Nth (a 5th one at most the 31st), the last one the 22nd to the 31st. February has 28 days.
	earliest, latest := 7*(r.Week-1)+1, min(7*r.Week, 31)
	if r.Week == -1 {
		earliest, latest = 22, 31
	}
	earliest, latest = earliest+r.OffsetDays, latest+r.OffsetDays
	if r.OffsetDays > 0 && latest > 28 {
		out = append(out, fmt.Sprintf("the offset %+dd can move the day past the month's end: in some months the window runs early in the next one, so a month can have two windows or none", r.OffsetDays))
	}
	if r.OffsetDays < 0 && earliest < 1 {
		out = append(out, fmt.Sprintf("the offset %+dd can move the day before the month's start: in some months the window runs late in the previous one", r.OffsetDays))
	}
	return out
}

// dayIn is the rule's day for month m of year y (ok false when the month has no such weekday, e.g. a 5th).
func (r NthWeekday) dayIn(y int, m time.Month, loc *time.Location) (time.Time, bool) {
	first := time.Date(y, m, 1, 12, 0, 0, 0, loc)
	var d time.Time
	if r.Week == -1 {
		last := first.AddDate(0, 1, -1)
		back := (int(last.Weekday()) - int(r.Weekday) + 7) % 7
		d = last.AddDate(0, 0, -back)
	} else {
		fwd := (int(r.Weekday) - int(first.Weekday()) + 7) % 7
		d = first.AddDate(0, 0, fwd+7*(r.Week-1))
		if d.Month() != first.Month() {
			return time.Time{}, false
		}
	}
	return d.AddDate(0, 0, r.OffsetDays), true
}

// ParseNthWeekday reads "2nd tuesday +4d 22:00", "last sunday 03:30", "1st mon 00:00", "3rd wed -1d 21:15".
func ParseNthWeekday(spec string, loc *time.Location) (NthWeekday, error) {
	bad := func(format string, args ...any) (NthWeekday, error) {
		return NthWeekday{}, fmt.Errorf("monthly rule %q: %s", spec, fmt.Sprintf(format, args...))
	}
	f := strings.Fields(strings.ToLower(spec))
	if len(f) != 3 && len(f) != 4 {
		return bad("want \"<1st|2nd|3rd|4th|5th|last> <weekday> [+Nd|-Nd] <HH:MM>\"")
	}
	r := NthWeekday{Location: loc}
	switch f[0] {
	case "1st", "first":
		r.Week = 1
	case "2nd", "second":
		r.Week = 2
	case "3rd", "third":
		r.Week = 3
	case "4th", "fourth":
		r.Week = 4
	case "5th", "fifth":
		r.Week = 5
	case "last":
		r.Week = -1
	default:
		return bad("unknown ordinal %q (1st, 2nd, 3rd, 4th, 5th or last)", f[0])
	}
	wd, ok := weekday(f[1])
	if !ok {
		return bad("unknown weekday %q", f[1])
	}
	r.Weekday = wd
	clock := f[len(f)-1]
	if len(f) == 4 {
		off := f[2]
		if len(off) < 3 || (off[0] != '+' && off[0] != '-') || !strings.HasSuffix(off, "d") {
			return bad("offset %q: want +Nd or -Nd", off)
		}
		digits := off[1 : len(off)-1]
		n, err := strconv.Atoi(digits)
		if err != nil || strings.Trim(digits, "0123456789") != "" || n > 27 { // Atoi alone takes "+-5" and "++4"
			return bad("offset %q: want 0 to 27 days", off)
		}
		if off[0] == '-' {
			n = -n
		}
		r.OffsetDays = n
	}
	hh, mm, ok := strings.Cut(clock, ":")
	h, err1 := strconv.Atoi(hh)
	mi, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 23 || mi < 0 || mi > 59 || len(mm) != 2 {
		return bad("time %q: want HH:MM (24 hours)", clock)
	}
	r.Hour, r.Minute = h, mi
	return r, nil
}

func weekday(s string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}
