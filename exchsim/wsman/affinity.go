package wsman

import (
	"crypto/rand"
	"encoding/hex"
)

// The affinity cookie. Exchange's remote PowerShell answers a runspace pool's creation with a cookie,
// MS-WSMAN, and a load balancer in front of several servers routes by it: a later request of that pool
// that comes back without it can reach another server, which knows no such shell, and fails with
// ERROR_WSMAN_INVALID_SELECTORS (microsoft/omi#523 and PowerShell/PowerShell#3771, Exchange Online;
// jborean93/pypsrp#165 made pypsrp send the cookies back for that reason). Whether an on-premises server
// reached by its own name sets and checks it is not documented; exchsim models the harsher case: every
// /PowerShell pool's creation sets MS-WSMAN (path /PowerShell, HttpOnly), and a request of the pool without
// the same cookie fails as a shell not found. /wsman sets no cookie (Windows' WinRM service does not).
const affinityCookie = "MS-WSMAN"

// newAffinity returns a fresh cookie value.
func newAffinity() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
