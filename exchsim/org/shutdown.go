package org

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

// shutdown.exe as Windows runs it (Microsoft Learn, "shutdown" command reference; Ansible's win_reboot):
// /r schedules a restart /t seconds from now (30 when /t is not given) and returns at once, exit 0; while
// one is scheduled, another /r or /s answers 1190 ERROR_SHUTDOWN_IS_SCHEDULED ("A system shutdown has
// already been scheduled"); /a cancels a scheduled one, or answers 1116 ERROR_NO_SHUTDOWN_IN_PROGRESS. /d
// and /c (the reason and comment recorded in the System log) and /f change nothing here. A restart whose
// time has come happens when the model next looks at the server, dated when it was due.
//
// The fault cmdlet_error with target shutdown.exe makes it fail with exit code 5 (Access is denied). The
// fault restart_reply_lost makes /r restart the host at once and never answer: the reply a host going
// down does not send, which the client must take as "the restart may have been requested" (an instrument:
// shutdown.exe answers before the restart on a real host, which is why exmaintd uses it).

// restartDelayDefault is shutdown.exe's delay without /t.
const restartDelayDefault = 30 * time.Second

// Exit codes of shutdown.exe (Win32 system error codes).
const (
	errShutdownIsScheduled     = 1190
	errNoShutdownInProgress    = 1116
	errInvalidShutdownArgument = 87 // ERROR_INVALID_PARAMETER
	errAccessDenied            = 5  // the cmdlet_error fault on shutdown.exe
)

type shutdownExe struct{ g *Org }

// Natives are the programs on every simulated server that scripts run by name.
func (g *Org) Natives() []ps.Native { return []ps.Native{shutdownExe{g}} }

func (shutdownExe) Name() string { return "shutdown.exe" }

func (x shutdownExe) Run(ctx context.Context, inv ps.NativeInvocation) ([]string, int, *ps.Error) {
	g := x.g
	var restart, abort bool
	delay := restartDelayDefault
	for i := 0; i < len(inv.Args); i++ {
		a := strings.ToLower(strings.TrimLeft(inv.Args[i], "/-"))
		switch a {
		case "r", "s":
			restart = true // a power-off (/s) is not modelled: a host that never came back would be harsher, not truer
		case "a":
			abort = true
		case "t":
			if i+1 >= len(inv.Args) {
				return []string{"The parameter is incorrect."}, errInvalidShutdownArgument, nil
			}
			i++
			n, err := strconv.Atoi(inv.Args[i])
			if err != nil || n < 0 || n > 315360000 {
				return []string{"The parameter is incorrect."}, errInvalidShutdownArgument, nil
			}
			delay = time.Duration(n) * time.Second
		case "d", "c":
			i++ // the reason or the comment: recorded, not acted on
		case "f":
		default:
			return []string{"The parameter is incorrect."}, errInvalidShutdownArgument, nil
		}
	}
	g.mu.Lock()
	now := g.clock.Now()
	g.settleAll(now)
	s := g.lookup(inv.Host)
	if f := g.injectedError("shutdown.exe", inv.Host, inv.Host, "cmdlet_error"); f != nil {
		g.mu.Unlock()
		msg := f.Message
		if msg == "" {
			msg = "Access is denied.(5)"
		}
		return []string{msg}, errAccessDenied, nil // a program fails by its exit code, not with an error record
	}
	lost := restart && g.hasFault("restart_reply_lost", s.spec.Name)
	code := 0
	var out []string
	switch {
	case abort && s.restartAt.IsZero():
		out, code = []string{"Unable to abort the system shutdown because no shutdown was in progress.(1116)"}, errNoShutdownInProgress
	case abort:
		s.restartAt = time.Time{}
		g.changes = append(g.changes, Change{Time: now, Host: inv.Host, Cmdlet: "shutdown.exe /a"})
	case restart && !s.restartAt.IsZero():
		out, code = []string{"A system shutdown has already been scheduled.(1190)"}, errShutdownIsScheduled
	case restart && (delay == 0 || lost):
		g.changes = append(g.changes, Change{Time: now, Host: inv.Host, Cmdlet: "shutdown.exe /r"})
		g.reboot(s, now)
	case restart:
		g.changes = append(g.changes, Change{Time: now, Host: inv.Host, Cmdlet: "shutdown.exe /r"})
		s.restartAt = now.Add(delay)
	default:
		out, code = []string{"The parameter is incorrect."}, errInvalidShutdownArgument
	}
	g.unlockAnnouncing()
	if lost {
		<-ctx.Done() // the host went down under the command: no answer ever comes
	}
	return out, code, nil
}

// restartIfDue restarts s when a restart shutdown.exe scheduled has come due, dated when it was due.
// Callers hold g.mu.
func (g *Org) restartIfDue(s *server, now time.Time) {
	if !s.restartAt.IsZero() && !now.Before(s.restartAt) {
		at := s.restartAt
		s.restartAt = time.Time{}
		g.reboot(s, at)
	}
}
