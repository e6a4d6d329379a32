package exchange

import "strings"

// Script shapes of the WinRS operations (docs/powershell-dialect.md "How exmaintd writes a read"): every value
// is projected to a JSON-stable form in PowerShell — enums through [string] (the name, never the integer;
// $null becomes "") — and the result goes through
// ConvertTo-Json with an explicit -Depth and -InputObject @(…), so one row is still an array and nothing
// depends on PowerShell 5.1's defaults (integer enums, \/Date()\/, depth 2).

const scriptPrelude = "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; "

type field struct{ name, expr string }

func fStr(name string) field { return field{name, "[string]$_." + name} }

// selectJSON is a read: pipeline | Select-Object projections | ConvertTo-Json.
func selectJSON(pipeline string, fields ...field) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = "@{Name='" + f.name + "'; Expression={ " + f.expr + " }}"
	}
	return scriptPrelude + "ConvertTo-Json -Depth 6 -Compress -InputObject @(" + pipeline + " | Select-Object " + strings.Join(parts, ", ") + ")"
}

// writeJSON is a write: the cmdlet, its output discarded, then a JSON true so that every reply is JSON.
func writeJSON(command string) string {
	return scriptPrelude + command + " | Out-Null; ConvertTo-Json -InputObject $true -Compress"
}
