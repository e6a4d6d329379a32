package exchange

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A peer chosen automatically must run the managed server's release (Version.Product: 2013, 2016, 2019 or
// SE): since Exchange 2013 CU12 / 2016 CU1 a remote PowerShell session runs on the server it connects to
// (Exchange Team Blog, "Remote PowerShell Proxying Behavior in Exchange 2013 CU12 and Exchange 2016",
// 2016-03-01), so an older peer would run an older release's cmdlets against the newer server.

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
		v, err := ParseVersion(xs[0].AdminDisplayVersion)
		if err != nil {
			return "", fmt.Errorf("Get-ExchangeServer %s: %w", server, err)
		}
		c.releases[strings.ToUpper(server)] = v.Product()
		return v.Product(), nil
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
		return fmt.Errorf("not used: %s runs %s and %s runs %s (a peer chosen automatically must run the same release)", peer, theirs, c.ep.Name, own)
	}
	return nil
}
