package org

import (
	"regexp"
	"slices"
	"strings"
)

// PowerShell Gallery modules. A Windows Server has none installed: a job that imports PSWindowsUpdate, or
// calls its cmdlets (which module auto-loading would find only if it were installed), fails at once — the
// harsher reading where a script would otherwise only report what it did not do. PSWindowsUpdate is the
// Gallery module the community's Windows Update scripts use; the Windows Update Agent API
// (Microsoft.Update.Session) is Windows' own.

var (
	importPSWU = regexp.MustCompile(`(?i)\bImport-Module\s+['"]?PSWindowsUpdate\b`)
	psWUCmdlet = regexp.MustCompile(`(?i)\b(Install|Get|Invoke|Hide|Show|Remove)-WU\w*\b|\b(Install|Get)-WindowsUpdate\b`)
)

// missingModule is the error a job's script meets when it uses PSWindowsUpdate and the scenario does not
// install it; "" when it does not use it or it is installed. Callers hold g.mu.
func (g *Org) missingModule(script string) string {
	if slices.ContainsFunc(g.sc.Modules, func(m string) bool { return strings.EqualFold(m, "PSWindowsUpdate") }) {
		return ""
	}
	if importPSWU.MatchString(script) {
		return "Import-Module : The specified module 'PSWindowsUpdate' was not loaded because no valid module file was found in any module directory.\r\n" +
			"    + CategoryInfo          : ResourceUnavailable: (PSWindowsUpdate:String) [Import-Module], FileNotFoundException\r\n" +
			"    + FullyQualifiedErrorId : Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand"
	}
	if m := psWUCmdlet.FindString(script); m != "" {
		return m + " : The term '" + m + "' is not recognized as the name of a cmdlet, function, script file, or operable program.\r\n" +
			"    + CategoryInfo          : ObjectNotFound: (" + m + ":String) [], CommandNotFoundException\r\n" +
			"    + FullyQualifiedErrorId : CommandNotFoundException"
	}
	return ""
}
