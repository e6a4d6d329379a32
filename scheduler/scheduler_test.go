package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/scheduler"
)

func mustLoc(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// patchTuesday finds the second Tuesday of a month by walking its days (independent of the code under test).
func patchTuesday(y int, m time.Month) int {
	n := 0
	for d := 1; ; d++ {
		if time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday() == time.Tuesday {
			if n++; n == 2 {
				return d
			}
		}
	}
}

// TestSaturdayAfterPatchTuesday checks every month of 2025–2027 in Berlin, and that the rule is not "the
// second Saturday" (e.g. August 2026: Patch Tuesday is the 11th, so the window is the 15th, not the 8th).
func TestSaturdayAfterPatchTuesday(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	sch, err := scheduler.Parse("monthly 2nd tuesday +4d 22:00", berlin)
	if err != nil {
		t.Fatal(err)
	}
	differs := 0
	for y := 2025; y <= 2027; y++ {
		for m := time.January; m <= time.December; m++ {
			got := sch.Next(time.Date(y, m, 1, 0, 0, 0, 0, berlin))
			want := time.Date(y, m, patchTuesday(y, m)+4, 22, 0, 0, 0, berlin)
			if !got.Equal(want) {
				t.Errorf("%d-%02d: %v, want %v", y, m, got, want)
			}
			if got.Weekday() != time.Saturday {
				t.Errorf("%d-%02d: %v is not a Saturday", y, m, got)
			}
			if got.Day() > 14 {
				differs++ // the 2nd Saturday is always the 8th..14th
			}
		}
	}
	if differs == 0 {
		t.Error("no month where the rule differs from the 2nd Saturday: the test proves nothing")
	}
	aug := sch.Next(time.Date(2026, 8, 1, 0, 0, 0, 0, berlin))
	if aug.Day() != 15 {
		t.Errorf("August 2026: %v, want the 15th", aug)
	}
	if nov := sch.Next(time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)); !nov.Equal(time.Date(2026, 11, 14, 22, 0, 0, 0, berlin)) {
		t.Errorf("November 2026: %v, want 2026-11-14 22:00 CET", nov)
	}
}

func TestNthWeekdayRules(t *testing.T) {
	utc := time.UTC
	tests := []struct {
		rule string
		from time.Time
		want time.Time
	}{
		{"last sunday 03:30", time.Date(2026, 2, 1, 0, 0, 0, 0, utc), time.Date(2026, 2, 22, 3, 30, 0, 0, utc)},
		{"1st mon 00:00", time.Date(2026, 6, 1, 0, 0, 0, 0, utc), time.Date(2026, 6, 1, 0, 0, 0, 0, utc).AddDate(0, 0, 0)},
		{"3rd wed -1d 21:15", time.Date(2026, 11, 1, 0, 0, 0, 0, utc), time.Date(2026, 11, 17, 21, 15, 0, 0, utc)},
		{"5th friday 20:00", time.Date(2026, 2, 1, 0, 0, 0, 0, utc), time.Date(2026, 5, 29, 20, 0, 0, 0, utc)},      // Feb–Apr 2026 have no 5th Friday
		{"2nd tuesday +20d 22:00", time.Date(2026, 1, 1, 0, 0, 0, 0, utc), time.Date(2026, 2, 2, 22, 0, 0, 0, utc)}, // rolls into February
	}
	for _, tt := range tests {
		sch, err := scheduler.Parse("monthly "+tt.rule, utc)
		if err != nil {
			t.Fatal(err)
		}
		got := sch.Next(tt.from.Add(-time.Nanosecond))
		if !got.Equal(tt.want) {
			t.Errorf("%s after %v = %v, want %v", tt.rule, tt.from, got, tt.want)
		}
	}
}

// countOn counts the runs of sch on the local date of day.
func countOn(sch interface{ Next(time.Time) time.Time }, day time.Time) int {
	n := 0
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, day.Location())
	end := start.AddDate(0, 0, 1)
	for t := sch.Next(start.Add(-time.Second)); !t.IsZero() && t.Before(end); t = sch.Next(t) {
		n++
	}
	return n
}

// TestDST: a window in the skipped hour runs once (moved forward by the gap), in the repeated hour once.
func TestDST(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	spring, err := scheduler.Parse("monthly 2nd sunday 02:30", ny) // 2026-03-08 02:30 does not exist
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 8, 12, 0, 0, 0, ny)
	if n := countOn(spring, day); n != 1 {
		t.Errorf("spring forward: %d runs on %v, want 1", n, day)
	}
	fall, err := scheduler.Parse("monthly 1st sunday 01:30", ny) // 2026-11-01 01:30 happens twice
	if err != nil {
		t.Fatal(err)
	}
	if n := countOn(fall, time.Date(2026, 11, 1, 12, 0, 0, 0, ny)); n != 1 {
		t.Errorf("fall back: %d runs, want 1", n)
	}
	// Cron specs in Berlin: robfig/cron alone skips a daily 02:30 on 2026-03-29 and runs it twice on
	// 2026-10-25 (measured); Parse evaluates on the wall clock so that it runs once on each.
	berlin := mustLoc(t, "Europe/Berlin")
	daily, err := scheduler.Parse("30 2 * * *", berlin)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Time{time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), time.Date(2026, 10, 25, 12, 0, 0, 0, berlin)} {
		if n := countOn(daily, d); n != 1 {
			t.Errorf("robfig daily 02:30 on %s: %d runs, want 1", d.Format("2006-01-02"), n)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"monthly 6th tuesday 22:00", `unknown ordinal "6th"`},
		{"monthly 2nd tusday 22:00", `unknown weekday "tusday"`},
		{"monthly 2nd tuesday 25:00", `time "25:00"`},
		{"monthly 2nd tuesday +40d 22:00", `offset "+40d"`},
		{"monthly 2nd tuesday +28d 22:00", `offset "+28d"`}, // the bounds: 27 days at most, 23:59 at the latest
		{"monthly 2nd tuesday 24:00", `time "24:00"`},
		{"monthly 2nd tuesday 22:60", `time "22:60"`},
		{"monthly 2nd tuesday", "want"},
		{"0 22 8-14 * 6", "restricts both day-of-month (8-14) and day-of-week (6)"},
		{"every full moon", `schedule "every full moon"`},
		{"CRON_TZ=Mars/Olympus 0 22 * * 6", "Mars/Olympus"},
		{"monthly 2nd tuesday +-5d 22:00", `offset "+-5d"`},
		{"monthly 2nd tuesday ++4d 22:00", `offset "++4d"`},
		{"0 0 30 2 *", "never fires"},
		{"0 22 * * 7", `day-of-week "7"`},
		{"0 22 * * 5-7", `day-of-week "5-7"`},
		{"CRON_TZ=Europe/Berlin 0 22 * * 6", "contradicts the window's zone UTC: remove the prefix"},
	}
	for _, tt := range tests {
		_, err := scheduler.Parse(tt.spec, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.spec, err, tt.want)
		}
	}
}

// TestParseBounds: the largest values the rules accept are accepted.
func TestParseBounds(t *testing.T) {
	for _, spec := range []string{"monthly 2nd tuesday +27d 23:59", "monthly 1st monday -27d 00:00", "monthly last sunday 00:00"} {
		if _, err := scheduler.Parse(spec, time.UTC); err != nil {
			t.Errorf("Parse(%q) = %v, want it accepted", spec, err)
		}
	}
}

func TestWindow(t *testing.T) {
	sch, err := scheduler.Parse("0 22 * * 6", time.UTC) // Saturdays 22:00 UTC
	if err != nil {
		t.Fatal(err)
	}
	w := scheduler.Window{Name: "w", Schedule: sch, Duration: 6 * time.Hour}
	sat := time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)
	if o, ok := w.Open(sat.Add(2 * time.Hour)); !ok || !o.Start.Equal(sat) || !o.End.Equal(sat.Add(6*time.Hour)) {
		t.Errorf("Open 2h in = %+v, %v", o, ok)
	}
	if _, ok := w.Open(sat.Add(7 * time.Hour)); ok {
		t.Error("open after its end")
	}
	up := w.Upcoming(sat.Add(-time.Hour), 3)
	if len(up) != 3 || !up[0].Start.Equal(sat) || !up[2].Start.Equal(sat.AddDate(0, 0, 14)) {
		t.Errorf("Upcoming = %+v", up)
	}
	tests := []struct {
		name     string
		last     time.Time
		now      time.Time
		decision scheduler.Decision
		found    bool
	}{
		{"plenty left", sat.AddDate(0, 0, -7), sat.Add(time.Hour), scheduler.StartLate, true},
		{"30 minutes left", sat.AddDate(0, 0, -7), sat.Add(5*time.Hour + 30*time.Minute), scheduler.Missed, true},
		{"over, never run", sat.AddDate(0, 0, -7), sat.Add(8 * time.Hour), scheduler.Missed, true},
		{"already run", sat, sat.Add(time.Hour), 0, false},
		{"no history, inside", time.Time{}, sat.Add(time.Hour), scheduler.StartLate, true},
	}
	for _, tt := range tests {
		_, d, found := w.CheckMissed(tt.last, tt.now, time.Hour)
		if found != tt.found || d != tt.decision {
			t.Errorf("%s: decision %v found %v, want %v %v", tt.name, d, found, tt.decision, tt.found)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"monthly 2nd tuesday +4d 22:00", "0 22 * * 6", "CRON_TZ=Europe/Berlin 30 2 * * *", "@daily", "monthly last sun -3d 00:00"} {
		f.Add(s)
	}
	at := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		sch, err := scheduler.Parse(spec, time.UTC)
		if err != nil {
			return
		}
		if n := sch.Next(at); !n.IsZero() && !n.After(at) {
			t.Fatalf("%q: Next(%v) = %v, not after", spec, at, n)
		}
	})
}

func TestParsePrefixMatchingZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	sch, err := scheduler.Parse("CRON_TZ=Europe/Berlin 0 22 * * 6", berlin)
	if err != nil {
		t.Fatal(err)
	}
	at := sch.Next(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 12, 5, 21, 0, 0, 0, time.UTC); !at.Equal(want) {
		t.Errorf("Next = %s, want %s", at.UTC(), want)
	}
}

// TestCaveats: check warns about rules that are not "once a month" — a 5th weekday, and offsets that can
// leave the month — and about nothing else; each warning is borne out by the calendar 2026-2040.
func TestCaveats(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want []string // substrings, one per caveat
	}{
		{"2nd tuesday +4d 22:00", nil},
		{"4th tuesday 22:00", nil},
		{"5th friday 22:00", []string{"5th Friday exists in only"}},
		{"4th tuesday +7d 22:00", []string{"+7d can move the day past the month's end"}},
		{"last sunday +1d 02:00", []string{"+1d can move the day past"}},
		{"1st monday -1d 22:00", []string{"-1d can move the day before the month's start"}},
		{"last sunday -3d 02:00", nil},
		// The boundaries: the 3rd weekday is at most the 21st (+7d: the 28th, still in February); the 4th
		// at most the 28th (+1d crosses); the 2nd at least the 8th (-7d: the 1st).
		{"3rd tuesday +7d 22:00", nil},
		{"4th tuesday +1d 22:00", []string{"+1d can move the day past"}},
		{"2nd monday -7d 22:00", nil},
		{"2nd monday -8d 22:00", []string{"-8d can move the day before"}},
		{"last friday +6d 22:00", []string{"+6d can move the day past"}},
	} {
		r, err := scheduler.ParseNthWeekday(tc.rule, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		got := r.Caveats()
		if len(got) != len(tc.want) {
			t.Errorf("%s: caveats %q, want %d", tc.rule, got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: caveat %q, want %q", tc.rule, got[i], w)
			}
		}
		// The calendar agrees: a rule without caveats puts exactly one day in every month.
		perMonth := map[string]int{}
		for at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2041; {
			at = r.Next(at)
			perMonth[at.Format("2006-01")]++
		}
		regular := len(perMonth) == 15*12+1 // one per month (the last Next lands in 2041-01)
		for _, n := range perMonth {
			regular = regular && n == 1
		}
		if regular != (len(got) == 0) {
			t.Errorf("%s: one window in every month = %v, but %d caveats", tc.rule, regular, len(got))
		}
	}
}
