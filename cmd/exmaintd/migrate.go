package main

import (
	"context"
	"fmt"
	"io"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/exmaintd/exmaintd/config"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore"
)

// cmdJournal is `exmaintd journal migrate`: the file journal into etcd, before a cluster's first start.
func cmdJournal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "migrate" {
		return usageError("usage: exmaintd journal migrate -config FILE [-from JOURNAL]")
	}
	fs := flags("journal migrate", stderr)
	path := fs.String("config", "", "configuration file ([cluster] backend = \"etcd\": the target)")
	from := fs.String("from", "", "the file journal (default: journal.jsonl in daemon.state_dir)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if c.Cluster.Backend != config.BackendEtcd {
		return usageError("journal migrate: %s: [cluster] backend is %q; set it to \"etcd\" (the target) first", *path, c.Cluster.Backend)
	}
	src := *from
	if src == "" {
		src = c.JournalPath()
	}
	recs, rep, err := journal.ReadFile(src)
	if err != nil {
		return err
	}
	cl, err := etcdClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	n, err := migrate(ctx, cl, c.Cluster, recs)
	if err != nil {
		return fmt.Errorf("journal migrate: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "migrated %d records from %s to etcd prefix %s (%d damaged and %d torn bytes skipped, as the daemon would)\nkeep %s until the cluster has run; the daemons now read the journal from etcd\n",
		n, src, c.Cluster.Prefix, rep.Corrupt, rep.TornBytes, src)
	return err
}

// migrate writes recs under k.Prefix. It leads the election meanwhile, so that no instance starting now
// acts on a half-copied journal (it stands by), and refuses when an instance leads already or the etcd
// journal is not empty: migration is for a cluster's first start, and never overwrites.
func migrate(ctx context.Context, cl *clientv3.Client, k config.Cluster, recs []journal.Record) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, k.RequestTimeout.Duration*10)
	defer cancel()
	leaders, err := cl.Get(ctx, k.Prefix+"leader", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("reading %sleader: %w", k.Prefix, err)
	}
	if leaders.Count > 0 {
		return 0, fmt.Errorf("an exmaintd instance is running on prefix %s (it holds or campaigns for leadership): stop every instance first", k.Prefix)
	}
	sess, err := concurrency.NewSession(cl, concurrency.WithTTL(int(k.LeaseTTL.Seconds())), concurrency.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, k.Prefix+"leader")
	if err := el.Campaign(ctx, `{"name":"exmaintd journal migrate"}`); err != nil {
		return 0, fmt.Errorf("taking the leadership for the migration: %w", err)
	}
	store, err := journalStore(cl, k)
	if err != nil {
		return 0, err
	}
	store.SetFence(&etcdstore.Fence{Key: el.Key(), Revision: el.Rev()}, sess.Done())
	existing, _, err := store.Load()
	if err != nil {
		return 0, err
	}
	if len(existing) > 0 {
		return 0, fmt.Errorf("the etcd journal under %s has %d records already: migration never overwrites", k.Prefix, len(existing))
	}
	for _, r := range recs {
		line, err := journal.Encode(r)
		if err != nil {
			return 0, fmt.Errorf("record %d: %w", r.Seq, err)
		}
		if err := store.Put(r, line); err != nil {
			return 0, fmt.Errorf("record %d: %w", r.Seq, err)
		}
	}
	back, rep, err := store.Load()
	if err != nil {
		return 0, fmt.Errorf("reading the migrated journal back: %w", err)
	}
	if len(back) != len(recs) || rep.Corrupt > 0 {
		return 0, fmt.Errorf("read back %d records (%d damaged) after writing %d", len(back), rep.Corrupt, len(recs))
	}
	for i := range back {
		if back[i].Seq != recs[i].Seq || back[i].Type != recs[i].Type || back[i].Run != recs[i].Run {
			return 0, fmt.Errorf("record %d reads back as %d %s", recs[i].Seq, back[i].Seq, back[i].Type)
		}
	}
	if err := el.Resign(ctx); err != nil {
		return 0, fmt.Errorf("resigning after the migration: %w", err)
	}
	return len(back), nil
}
