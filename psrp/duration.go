package psrp

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads an xs:duration as <TS> carries a System.TimeSpan: [-]P[nD][T[nH][nM][n[.f]S]]. Years
// and months have no fixed length and are refused (a TimeSpan never produces them). A TimeSpan longer than
// a time.Duration can hold (TimeSpan.MaxValue, MinValue) reads as the longest (shortest) duration.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	rest, ok := strings.CutPrefix(t, "P")
	if !ok || rest == "" {
		return 0, fmt.Errorf("duration %q is not xs:duration", s)
	}
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return 0, fmt.Errorf("duration %q: T without a time", s)
	}
	var total float64
	parse := func(part, units string, scale map[byte]float64) error {
		last := -1
		for part != "" {
			i := strings.IndexAny(part, units)
			if i <= 0 {
				return fmt.Errorf("duration %q is not xs:duration", s)
			}
			pos := strings.IndexByte(units, part[i])
			if pos <= last {
				return fmt.Errorf("duration %q: units out of order", s)
			}
			last = pos
			num := part[:i]
			if strings.ContainsAny(num, "+-eE") || (part[i] != 'S' && strings.Contains(num, ".")) {
				return fmt.Errorf("duration %q: bad number %q", s, num)
			}
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return fmt.Errorf("duration %q: %w", s, err)
			}
			total += v * scale[part[i]]
			part = part[i+1:]
		}
		return nil
	}
	if err := parse(datePart, "D", map[byte]float64{'D': 24 * 3600}); err != nil {
		return 0, err
	}
	if err := parse(timePart, "HMS", map[byte]float64{'H': 3600, 'M': 60, 'S': 1}); err != nil {
		return 0, err
	}
	ns := math.Round(total * 1e9)
	if ns >= math.MaxInt64 {
		// A TimeSpan reaches ±10,675,199 days, a Go duration ±292 years. Beyond, the longest duration
		// stands for it: TimeSpan.MaxValue, which Exchange writes for "never" (real captures carry it, e.g.
		// CSS-Exchange's HealthChecker data), must not fail the whole document, and nothing exmaintd
		// compares with it comes near 292 years.
		if neg {
			return math.MinInt64, nil
		}
		return math.MaxInt64, nil
	}
	d := time.Duration(ns)
	if neg {
		d = -d
	}
	return d, nil
}

// FormatDuration writes d as PowerShell writes a TimeSpan: PT<seconds>S with up to 7 fraction digits
// (100 ns ticks), days as nD ("P1DT2H3M4.5S").
func FormatDuration(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	b.WriteByte('P')
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "D")
	}
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	b.WriteByte('T')
	if h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "H")
	}
	if m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "M")
	}
	sec := d / time.Second
	frac := (d % time.Second) / 100 // ticks
	b.WriteString(strconv.FormatInt(int64(sec), 10))
	if frac > 0 {
		b.WriteString(strings.TrimRight(fmt.Sprintf(".%07d", frac), "0"))
	}
	b.WriteByte('S')
	return b.String()
}
