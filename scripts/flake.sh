#!/usr/bin/env bash
# Repeats the tests a change touched, to catch a flaky test before it lands (TESTING.md, "Flaky tests").
# Usage: scripts/flake.sh BASE COUNT [extra go test flags...]
#
# A test is touched when a line of its function (Test…, or a Fuzz target's seeds) changed since BASE, or when
# it is new. Each touched test runs COUNT times under the race detector, its package's tests in parallel as
# usual. A changed helper is not followed to its callers: name them with RUN='^(TestA|TestB)$' PKG=./steps.
set -euo pipefail
base=$1 count=$2
shift 2
if [ -n "${RUN:-}" ]; then
  echo "== go test -race -count=$count -run '$RUN' ${PKG:-./...}"
  exec go test -race -count="$count" -run "$RUN" "$@" "${PKG:-./...}"
fi
if ! git rev-parse -q --verify "$base^{commit}" > /dev/null; then
  echo "flake: base commit $base is not in this checkout; fetch it or set BASE" >&2
  exit 1
fi
declare -A tests
while read -r file; do
  [ -f "$file" ] || continue # deleted
  # The changed lines of file (new numbering), then the Test/Fuzz function around each.
  ranges=$(git diff -U0 "$base" -- "$file" | sed -n 's/^@@ -[0-9,]* +\([0-9]*\)\(,\([0-9]*\)\)\{0,1\} @@.*/\1 \3/p')
  names=$(awk -v ranges="$ranges" '
    BEGIN { n = split(ranges, r, "\n"); for (i = 1; i <= n; i++) { split(r[i], p, " "); from[i] = p[1]; len[i] = (p[2] == "" ? 1 : p[2]) } }
    /^func (Test|Fuzz)[A-Z0-9_]/ { name = $2; sub(/\(.*/, "", name); start = NR }
    /^}/ && name != "" {
      for (i = 1; i <= n; i++) if (len[i] > 0 && from[i] <= NR && from[i] + len[i] - 1 >= start) { print name; break }
      name = ""
    }' "$file")
  for name in $names; do
    pkg="./$(dirname "$file")"
    tests[$pkg]="${tests[$pkg]:+${tests[$pkg]}|}$name"
  done
done < <(git diff --name-only "$base" -- '*_test.go'; git ls-files --others --exclude-standard -- '*_test.go')
if [ ${#tests[@]} -eq 0 ]; then
  echo "flake: no test function changed since ${base:0:12}"
  exit 0
fi
rc=0
for pkg in $(printf '%s\n' "${!tests[@]}" | sort); do
  run="^($(printf '%s\n' "${tests[$pkg]}" | tr '|' '\n' | sort -u | paste -sd '|'))\$"
  echo "== $pkg: go test -race -count=$count -run '$run'"
  go test -race -count="$count" -run "$run" "$@" "$pkg" || rc=1
done
exit $rc
