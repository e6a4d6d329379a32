package exchange

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Release names the Exchange product an AdminDisplayVersion belongs to ("Version 15.2 (Build 2562.17)"):
// 2013 (15.0), 2016 (15.1), 2019 (15.2 before build 2562) or SE (15.2 from build 2562, Subscription
// Edition RTM). Microsoft Learn, "Exchange Server build numbers and release dates". A peer chosen
// automatically must be of the managed server's release: since Exchange 2013 CU12 / 2016 CU1 a remote
// PowerShell session runs on the server it connects to (Exchange Team Blog, "Remote PowerShell Proxying
// Behavior in Exchange 2013 CU12 and Exchange 2016", 2016-03-01), so an older peer would run an older
// release's cmdlets against the newer server.
func Release(adminDisplayVersion string) (string, error) {
	var major, minor, build, rev int
	if n, _ := fmt.Sscanf(strings.TrimSpace(adminDisplayVersion), "Version %d.%d (Build %d.%d)", &major, &minor, &build, &rev); n < 3 {
		return "", fmt.Errorf("AdminDisplayVersion %q: want \"Version 15.x (Build n.n)\"", adminDisplayVersion)
	}
	switch {
	case major == 15 && minor == 0:
		return "2013", nil
	case major == 15 && minor == 1:
		return "2016", nil
	case major == 15 && minor == 2 && build < 2562:
		return "2019", nil
	case major == 15 && minor == 2:
		return "SE", nil
	}
	return "", fmt.Errorf("AdminDisplayVersion %q: not a release exmaintd knows (15.0, 15.1 or 15.2)", adminDisplayVersion)
}

// peerRelease checks, on a pool just opened on peer, that the peer runs the managed server's release. It
// reads both servers' AdminDisplayVersion through that pool, once per peer for the client's life.
func (c *Client) peerRelease(ctx context.Context, p *pool, peer string) error {
	if c.releases == nil {
		c.releases = map[string]string{}
	}
	read := func(server string) (string, error) {
		if r, ok := c.releases[strings.ToUpper(server)]; ok {
			return r, nil
		}
		rctx, cancel := context.WithTimeout(ctx, min(c.opts.ReadTimeout, 30*time.Second))
		defer cancel()
		res, _, err := p.run(rctx, *command("Get-ExchangeServer", param("Identity", server)))
		if err != nil {
			return "", fmt.Errorf("Get-ExchangeServer %s: %w", server, err)
		}
		xs, err := projectExchangeServers(res.Output)
		if err != nil {
			return "", err
		}
		if len(xs) != 1 {
			return "", fmt.Errorf("Get-ExchangeServer %s: %d objects, want 1", server, len(xs))
		}
		r, err := Release(xs[0].AdminDisplayVersion)
		if err != nil {
			return "", fmt.Errorf("Get-ExchangeServer %s: %w", server, err)
		}
		c.releases[strings.ToUpper(server)] = r
		return r, nil
	}
	own, err := read(c.ep.Name)
	if err != nil {
		return err
	}
	theirs, err := read(peer)
	if err != nil {
		return err
	}
	if own != theirs {
		return fmt.Errorf("not used: %s runs Exchange %s and %s runs %s (a peer chosen automatically must run the same release)", peer, theirs, c.ep.Name, own)
	}
	return nil
}
