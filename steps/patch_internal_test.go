package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exmaintd/exmaintd/secret"
)

// TestTaskSpecLimit: a detached command's scheduled task states a limit a quarter of an hour after the
// command's own timeout (Task Scheduler does not enforce it on a task started on demand; it documents the
// intent), and 4 hours when the command has no deadline; a named account's password is read then.
// Virtual time makes the limit exact.
func TestTaskSpecLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		env := &Env{Secrets: func(s secret.Source) (secret.Value, error) {
			if s.Env == "PATCH_PW" {
				return secret.New("pa55"), nil
			}
			return secret.Value{}, errors.New("no such file")
		}}
		named := PatchCommand{RunAs: "EXLAB\\patcher", RunAsPassword: secret.Source{Env: "PATCH_PW"}}
		if got, err := taskSpec(ctx, env, named); err != nil || got.TimeLimit != time.Hour+15*time.Minute || got.User != "EXLAB\\patcher" || got.Password.Reveal() != "pa55" {
			t.Errorf("with an hour's timeout: %+v, %v; want a limit of 1h15m and the command's account and password", got, err)
		}
		if got, err := taskSpec(t.Context(), env, PatchCommand{}); err != nil || got.TimeLimit != 4*time.Hour || !got.Password.Empty() {
			t.Errorf("without a deadline: limit %v, %v; want 4h", got.TimeLimit, err)
		}
		// A password that cannot be read fails the command, naming the account; nothing is registered.
		named.RunAsPassword = secret.Source{File: "/nonexistent"}
		if _, err := taskSpec(ctx, env, named); err == nil || !strings.Contains(err.Error(), "run_as_password of EXLAB\\patcher: no such file") {
			t.Errorf("unreadable password: %v", err)
		}
		if _, err := taskSpec(ctx, &Env{}, named); err == nil || !strings.Contains(err.Error(), "no secret reader") {
			t.Errorf("no reader: %v", err)
		}
	})
}

// TestJobNames: a run's job IDs (and so its scheduled task names) keep letters, digits and '-' and
// replace everything else, keep the last 40 characters (the run ID's unique end), and number commands
// from 1. The last lines of a command's output are joined for the error.
func TestJobNames(t *testing.T) {
	for _, tc := range []struct{ run, want string }{
		{"r-20261212-2200", "r-20261212-2200-1"},
		{"azAZ09", "azAZ09-1"}, // the ends of each range
		{"monthly patch/EX01:2026", "monthly-patch-EX01-2026-1"},
		{"ÄÖ_ü.x", "-----x-1"},
		{strings.Repeat("a", 30) + strings.Repeat("b", 30), strings.Repeat("a", 10) + strings.Repeat("b", 30) + "-1"},
		{strings.Repeat("c", 40), strings.Repeat("c", 40) + "-1"},
	} {
		if got := jobID(tc.run, 0); got != tc.want {
			t.Errorf("jobID(%q, 0) = %q, want %q", tc.run, got, tc.want)
		}
	}
	if got := jobID("r", 2); got != "r-3" {
		t.Errorf("the third command's job = %q, want r-3", got)
	}
	if got := lastLines("a\nb\nc\nd\n", 2); got != "c | d" {
		t.Errorf("lastLines = %q, want %q", got, "c | d")
	}
	if got := lastLines("a\nb", 5); got != "a | b" {
		t.Errorf("lastLines of fewer lines = %q, want %q", got, "a | b")
	}
}

// TestInSessionBound: the in-session commands' timeouts, one after another (a command without one counts
// as DefaultPatchTimeout); detached commands do not count.
func TestInSessionBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch []PatchCommand
		want  time.Duration
	}{
		{"none", nil, 0},
		{"detached only", []PatchCommand{{Detached: true, Timeout: time.Hour}}, 0},
		{"one with its timeout", []PatchCommand{{Timeout: 30 * time.Minute}}, 30 * time.Minute},
		{"one without", []PatchCommand{{}}, 2 * time.Hour},
		{"in session and detached", []PatchCommand{{Timeout: time.Minute}, {Detached: true, Timeout: time.Hour}, {Timeout: 2 * time.Minute}}, 3 * time.Minute},
	} {
		if got := (Settings{Patch: tc.patch}).InSessionBound(); got != tc.want {
			t.Errorf("%s: InSessionBound = %v, want %v", tc.name, got, tc.want)
		}
	}
}
