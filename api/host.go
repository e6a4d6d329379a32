package api

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// allowHosts refuses requests whose Host header names a host outside allowed, the defence against DNS
// rebinding: a web page on a name the attacker controls, rebound to this daemon's address, reaches the API
// from the victim's browser with its own name in Host. IP literals are always accepted (a page cannot make
// a browser send one for its own origin), as are names in allowed, compared case-insensitively without the
// port; an entry starting with "." accepts every name under it. Refusals are logged at most once a
// refusalLogEvery, the name cut to maxLoggedHost and the refusals since the last line counted: the Host
// header is the sender's choice, so nothing is kept per name and the log cannot be flooded with it.
func allowHosts(next http.Handler, allowed []string, logger *slog.Logger, now func() time.Time) http.Handler {
	var (
		mu         sync.Mutex
		lastLogged time.Time
		suppressed int
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		if hostAllowed(host, allowed) {
			next.ServeHTTP(w, r)
			return
		}
		shown := truncate(host, maxLoggedHost)
		mu.Lock()
		t := now()
		log := lastLogged.IsZero() || t.Sub(lastLogged) >= refusalLogEvery
		n := suppressed
		if log {
			lastLogged, suppressed = t, 0
		} else {
			suppressed++
		}
		mu.Unlock()
		if log {
			logger.Warn("api: request for a host name not in daemon.allowed_hosts refused", "host", shown, "refused_since_last_line", n)
		}
		writeError(w, logger, http.StatusForbidden, "host_not_allowed",
			"host "+strconv.Quote(shown)+" is not in daemon.allowed_hosts (a defence against DNS rebinding): add it, or use an IP address")
	})
}

const (
	refusalLogEvery = time.Minute
	maxLoggedHost   = 100 // bytes of a refused Host that reach the log and the error
)

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
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
