// Package exchange is exmaintd's client for Exchange servers: typed Exchange Management Shell operations over
// a persistent PowerShell session (docs/session-protocol.md) on a WinRM shell, with per-call deadlines,
// bounded retries and PowerShell-safe quoting.
package exchange
