package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves h on ln until ctx ends, then shuts down gracefully within shutdownTimeout on a fresh context
// (the cancelled one would abort the shutdown at once). Every phase of a request is bounded (serverLimits),
// so a client that declares a body and never sends it, or never reads the answer, cannot hold a connection.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, shutdownTimeout time.Duration) error {
	return serve(ctx, ln, h, shutdownTimeout, serverLimits())
}

// limits bound a connection's phases.
type limits struct {
	readHeader, read, write, idle time.Duration
	maxHeader                     int
}

// serverLimits: the API's requests are small (no action reads a body) and a /metrics answer at 2,000
// servers is written in well under a second, so 30 s to read a request and a minute to write an answer
// leave a wide margin.
func serverLimits() limits {
	return limits{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: 2 * time.Minute, maxHeader: 64 << 10}
}

func serve(ctx context.Context, ln net.Listener, h http.Handler, shutdownTimeout time.Duration, l limits) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: l.readHeader, ReadTimeout: l.read, WriteTimeout: l.write,
		IdleTimeout: l.idle, MaxHeaderBytes: l.maxHeader}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: serving %s: %w", ln.Addr(), err)
	}
	return nil
}
