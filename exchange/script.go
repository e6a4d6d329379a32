package exchange

import "strings"

// Script shapes (docs/powershell-dialect.md "How exmaintd writes a read"): every value is projected to a
// JSON-stable form in PowerShell — enums and identities through [string] (the name, never the integer;
// $null becomes ""), numbers through [long], dates as ISO 8601 UTC — and the result goes through
// ConvertTo-Json with an explicit -Depth and -InputObject @(…), so one row is still an array and nothing
// depends on PowerShell 5.1's defaults (integer enums, \/Date()\/, depth 2).

const scriptPrelude = "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; "

type field struct{ name, expr string }

func fStr(name string) field  { return field{name, "[string]$_." + name} }
func fLong(name string) field { return field{name, "[long]$_." + name} }
func fBool(name string) field { return field{name, "[bool]$_." + name} }
func fStrs(name string) field {
	return field{name, "@($_." + name + " | ForEach-Object { [string]$_ })"}
}
func fDate(name string) field { return field{name, dateExpr("$_." + name)} }

func dateExpr(v string) string {
	return "if (" + v + ") { " + v + ".ToUniversalTime().ToString('o') } else { $null }"
}

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
