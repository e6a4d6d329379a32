package org

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The job's wrapper and a native installer's standard error. In Windows PowerShell 5.1, a native
// program's output merged into the pipeline with 2>&1 or *>&1 turns each line it writes to stderr into an
// ErrorRecord (NativeCommandError); under $ErrorActionPreference = 'Stop' the first one is a terminating
// error (PowerShell/PowerShell#4002, #3996; PowerShell 7.3's $PSNativeCommandUseErrorActionPreference
// exists because of it). The script then stops and records a failure — but the installer it started is a
// process of its own and runs on. With the fault patch_stderr the installer writes a line to stderr as it
// starts (Exchange setup prints warnings there); when the job script merges that stream under Stop, the
// task ends within a second with exit code 1 and that error in its log, while the installer runs to its
// normal end: setup's services stay stopped, the process and the mutex stay. exchsim reads the script's
// straight-line text to decide: the last $ErrorActionPreference assignment before the last merge of the
// error stream is the one in force.

var (
	eapAssign   = regexp.MustCompile(`(?im)\$ErrorActionPreference\s*=\s*'(\w+)'`)
	stderrMerge = regexp.MustCompile(`[*2]>&1`)
)

// stopOverNative reports whether script merges a native program's stderr into its pipeline while
// $ErrorActionPreference is Stop.
func stopOverNative(script string) bool {
	merges := stderrMerge.FindAllStringIndex(script, -1)
	if len(merges) == 0 {
		return false
	}
	at := merges[len(merges)-1][0]
	pref := "Continue" // PowerShell's default
	for _, m := range eapAssign.FindAllStringSubmatchIndex(script, -1) {
		if m[0] < at {
			pref = script[m[2]:m[3]]
		}
	}
	return strings.EqualFold(pref, "Stop")
}

// nativeStderrFails makes job j's wrapper give up a second after it starts, when the fault patch_stderr
// is on and the script runs its installer under Stop with stderr merged. Callers hold g.mu.
func (g *Org) nativeStderrFails(s *server, j *job, script string, now time.Time) {
	if !g.hasFault("patch_stderr", s.spec.Name) || !stopOverNative(script) || j.installer == "" {
		return
	}
	const line = "Warning: an unexpected error has occurred and a Watson dump is being generated (exchsim: the installer wrote to stderr)"
	j.wrapperEnds, j.wrapperExit = now.Add(time.Second), 1
	j.wrapperOutput = fmt.Sprintf("%s : %s\r\n    + CategoryInfo          : NotSpecified: (%s:String) [], RemoteException\r\n    + FullyQualifiedErrorId : NativeCommandError", installerExe(j.installer), line, line)
}

func installerExe(kind string) string {
	switch kind {
	case installerSetup:
		return "Setup.exe"
	case installerMSI:
		return "msiexec.exe"
	case installerWUSA:
		return "wusa.exe"
	}
	return "installer"
}
