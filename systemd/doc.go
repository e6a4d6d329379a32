// Package systemd holds exmaintd's systemd unit (exmaintd.service) and the test that checks it with the real
// systemd-analyze: `verify` clean and a `security` exposure of at most 1.5. There is no Go code here to
// import; the daemon's side of the protocol is package sdnotify.
package systemd
