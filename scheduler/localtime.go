package scheduler

import "time"

// localTime resolves a wall-clock time in loc to one instant by one rule, the same in every zone:
//
//   - a time that exists once is that instant;
//   - a time that exists twice (the repeated hour when clocks go back) is its first instance;
//   - a time that does not exist (skipped when clocks go forward, including a skipped midnight or a whole
//     skipped day) runs at the offset in effect before the change: 02:30 in a one-hour gap becomes 03:30,
//     00:00 in a midnight gap becomes 01:00 — the time it "would have been" had the clocks not moved.
//
// It does not rely on time.Date's choice, which the time package leaves unspecified for such times (and which
// differs east and west of UTC).
func localTime(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
	naive := time.Date(y, mo, d, h, mi, 0, 0, time.UTC) // the wall clock read as if it were UTC
	// Every offset in use around this wall time: an instant for it lies within ±15 h of naive, and at most a
	// couple of transitions can fall in that span.
	var offsets []int
	for _, probe := range []time.Duration{-27 * time.Hour, -15 * time.Hour, -3 * time.Hour, 0, 3 * time.Hour, 15 * time.Hour, 27 * time.Hour} {
		_, off := naive.Add(probe).In(loc).Zone()
		if !containsInt(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	var best time.Time
	for _, off := range offsets {
		at := naive.Add(-time.Duration(off) * time.Second)
		if _, o := at.In(loc).Zone(); o != off {
			continue // this offset is not in force at that instant
		}
		if best.IsZero() || at.Before(best) {
			best = at // the first instance of a repeated time
		}
	}
	if !best.IsZero() {
		return best
	}
	// A gap: the offset in force just before it is the one in force at the latest instant whose wall clock is
	// still before the requested time.
	before := offsets[0]
	var latest time.Time
	for _, off := range offsets {
		at := naive.Add(-time.Duration(off) * time.Second)
		// The instant just before the change reads as a wall time before the requested one under the old offset.
		prev := at.Add(-time.Minute)
		if _, o := prev.In(loc).Zone(); o == off && (latest.IsZero() || prev.After(latest)) {
			latest, before = prev, off
		}
	}
	return naive.Add(-time.Duration(before) * time.Second)
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
