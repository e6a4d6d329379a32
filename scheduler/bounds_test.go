package scheduler_test

import (
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/scheduler"
)

// bruteNth finds the week-th (1..5, or -1 for the last) weekday of a month by walking its days.
func bruteNth(y int, m time.Month, week int, wd time.Weekday) (int, bool) {
	var days []int
	for d := time.Date(y, m, 1, 12, 0, 0, 0, time.UTC); d.Month() == m; d = d.AddDate(0, 0, 1) {
		if d.Weekday() == wd {
			days = append(days, d.Day())
		}
	}
	switch {
	case week == -1:
		return days[len(days)-1], true
	case week <= len(days):
		return days[week-1], true
	}
	return 0, false
}

// TestNthWeekdayAgainstBruteForce: every week (1st..5th, last) of every weekday in every month of three
// years is the day a walk through the month finds (a 5th that a month lacks is skipped to the next month
// that has one).
func TestNthWeekdayAgainstBruteForce(t *testing.T) {
	for _, week := range []int{1, 2, 3, 4, 5, -1} {
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			r := scheduler.NthWeekday{Week: week, Weekday: wd, Hour: 22, Location: time.UTC}
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for y := 2026; y <= 2028; y++ {
				for m := time.January; m <= time.December; m++ {
					day, ok := bruteNth(y, m, week, wd)
					if !ok {
						continue
					}
					want := time.Date(y, m, day, 22, 0, 0, 0, time.UTC)
					if got := r.Next(from); !got.Equal(want) {
						t.Fatalf("week %d %v after %v: %v, want %v", week, wd, from, got, want)
					}
					from = want
				}
			}
		}
	}
}

// TestOpenUntilTheLastMinute: an occurrence is open until its end, found without any history however
// late in it the question comes.
func TestOpenUntilTheLastMinute(t *testing.T) {
	r := scheduler.NthWeekday{Week: 2, Weekday: time.Tuesday, OffsetDays: 4, Hour: 22, Location: time.UTC}
	w := scheduler.Window{Name: "w", Schedule: r, Duration: 6 * time.Hour}
	start := time.Date(2027, 1, 16, 22, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Time
		open bool
	}{
		{start, true},
		{start.Add(6*time.Hour - 30*time.Second), true},
		{start.Add(6*time.Hour - time.Nanosecond), true},
		{start.Add(6 * time.Hour), false},
		{start.Add(-time.Second), false},
	} {
		o, open := w.Open(tc.now)
		if open != tc.open || open && !o.Start.Equal(start) {
			t.Errorf("Open(%v) = %v %v, want open %v", tc.now, o, open, tc.open)
		}
	}
}

// TestStartLateBoundary: exactly min_remaining left still starts late; a nanosecond less is missed.
func TestStartLateBoundary(t *testing.T) {
	r := scheduler.NthWeekday{Week: 2, Weekday: time.Tuesday, OffsetDays: 4, Hour: 22, Location: time.UTC}
	w := scheduler.Window{Name: "w", Schedule: r, Duration: 6 * time.Hour}
	start := time.Date(2027, 1, 16, 22, 0, 0, 0, time.UTC)
	end := start.Add(6 * time.Hour)
	for _, tc := range []struct {
		now  time.Time
		want scheduler.Decision
	}{
		{end.Add(-2 * time.Hour), scheduler.StartLate},
		{end.Add(-2*time.Hour + time.Nanosecond), scheduler.Missed},
	} {
		_, d, found := w.CheckMissed(start.Add(-time.Hour), tc.now, 2*time.Hour)
		if !found || d != tc.want {
			t.Errorf("%v left: decision %v (found %v), want %v", end.Sub(tc.now), d, found, tc.want)
		}
	}
}

// TestWeekdayNames: every weekday parses by its full name and its three-letter abbreviation, Sunday and
// Saturday (the ends of the range) included.
func TestWeekdayNames(t *testing.T) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		for _, name := range []string{d.String(), d.String()[:3]} {
			r, err := scheduler.ParseNthWeekday("last "+name+" 22:00", time.UTC)
			if err != nil || r.Weekday != d {
				t.Errorf("%q: %v %v, want %v", name, r.Weekday, err, d)
			}
		}
	}
	if _, err := scheduler.ParseNthWeekday("last caturday 22:00", time.UTC); err == nil {
		t.Error(`"caturday" parsed`)
	}
}
