package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/exmaintd/exmaintd/demo"
	"github.com/exmaintd/exmaintd/exchsim/simtest"
	"github.com/exmaintd/exmaintd/journal"
	"github.com/exmaintd/exmaintd/journal/etcdstore"
	"github.com/exmaintd/exmaintd/journal/etcdstore/etcdtest"
)

// TestJournalMigrate copies a file journal (with a torn last record, as a crash leaves it) into etcd,
// reads it back through the etcd store, and refuses to run a second time or while an instance runs.
func TestJournalMigrate(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	ec := cluster.Client(t)
	dir := t.TempDir()
	path, err := demo.WriteConfig(dir, simtest.Start(t, simtest.Options{}), demo.Options{Extra: fmt.Sprintf(`
[cluster]
backend = "etcd"
endpoints = ["http://%s"]
prefix = "/migrate/"
`, cluster.Endpoints()[0])})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "old", "journal.jsonl")
	j, _, _, err := journal.Open(src, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []journal.Record
	for i, typ := range []string{journal.RunStarted, journal.Recorded, journal.StepStarted, journal.StepDone, journal.RunFinished} {
		r, err := j.Append(journal.Record{Type: typ, Run: "r1", Server: "EX01", Step: "drain", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	_ = j.Close()
	f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`1234abcd {"seq":6,"ty`)
	_ = f.Close()

	out, errOut, err := runCmd(t, "journal", "migrate", "-config", path, "-from", src)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "migrated 5 records") || !strings.Contains(out, "torn bytes skipped") {
		t.Errorf("output: %s", out)
	}
	s, err := etcdstore.New(ec, etcdstore.Options{Prefix: "/migrate/"})
	if err != nil {
		t.Fatal(err)
	}
	got, rep, err := s.Load()
	if err != nil || rep.Corrupt != 0 || len(got) != len(want) {
		t.Fatalf("etcd journal: %d records, %+v, %v; want %d", len(got), rep, err, len(want))
	}
	for i := range want {
		a, _ := journal.Encode(want[i])
		b, _ := journal.Encode(got[i])
		if string(a) != string(b) {
			t.Errorf("record %d:\n got %s\nwant %s", i+1, b, a)
		}
	}
	if leaders, err := ec.Get(t.Context(), "/migrate/leader", clientv3.WithPrefix()); err != nil || len(leaders.Kvs) != 0 {
		t.Errorf("the migration left a leadership key behind: %v %v", leaders, err)
	}

	// Never twice: the etcd journal is not empty now.
	if _, _, err := runCmd(t, "journal", "migrate", "-config", path, "-from", src); err == nil || !strings.Contains(err.Error(), "has 5 records already") {
		t.Errorf("second migration: %v; want a refusal", err)
	}
	// Never while an instance runs (it leads or campaigns).
	sess, err := concurrency.NewSession(ec)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := concurrency.NewElection(sess, "/other/leader").Campaign(t.Context(), "exm1"); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(mustRead(t, path), `prefix = "/migrate/"`, `prefix = "/other/"`, 1)
	if err := os.WriteFile(path, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "journal", "migrate", "-config", path, "-from", src); err == nil || !strings.Contains(err.Error(), "stop every instance first") {
		t.Errorf("migration while an instance leads: %v; want a refusal", err)
	}
	// And only into etcd.
	file := strings.Replace(other, `backend = "etcd"`, `backend = "file"`, 1)
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "journal", "migrate", "-config", path); err == nil || !strings.Contains(err.Error(), `backend is "file"`) {
		t.Errorf("migration with the file backend: %v; want a usage error", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
