package scheduler

import (
	"fmt"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s: %v", name, err)
	}
	return loc
}

// TestDSTRule: the cases an independent check found wrong (issue 13) — a gap time west of UTC ran an hour
// before the change, an ambiguous time east of UTC ran at its second instance.
func TestDSTRule(t *testing.T) {
	for _, tc := range []struct {
		zone, spec string
		from       time.Time
		want       time.Time
	}{
		// America/New_York springs forward 2027-03-14 02:00 EST -> 03:00 EDT: 02:30 runs at 03:30 EDT (07:30Z).
		{"America/New_York", "30 2 * * *", time.Date(2027, 3, 14, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 14, 7, 30, 0, 0, time.UTC)},
		{"America/New_York", "monthly 2nd sunday 02:30", time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 14, 7, 30, 0, 0, time.UTC)},
		// Europe/Berlin falls back 2027-10-31 03:00 CEST -> 02:00 CET: 02:30 runs once, at 02:30 CEST (00:30Z).
		{"Europe/Berlin", "30 2 * * *", time.Date(2027, 10, 30, 23, 0, 0, 0, time.UTC), time.Date(2027, 10, 31, 0, 30, 0, 0, time.UTC)},
		{"Europe/Berlin", "0 2 * * *", time.Date(2027, 10, 30, 23, 0, 0, 0, time.UTC), time.Date(2027, 10, 31, 0, 0, 0, 0, time.UTC)},
		{"Europe/Berlin", "monthly last sunday 02:30", time.Date(2027, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 10, 31, 0, 30, 0, 0, time.UTC)},
		// Asked during the repeated hour, after the first instance: the second instance does not run again.
		{"Europe/Berlin", "30 2 * * *", time.Date(2027, 10, 31, 0, 45, 0, 0, time.UTC), time.Date(2027, 11, 1, 1, 30, 0, 0, time.UTC)},
		// Southern hemisphere: Australia/Sydney springs forward 2027-10-03 02:00 -> 03:00 (+10 -> +11).
		{"Australia/Sydney", "30 2 * * *", time.Date(2027, 10, 2, 12, 0, 0, 0, time.UTC), time.Date(2027, 10, 2, 16, 30, 0, 0, time.UTC)},
		// A half-hour shift: Australia/Lord_Howe springs forward 2027-10-03 02:00 -> 02:30 (+10:30 -> +11).
		{"Australia/Lord_Howe", "15 2 * * *", time.Date(2027, 10, 2, 12, 0, 0, 0, time.UTC), time.Date(2027, 10, 2, 15, 45, 0, 0, time.UTC)},
	} {
		t.Run(tc.zone+" "+tc.spec, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			s, err := schedule(tc.spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := s(tc.from); !got.Equal(tc.want) {
				t.Errorf("Next(%s) = %s (%s), want %s (%s)", tc.from.Format(time.RFC3339), got.UTC().Format(time.RFC3339), got.In(loc).Format("15:04 MST"),
					tc.want.Format(time.RFC3339), tc.want.In(loc).Format("15:04 MST"))
			}
		})
	}
}

// schedule parses a cron spec or a monthly rule into its Next function.
func schedule(spec string, loc *time.Location) (func(time.Time) time.Time, error) {
	if len(spec) > 8 && spec[:8] == "monthly " {
		r, err := ParseNthWeekday(spec[8:], loc)
		return r.Next, err
	}
	s, err := Parse(spec, loc)
	if err != nil {
		return nil, err
	}
	return s.Next, nil
}

// TestNextFromEveryMinuteAroundTransitions: asked from every minute of the two hours around a spring-forward
// gap and a fall-back repeat, Next gives the one occurrence the rule says, never a second one that day.
func TestNextFromEveryMinuteAroundTransitions(t *testing.T) {
	for _, tc := range []struct {
		zone             string
		transition       time.Time // UTC instant of the change
		occurrence, next time.Time // that day's 02:30, and the next day's
	}{
		{"America/New_York", time.Date(2027, 3, 14, 7, 0, 0, 0, time.UTC), time.Date(2027, 3, 14, 7, 30, 0, 0, time.UTC), time.Date(2027, 3, 15, 6, 30, 0, 0, time.UTC)},
		{"Europe/Berlin", time.Date(2027, 10, 31, 1, 0, 0, 0, time.UTC), time.Date(2027, 10, 31, 0, 30, 0, 0, time.UTC), time.Date(2027, 11, 1, 1, 30, 0, 0, time.UTC)},
	} {
		loc := mustLoad(t, tc.zone)
		s, err := Parse("30 2 * * *", loc)
		if err != nil {
			t.Fatal(err)
		}
		for m := -120; m <= 120; m++ {
			from := tc.transition.Add(time.Duration(m) * time.Minute)
			want := tc.occurrence
			if !from.Before(tc.occurrence) {
				want = tc.next
			}
			if got := s.Next(from); !got.Equal(want) {
				t.Fatalf("%s: Next(%s) = %s, want %s", tc.zone, from.Format(time.RFC3339), got.UTC().Format(time.RFC3339), want.Format(time.RFC3339))
			}
		}
	}
}

// TestOneOccurrencePerDay: over 2026-2040, in zones east and west of UTC, southern, with half-hour shifts and
// with changes at midnight, a daily schedule runs exactly once on every local day, and each run is the rule:
// the wall time itself when it exists (its first instance when it exists twice), otherwise that time shifted
// by the gap (the offset before the change).
func TestOneOccurrencePerDay(t *testing.T) {
	zones := []string{"Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "America/Havana", "America/Santiago",
		"America/Asuncion", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland", "Asia/Tehran", "Africa/Casablanca", "Asia/Jerusalem"}
	for _, zone := range zones {
		for _, hm := range [][2]int{{2, 30}, {0, 0}, {1, 0}, {3, 0}} {
			t.Run(fmt.Sprintf("%s/%02d:%02d", zone, hm[0], hm[1]), func(t *testing.T) {
				loc := mustLoad(t, zone)
				s, err := Parse(fmt.Sprintf("%d %d * * *", hm[1], hm[0]), loc)
				if err != nil {
					t.Fatal(err)
				}
				perDay := map[string]int{}
				start := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
				end := time.Date(2041, 1, 1, 0, 0, 0, 0, loc)
				for at := s.Next(start.Add(-time.Minute)); at.Before(end); at = s.Next(at) {
					w := at.In(loc)
					day := w.Format("2006-01-02")
					perDay[day]++
					want := time.Date(w.Year(), w.Month(), w.Day(), hm[0], hm[1], 0, 0, time.UTC) // the rule's wall time
					got := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, time.UTC)
					if got.Equal(want) {
						// It exists: this must be its first instance.
						for _, back := range []time.Duration{30 * time.Minute, time.Hour} { // Lord Howe shifts by 30 min
							if at.Add(-back).In(loc).Format("2006-01-02 15:04") == w.Format("2006-01-02 15:04") {
								t.Fatalf("%s: %s is the second instance of %s", zone, at.UTC(), w.Format("15:04"))
							}
						}
						continue
					}
					// It does not exist: the run is the wall time shifted by the gap.
					_, offNow := at.In(loc).Zone()
					_, offBefore := at.Add(-6 * time.Hour).In(loc).Zone()
					if gap := time.Duration(offNow-offBefore) * time.Second; gap <= 0 || !got.Equal(want.Add(gap)) {
						t.Fatalf("%s: %s runs at %s, want %s shifted by the gap (%v)", zone, day, w.Format("15:04 MST"), want.Format("15:04"), gap)
					}
				}
				for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
					day := d.Format("2006-01-02")
					if n := perDay[day]; n != 1 {
						// A day that does not exist at all in the zone (none in these zones and years) would be
						// the only acceptable exception.
						t.Fatalf("%s: %d runs on %s, want exactly 1", zone, n, day)
					}
				}
			})
		}
	}
}
