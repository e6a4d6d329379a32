// Package probe is exmaintd's first contact with an organisation: read-only checks, per server and channel,
// of everything a window will need — the network path and certificate to each endpoint, the WinRS session
// and the reads it makes there (clock, pending restart, installers, services, cluster), the Exchange
// endpoints and every read of the procedure, and that the patch account can register, run and remove a
// scheduled task — each with what was found and, where it fails, the remedy. Nothing it does changes a
// server's state (the no-op task is removed again); it is safe on production.
package probe
