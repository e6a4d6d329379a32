package scheduler

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a named schedule with a duration: each occurrence opens at a start and closes (hard end) at
// start + Duration.
type Window struct {
	Name     string
	Schedule cron.Schedule
	Duration time.Duration
}

// Occurrence is one opening of a window.
type Occurrence struct {
	Window     string
	Start, End time.Time
}

// Next is the first occurrence starting strictly after now.
func (w Window) Next(now time.Time) Occurrence {
	s := w.Schedule.Next(now)
	return Occurrence{Window: w.Name, Start: s, End: s.Add(w.Duration)}
}

// Upcoming lists the next n occurrences after now.
func (w Window) Upcoming(now time.Time, n int) []Occurrence {
	var out []Occurrence
	t := now
	for range n {
		o := w.Next(t)
		if o.Start.IsZero() {
			break
		}
		out = append(out, o)
		t = o.Start
	}
	return out
}

// Latest is the most recent occurrence that started in (after, now]; with a zero after, only occurrences
// that could still be open (started within Duration) are considered. ok is false when there is none.
func (w Window) Latest(after, now time.Time) (Occurrence, bool) {
	from := after
	if from.IsZero() {
		from = now.Add(-w.Duration - time.Minute)
	}
	var last Occurrence
	found := false
	for t := from; ; {
		o := w.Next(t)
		if o.Start.IsZero() || o.Start.After(now) {
			return last, found
		}
		last, found, t = o, true, o.Start
	}
}

// Open returns the occurrence open at now, if any.
func (w Window) Open(now time.Time) (Occurrence, bool) {
	o, ok := w.Latest(time.Time{}, now)
	if !ok || !now.Before(o.End) {
		return Occurrence{}, false
	}
	return o, true
}

// Decision says what to do about an occurrence that started while exmaintd was not running.
type Decision int

// Decisions about a missed occurrence.
const (
	StartLate Decision = iota + 1 // enough of it is left: run it now
	Missed                        // too little (or nothing) left: record and report it as missed
)

// CheckMissed looks for an occurrence that started after lastStart (the last start the journal knows, zero
// if none) and by now. found is false when there is none; otherwise the decision is StartLate when at least
// minRemaining of it is left, else Missed.
func (w Window) CheckMissed(lastStart, now time.Time, minRemaining time.Duration) (Occurrence, Decision, bool) {
	o, ok := w.Latest(lastStart, now) // without history only an occurrence that could still be open counts
	if !ok {
		return Occurrence{}, 0, false
	}
	if o.End.Sub(now) >= minRemaining && now.Before(o.End) {
		return o, StartLate, true
	}
	return o, Missed, true
}
