package steps

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type stallRecorder struct {
	NopObserver
	mu     sync.Mutex
	events []bool
}

func (s *stallRecorder) DrainStalled(_, _ string, stalled bool) {
	s.mu.Lock()
	s.events = append(s.events, stalled)
	s.mu.Unlock()
}

// TestWaitProgress checks the waiting steps' timing in virtual time (testing/synctest): a stall is reported
// after drain_stall while the step keeps waiting, cleared when progress resumes, and the overall timeout
// fails with ErrStalled or ErrTimedOut depending on whether the count was still moving.
func TestWaitProgress(t *testing.T) {
	tests := []struct {
		name    string
		counts  func(elapsed time.Duration) int64
		wantErr error
		events  []bool
		took    time.Duration
	}{
		{"drains", func(e time.Duration) int64 { return max(0, 100-int64(e/time.Second)) }, nil, nil, 100 * time.Second},
		{"stuck from the start", func(time.Duration) int64 { return 40 }, ErrStalled, []bool{true}, 30 * time.Minute},
		{"too slow but moving", func(e time.Duration) int64 { return 10000 - int64(e/time.Minute) }, ErrTimedOut, nil, 30 * time.Minute},
		{"stalls, then resumes", func(e time.Duration) int64 {
			if e < 10*time.Minute {
				return 50
			}
			return max(0, 50-int64((e-10*time.Minute)/time.Second))
		}, nil, []bool{true, false}, 10*time.Minute + 50*time.Second},
		{"unknown then empty", func(e time.Duration) int64 {
			if e < time.Minute {
				return -1 // transport booting
			}
			return 0
		}, nil, nil, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &stallRecorder{}
				env := &Env{Target: Target{Server: "EX01"}, Settings: Settings{PollInterval: 10 * time.Second}.WithDefaults(), Clock: RealClock{},
					Logger: slog.New(slog.DiscardHandler), Observer: rec}
				start := time.Now()
				err := waitProgress(t.Context(), env, "drain-queues", "the queues", 30*time.Minute, 5*time.Minute, func(context.Context) (int64, error) {
					return tt.counts(time.Since(start)), nil
				})
				took := time.Since(start)
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if errors.Is(tt.wantErr, ErrStalled) && err.Error() != "waiting for the queues: stalled: 40 left, none gone for 30m0s" {
					t.Errorf("the stall reads %q", err)
				}
				if took < tt.took || took > tt.took+env.Settings.PollInterval {
					t.Errorf("took %v (virtual), want about %v", took, tt.took)
				}
				if len(rec.events) != len(tt.events) {
					t.Fatalf("stall events %v, want %v", rec.events, tt.events)
				}
				for i := range rec.events {
					if rec.events[i] != tt.events[i] {
						t.Errorf("stall events %v, want %v", rec.events, tt.events)
					}
				}
			})
		})
	}
}

// TestSettingsDefaults: the defaults the documentation and config.example.toml name.
func TestSettingsDefaults(t *testing.T) {
	s := Settings{}.WithDefaults()
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"ad_replication_wait", s.ADReplicationWait, 2 * time.Minute},
		{"poll_interval", s.PollInterval, 10 * time.Second},
		{"move_settle", s.MoveSettle, time.Minute},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
