// Package election makes one exmaintd instance of several the leader, with etcd's concurrency package
// (a campaign on a session lease): only the leader schedules and runs windows, the others stand by. A
// leader whose session ends (its lease ran out: the process paused, etcd unreachable for the TTL) is
// leader no more, and its journal writes fail from then on (journal/etcdstore's fence).
package election

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/exmaintd/exmaintd/journal/etcdstore"
	"github.com/exmaintd/exmaintd/sentinel"
)

// Identity is what the leader publishes in its election key: who it is and where its API is.
type Identity struct {
	Name      string `json:"name"`
	Advertise string `json:"advertise,omitempty"`
}

// Leadership is what winning gives: the fence for the journal and the end of the session.
type Leadership struct {
	Fence etcdstore.Fence
	// Done is closed when the session ends: this instance is leader no more.
	Done <-chan struct{}
}

// Options configure New.
type Options struct {
	Client *clientv3.Client
	// Prefix is the organisation's key prefix ("/exmaintd/"); the election lives under prefix + "leader".
	Prefix string
	// TTL is the session lease in seconds.
	TTL    int
	Self   Identity
	Logger *slog.Logger
	// OnLeader is told who leads whenever that changes (Identity{} while nobody does); may be nil.
	OnLeader func(Identity)
}

// Elector campaigns for this instance.
type Elector struct{ o Options }

// ErrLost is Run's error when this instance was leader and its session ended.
const ErrLost = sentinel.Error("leadership lost")

// New checks the options.
func New(o Options) (*Elector, error) {
	if o.Client == nil || o.Prefix == "" || o.TTL < 1 || o.Self.Name == "" {
		return nil, errors.New("election: client, prefix, TTL and name are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnLeader == nil {
		o.OnLeader = func(Identity) {}
	}
	return &Elector{o: o}, nil
}

// Run campaigns until this instance leads, then calls lead with a context that ends when leadership does.
// It returns when ctx ends (after resigning, so that a standby takes over at once: a clean stop does not
// make the others wait out the lease), or with an error that is ErrLost when leadership was lost — the
// caller must then stop acting and exit, and restart as a standby.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context, l Leadership) error) error {
	sess, err := concurrency.NewSession(e.o.Client, concurrency.WithTTL(e.o.TTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("election: starting a session with etcd: %w", err)
	}
	defer sess.Close() // revokes the lease: a standby's campaign wins at once
	el := concurrency.NewElection(sess, e.o.Prefix+"leader")
	var observing sync.WaitGroup
	defer observing.Wait()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	observing.Go(func() { e.observe(watchCtx, el) })
	self, _ := json.Marshal(e.o.Self)
	e.o.Logger.Info("standing by: campaigning for leadership", "name", e.o.Self.Name)
	if err := el.Campaign(ctx, string(self)); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("election: campaigning: %w", err)
	}
	e.o.Logger.Info("elected leader", "name", e.o.Self.Name, "key", el.Key(), "revision", el.Rev())
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends when the session or lead's context does
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	err = lead(lctx, Leadership{Fence: etcdstore.Fence{Key: el.Key(), Revision: el.Rev()}, Done: sess.Done()})
	select {
	case <-sess.Done():
		if ctx.Err() == nil {
			return fmt.Errorf("election: %s: %w (the session with etcd ended)", e.o.Self.Name, ErrLost)
		}
	default:
	}
	if ctx.Err() != nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if rerr := el.Resign(rctx); rerr != nil {
			e.o.Logger.Warn("resigning leadership", "err", rerr)
		}
	}
	return err
}

// observe reports the leader's identity as it changes, until ctx ends.
func (e *Elector) observe(ctx context.Context, el *concurrency.Election) {
	for ctx.Err() == nil {
		for resp := range el.Observe(ctx) {
			var id Identity
			if len(resp.Kvs) > 0 && json.Unmarshal(resp.Kvs[0].Value, &id) == nil {
				e.o.OnLeader(id)
			}
		}
		if ctx.Err() == nil {
			select { // the observation ended (etcd unreachable): nobody known to lead; try again
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			e.o.OnLeader(Identity{})
		}
	}
}
