package org

import (
	"regexp"
	"strings"
)

// Installers at work. What runs in a job decides what Windows shows while it runs: Exchange setup runs
// ExSetup.exe (setup.go); a Windows Installer package (.msi, .msp through msiexec, and an update .exe
// named for its KB, which is a bootstrapper for one — harsher than assuming it is not) holds the
// Global\_MSIExecute mutex for its whole transaction (Microsoft Learn, "_MSIExecute Mutex"); an .msu
// through wusa.exe runs wusa.exe and the servicing worker TiWorker.exe; the Windows Update Agent API
// installs through TiWorker.exe. A job whose wrapper gave up early (jobwrapper.go) leaves its installer
// running: it stays at work until its own end.

const (
	installerSetup = "setup"
	installerMSI   = "msi"
	installerWUSA  = "wusa"
	installerWUA   = "wua"
)

var (
	msiInstall  = regexp.MustCompile(`(?i)\bmsiexec(\.exe)?\b|\.ms[ip]\b|\bkb\d+[^'"\s]*\.exe\b`)
	wusaInstall = regexp.MustCompile(`(?i)\bwusa(\.exe)?\b|\.msu\b`)
)

// installerKind is the installer a job's script runs, "" for none exchsim knows.
func installerKind(script string) string {
	switch {
	case exchangeSetup.MatchString(script):
		return installerSetup
	case msiInstall.MatchString(script):
		return installerMSI
	case wusaInstall.MatchString(script):
		return installerWUSA
	case usesWindowsUpdate(script):
		return installerWUA
	}
	return ""
}

// nativeProgram matches a script that runs a program file (an .exe, msiexec, wusa): exchsim takes any
// such program for an installer that changes the system — the harsher reading — while a script that runs
// none, nor the Windows Update API, changes nothing a restart would have to complete.
var nativeProgram = regexp.MustCompile(`(?i)\.exe\b|\bmsiexec\b|\bwusa\b`)

// installs reports whether a job's script installs something (installEffects applies).
func installs(script string) bool {
	return installerKind(script) != "" || nativeProgram.MatchString(script)
}

// msiMutex is the name Windows Installer's mutex has (case does not matter to the object manager).
const msiMutex = `Global\_MSIExecute`

// installersAt lists what is at work on s: the running processes of installers, and whether Windows
// Installer holds its mutex. Callers hold g.mu and have settled s.
func (g *Org) installersAt(s *server) (procs []string, msi bool) {
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			procs = append(procs, p)
		}
	}
	if s.setupRunning {
		add("ExSetup")
	}
	for _, j := range g.jobs {
		if !strings.EqualFold(j.server, s.spec.Name) {
			continue
		}
		switch j.installer {
		case installerSetup:
			add("ExSetup")
		case installerMSI:
			add("msiexec")
			msi = true
		case installerWUSA:
			add("wusa")
			add("TiWorker")
		case installerWUA:
			add("TiWorker")
		}
	}
	return procs, msi
}

// Mutex reports whether the named mutex exists on host: Windows Installer's while an install runs there.
// It is ps.Options.Mutex.
func (g *Org) Mutex(host, name string) bool {
	g.mu.Lock()
	defer g.unlockAnnouncing()
	s := g.lookup(host)
	if s == nil || !strings.EqualFold(name, msiMutex) {
		return false
	}
	g.settle(s, g.clock.Now())
	_, msi := g.installersAt(s)
	return msi
}

// InstallerRunning reports whether an installer is at work on server now.
func (g *Org) InstallerRunning(server string) bool {
	g.mu.Lock()
	defer g.unlockAnnouncing()
	s := g.lookup(server)
	if s == nil {
		return false
	}
	g.settle(s, g.clock.Now())
	procs, msi := g.installersAt(s)
	return msi || len(procs) > 0
}
