#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a short time each (default 10s). go test -fuzz takes one target
# per run, so targets are discovered with go test -list. On a loaded 2-core machine the fuzzing engine
# itself sometimes stops with "context deadline exceeded" without having found anything; such a run (no
# "Failing input written") is retried once. A real finding always fails.
# The targets that do what callers do with decoded server output (issue 25) run 60 s each: a cycle or an
# unbounded walk there kills the daemon, and 10 s found none of the defects a review found.
set -euo pipefail
fuzztime=${1:-10s}
long_targets=" FuzzCallers FuzzProject "
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    t=$fuzztime
    case "$long_targets" in *" $target "*) t=60s ;; esac
    echo "fuzz $pkg $target ($t)"
    for attempt in 1 2; do
      if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg" 2>&1); then
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
