package org

import (
	"fmt"
	"strings"
	"time"

	"github.com/exmaintd/exmaintd/exchsim/ps"
)

// Pending-reboot markers, where Windows and the community's checks read them (Test-PendingReboot,
// Ansible's win_reboot/win_updates, kured's Windows counterparts): CBS's RebootPending key, Windows Update's
// RebootRequired key, Session Manager's PendingFileRenameOperations value, and a computer name whose new
// value (ComputerName) differs from the active one. exchsim keeps keys in the host's files (Test-Path reads
// them) and values in its registry (Get-ItemProperty).
const (
	regCBSRebootPending = `hklm:\software\microsoft\windows\currentversion\component based servicing\rebootpending`
	regWURebootRequired = `hklm:\software\microsoft\windows\currentversion\windowsupdate\auto update\rebootrequired`
	regSessionManager   = `hklm:\system\currentcontrolset\control\session manager`
	regActiveName       = `hklm:\system\currentcontrolset\control\computername\activecomputername`
	regPendingName      = `hklm:\system\currentcontrolset\control\computername\computername`
	regUpdates          = `hklm:\software\microsoft\updates`
)

// Installer exit codes Windows Installer and Windows Update use: 3010 ERROR_SUCCESS_REBOOT_REQUIRED, 1641
// ERROR_SUCCESS_REBOOT_INITIATED (the installer has started the restart itself).
const (
	exitRebootRequired  = 3010
	exitRebootInitiated = 1641
)

// installEffects applies what a finished install leaves behind: unless the patch_no_reboot fault is set,
// the CBS and Windows Update markers and a file rename waiting for the restart; an exit code from the
// patch_exit_code fault; with 1641, the restart the installer started. Callers hold g.mu.
func (g *Org) installEffects(s *server, j *job, at time.Time) {
	if !j.installs || j.exit != 0 && j.exit != exitRebootRequired && j.exit != exitRebootInitiated {
		return // a failed install, or a script that installs nothing, changes nothing
	}
	if !g.hasFault("patch_no_reboot", s.spec.Name) {
		s.files[regCBSRebootPending] = ""
		s.files[regWURebootRequired] = ""
		s.registryValue(regSessionManager)["PendingFileRenameOperations"] = []any{`\??\C:\Windows\WinSxS\Temp\PendingRenames\x.dll`, ""}
	}
	if j.exit == exitRebootInitiated {
		g.reboot(s, at)
	}
}

func (s *server) registryValue(key string) map[string]any {
	if s.registry == nil {
		s.registry = map[string]map[string]any{}
	}
	v := s.registry[key]
	if v == nil {
		v = map[string]any{}
		s.registry[key] = v
	}
	return v
}

// markPendingReboot sets a reboot pending from outside any window (fault pending_reboot: an update Windows
// installed on its own) with the marker named: "" or cbs, updateexe (HKLM:\SOFTWARE\Microsoft\Updates'
// UpdateExeVolatile value), configmgr (the Configuration Manager client's flag). Callers hold g.mu.
func markPendingReboot(s *server, marker string) error {
	switch strings.ToLower(marker) {
	case "", "cbs":
		s.files[regCBSRebootPending] = ""
	case "updateexe":
		s.files[regUpdates] = "" // the key, which Windows keeps
		s.registryValue(regUpdates)["UpdateExeVolatile"] = int64(1)
	case "configmgr":
		s.ccmRebootPending = true
	default:
		return fmt.Errorf("fault pending_reboot: target %q: want cbs, updateexe or configmgr", marker)
	}
	return nil
}

// invokeCimMethod is Invoke-CimMethod for the one method exmaintd calls: the Configuration Manager
// client's CCM_ClientUtilities.DetermineIfRebootPending (CSS-Exchange Shared/Get-ServerRebootPending.ps1).
// exchsim's servers have no Configuration Manager client unless the pending_reboot fault's configmgr marker
// installs one: otherwise, as on such a Windows server, the namespace does not exist.
func invokeCimMethod(g *Org, inv ps.Invocation, _ time.Time) ([]any, error) {
	s := g.lookup(inv.Host)
	ns, class, method := strings.ToLower(arg(inv, "Namespace")), arg(inv, "ClassName"), arg(inv, "MethodName")
	if ns != `root\ccm\clientsdk` || !s.ccmRebootPending || !strings.EqualFold(class, "CCM_ClientUtilities") || !strings.EqualFold(method, "DetermineIfRebootPending") {
		return nil, &ps.Error{Message: "Invalid namespace ", Category: "MetadataError", ErrorID: "HRESULT 0x8004100e,Microsoft.Management.Infrastructure.CimCmdlets.InvokeCimMethodCommand",
			Type: "Microsoft.Management.Infrastructure.CimException", Target: "(" + arg(inv, "Namespace") + ":String)"}
	}
	return []any{&ps.Object{TypeName: "Microsoft.Management.Infrastructure.CimMethodResult", Props: []ps.Prop{
		{Name: "DisableHideTime", Value: ""}, {Name: "InGracePeriod", Value: false}, {Name: "IsHardRebootPending", Value: false},
		{Name: "NotifyUI", Value: false}, {Name: "RebootDeadline", Value: ""}, {Name: "RebootPending", Value: true}, {Name: "ReturnValue", Value: int64(0)}}}}, nil
}

// restartPending reports whether any marker CSS-Exchange's Get-ServerRebootPending reads is set on s.
// Callers hold g.mu.
func (s *server) restartPending() bool {
	_, cbs := s.files[regCBSRebootPending]
	_, wu := s.files[regWURebootRequired]
	_, renames := s.registryValue(regSessionManager)["PendingFileRenameOperations"]
	volatile := s.registryValue(regUpdates)["UpdateExeVolatile"]
	active, next := s.registryValue(regActiveName)["ComputerName"], s.registryValue(regPendingName)["ComputerName"]
	return cbs || wu || renames || (volatile != nil && volatile != int64(0)) || s.ccmRebootPending || (next != nil && next != active)
}

// clearPendingReboot: a restart completes what was pending and applies a pending computer name.
func clearPendingReboot(s *server) {
	delete(s.registryValue(regUpdates), "UpdateExeVolatile")
	s.ccmRebootPending = false
	delete(s.files, regCBSRebootPending)
	delete(s.files, regWURebootRequired)
	delete(s.registryValue(regSessionManager), "PendingFileRenameOperations")
	if n, ok := s.registryValue(regPendingName)["ComputerName"]; ok {
		s.registryValue(regActiveName)["ComputerName"] = n
	}
}

// registryKeyExists: Test-Path on a registry key (the markers above, and the keys exchsim keeps values of).
func (s *server) registryKeyExists(path string) bool {
	p := strings.ToLower(path)
	if _, ok := s.files[p]; ok {
		return true
	}
	switch p {
	case regSessionManager, regActiveName, regPendingName:
		return true
	}
	return false
}
