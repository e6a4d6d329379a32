package steps

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestTaskSpecLimit: a detached command's scheduled task ends itself a quarter of an hour after the
// command's own timeout (Task Scheduler's ExecutionTimeLimit is the backstop when exmaintd is not there to
// end it), and after 4 hours when the command has no deadline. Virtual time makes the limit exact.
func TestTaskSpecLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		if got := taskSpec(ctx, PatchCommand{RunAs: "EXLAB\\patcher"}); got.TimeLimit != time.Hour+15*time.Minute || got.User != "EXLAB\\patcher" {
			t.Errorf("with an hour's timeout: %+v; want a limit of 1h15m and the command's account", got)
		}
		if got := taskSpec(t.Context(), PatchCommand{}); got.TimeLimit != 4*time.Hour {
			t.Errorf("without a deadline: limit %v, want 4h", got.TimeLimit)
		}
	})
}
