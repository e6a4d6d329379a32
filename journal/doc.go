// Package journal is exmaintd's crash-safe record of every run: each transition (run started, original
// values recorded, step started and done, undo started and done, run finished) is appended as one line and
// fsynced before the action that depends on it. On start, the records tell which runs did not finish and
// what each server's original state was, so the daemon can bring it back.
//
// Format: JSON lines, each prefixed with the CRC-32C of its JSON ("<8 hex> <json>\n"). Chosen over bbolt
// because an operator can read it with tail and jq at 3 a.m., appends are the only write (one fsync each),
// and a torn write can only hit the last line, which the checksum detects. The records can live in etcd
// instead (journal/etcdstore, docs/ha.md): Store is the seam.
package journal
