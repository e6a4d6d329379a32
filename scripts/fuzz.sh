#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a short time each (default 10s). go test -fuzz takes one target
# per run, so targets are discovered with go test -list. On a loaded 2-core machine the fuzzing engine
# itself sometimes stops with "context deadline exceeded" without having found anything; such a run (no
# "Failing input written") is retried once. A real finding always fails.
set -euo pipefail
fuzztime=${1:-10s}
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($fuzztime)"
    for attempt in 1 2; do
      if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
        echo "$out" | tail -1
        break
      fi
      echo "$out" | tail -20
      if [ "$attempt" = 2 ] || echo "$out" | grep -q 'Failing input written'; then
        exit 1
      fi
      echo "fuzz engine stopped without a finding; retrying once"
    done
  done
done
