package org

import (
	"regexp"
	"strings"
)

// Exchange setup while it runs. A cumulative update's setup (Setup.exe /Mode:Upgrade) takes the server out
// of service itself — Microsoft's Tim McMichael, "Exchange 2013: In place upgrade places components in an
// offline state" (TechNet blog, 2014): setup sets ServerWideOffline Inactive and stops monitoring — and
// stops the Exchange services and IIS while it replaces their files; a failed update can leave them stopped
// and disabled (Microsoft Learn, "Repair failed installations of Exchange Cumulative and Security updates";
// the fault patch_disables_services). exchsim models the services: while a job runs Exchange setup, every
// MSExchange* service and W3SVC that ran is stopped — so the server's own /PowerShell answers 503 — and
// ExSetup is a running process; when setup ends, it starts them again unless the fault disabled them. A
// setup cut off (its shell closed, the host restarted) starts nothing: a restart's boot does.

// exchangeSetup matches a script that runs Exchange setup for an upgrade (Setup.exe or ExSetup.exe with
// /Mode:Upgrade or /m:upgrade).
var exchangeSetup = regexp.MustCompile(`(?i)\b(ex)?setup(\.exe)?['"]?\s.*/m(ode)?:upgrade\b`)

// startSetup stops what setup stops on s when job j runs Exchange setup. Callers hold g.mu.
func startSetup(s *server, j *job, script string) {
	if !exchangeSetup.MatchString(script) {
		return
	}
	j.setup = true
	for name, st := range s.services {
		if st == "Running" && (exchangeService(name) || strings.EqualFold(name, "W3SVC")) {
			s.services[name] = "Stopped"
			j.stopped = append(j.stopped, name)
		}
	}
}

// endSetup starts again what setup job j stopped, when it ended by itself. Callers hold g.mu.
func (g *Org) endSetup(s *server, j *job) {
	if !j.setup || !s.downTil.IsZero() {
		return
	}
	for _, name := range j.stopped {
		if !s.disabled[name] && s.services[name] == "Stopped" {
			s.services[name] = g.startedState(s, name)
		}
	}
}

// setupJob reports whether a job runs Exchange setup on s now. Callers hold g.mu.
func (g *Org) setupJob(s *server) bool {
	for _, j := range g.jobs {
		if j.setup && strings.EqualFold(j.server, s.spec.Name) {
			return true
		}
	}
	return false
}
