package api

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
)

// allowHosts refuses requests whose Host header names a host outside allowed, the defence against DNS
// rebinding: a web page on a name the attacker controls, rebound to this daemon's address, reaches the API
// from the victim's browser with its own name in Host. IP literals are always accepted (a page cannot make
// a browser send one for its own origin), as are names in allowed, compared case-insensitively without the
// port; an entry starting with "." accepts every name under it. A refused Host is logged once.
func allowHosts(next http.Handler, allowed []string, logger *slog.Logger) http.Handler {
	var warned sync.Map
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		if hostAllowed(host, allowed) {
			next.ServeHTTP(w, r)
			return
		}
		if _, seen := warned.LoadOrStore(host, true); !seen {
			logger.Warn("api: request for a host name not in daemon.allowed_hosts refused", "host", host)
		}
		writeError(w, logger, http.StatusForbidden, "host_not_allowed",
			"host "+host+" is not in daemon.allowed_hosts (a defence against DNS rebinding): add it, or use an IP address")
	})
}

// hostOnly strips the port and IPv6 brackets and lower-cases the name.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

func hostAllowed(host string, allowed []string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	for _, a := range allowed {
		a = strings.ToLower(a)
		if host == a || (strings.HasPrefix(a, ".") && strings.HasSuffix(host, a)) {
			return true
		}
	}
	return false
}

// DefaultAllowedHosts are the names accepted without configuration: localhost and the machine's own name,
// as given and without its domain.
func DefaultAllowedHosts(hostname string) []string {
	out := []string{"localhost"}
	if hostname != "" {
		out = append(out, hostname)
		if short, _, ok := strings.Cut(hostname, "."); ok {
			out = append(out, short)
		}
	}
	return out
}
