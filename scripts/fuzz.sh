#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each: an execution
# count such as 100000x (the default), or a duration such as 1m.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-100000x}
status=0
passed=0
failed=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($fuzztime)"
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1; then
      passed=$((passed + 1))
    else
      cat /tmp/fuzz.$$.log
      failed=$((failed + 1))
      status=1
    fi
  done
done
rm -f /tmp/fuzz.$$.log
echo "fuzz: $passed passed, $failed failed"
exit $status
