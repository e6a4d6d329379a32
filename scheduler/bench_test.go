package scheduler_test

import (
	"testing"
	"time"

	"github.com/exmaintd/exmaintd/scheduler"
)

// BenchmarkNext measures one Next call on an ordinary day and near a clock change, where the wall-clock cron
// path scans the wall times around t (a gap time resolves after later ones), at a cost that grows with how
// often the spec fires.
func BenchmarkNext(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Skip("no tz database:", err)
	}
	for _, day := range []struct {
		name string
		from time.Time
	}{
		{"ordinary", time.Date(2027, 6, 15, 22, 0, 0, 0, time.UTC)},
		{"clocks-go-back", time.Date(2027, 10, 31, 0, 0, 0, 0, time.UTC)}, // an hour before the change
	} {
		for _, spec := range []string{"monthly 2nd tuesday +4d 22:00", "30 2 * * *", "*/5 * * * *", "* * * * *"} {
			s, err := scheduler.Parse(spec, berlin)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(day.name+"/"+spec, func(b *testing.B) {
				for b.Loop() {
					s.Next(day.from)
				}
			})
		}
	}
}
