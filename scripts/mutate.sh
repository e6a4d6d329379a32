#!/usr/bin/env bash
# Mutation testing with gremlins (pinned in tools/mutate/go.mod) and an efficacy gate that cannot pass
# vacuously. Usage: scripts/mutate.sh THRESHOLD WORKERS PACKAGE [gremlins flags...]
#
# GOFLAGS=-count=1: gremlins sets each mutant's timeout from the time of its coverage run; a coverage run
# answered from Go's test cache takes under a second, and every mutant then "times out" — which gremlins
# counts neither killed nor lived, so its own threshold passes with an efficacy of 0 (seen here: 81 of 81).
# This script fails when nothing was killed or lived, or when killed / (killed + lived) is below THRESHOLD.
set -euo pipefail
threshold=$1 workers=$2 pkg=$3
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== $pkg (efficacy gate ${threshold} %)"
GOFLAGS=-count=1 go tool -modfile=tools/mutate/go.mod gremlins unleash --workers "$workers" -S lt "$@" "./$pkg" | tee "$out"
read -r killed lived < <(sed -n 's/^Killed: \([0-9]*\), Lived: \([0-9]*\).*/\1 \2/p' "$out" | tail -1)
if [ -z "${killed:-}" ] || [ $((killed + lived)) -eq 0 ]; then
  echo "mutate: $pkg: no mutant was killed or lived (all timed out or not covered): the gate cannot judge" >&2
  exit 1
fi
if [ $((killed * 1000 / (killed + lived))) -lt $((threshold * 10)) ]; then
  echo "mutate: $pkg: efficacy $((killed * 1000 / (killed + lived) / 10)).$((killed * 1000 / (killed + lived) % 10)) % is below ${threshold} %" >&2
  exit 1
fi
