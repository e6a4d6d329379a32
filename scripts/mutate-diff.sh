#!/usr/bin/env bash
# Mutation testing of the lines a change touches, for packages whose full run does not fit in CI (steps:
# ≈ 2 h, exchange: hours). Usage: scripts/mutate-diff.sh BASE WORKERS PACKAGE [gremlins flags...]
#
# Only mutants on lines changed since BASE (the last commit that landed, tools/mutate/base) are tested.
# The gate: every such mutant is killed, or tools/mutate/equivalent.txt lists it (by file, mutator and the
# line's text, so that the entry survives lines moving) under a comment that says why it is equivalent.
# A changed line no test runs (NOT COVERED) fails the same way: new code without a test.
#
# gremlins v0.6.0's --diff marks every mutant SKIPPED when the target is a package below the module root
# (go-gremlins/gremlins#278: git prints paths from the repository root, gremlins looks them up relative to
# the package). Running from the package with git's diff.relative set makes git print them relative to it.
set -euo pipefail
base=$1 workers=$2 pkg=$3
shift 3
root=$(pwd)
if ! git rev-parse -q --verify "$base^{commit}" > /dev/null; then
  echo "mutate-diff: base commit $base is not in this checkout (a shallow clone?); fetch it or set MUTATE_BASE" >&2
  exit 1
fi
echo "== $pkg: lines changed since ${base:0:12}"
if git diff --quiet "$base" -- "$pkg/*.go" ":(exclude)$pkg/*_test.go"; then
  echo "no change to $pkg's code since ${base:0:12}: nothing to mutate"
  exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
(cd "$pkg" && GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=diff.relative GIT_CONFIG_VALUE_0=true \
  go tool -modfile="$root/tools/mutate/go.mod" gremlins unleash --workers "$workers" -S lctk --diff "$base" "$@" "$root/$pkg") | tee "$out"
if ! grep -aq '^Killed: ' "$out"; then
  echo "mutate-diff: gremlins printed no result for $pkg" >&2
  exit 1
fi
unexplained=0
while read -r status mutator file line; do
  text=$(sed -n "${line}p" "$pkg/$file" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
  if grep -qxF "$pkg/$file $mutator $text" tools/mutate/equivalent.txt; then
    echo "listed as equivalent: $status $mutator $pkg/$file:$line"
    continue
  fi
  echo "mutate-diff: $status $mutator at $pkg/$file:$line, a changed line: kill it with a test, or list it in tools/mutate/equivalent.txt with why:" >&2
  echo "  $pkg/$file $mutator $text" >&2
  unexplained=$((unexplained + 1))
done < <(tr -d '\r' < "$out" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' |
  sed -n 's/^ *\(LIVED\|NOT COVERED\) \([A-Z_]*\) at \([^:]*\):\([0-9]*\):[0-9]*$/\1 \2 \3 \4/p' | sed 's/^NOT COVERED/NOT_COVERED/')
if [ "$unexplained" -gt 0 ]; then
  echo "mutate-diff: $pkg: $unexplained mutants on changed lines neither killed nor listed as equivalent" >&2
  exit 1
fi
