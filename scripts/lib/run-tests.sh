#!/usr/bin/env bash
# Runs the compiled tap tests and ends with one plain summary line ("tests: N passed, N failed").
set -uo pipefail
cd "$(dirname "$0")/../.."
ip link set lo up 2>/dev/null || true
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

# Only *.test.js files are tests; helpers compiled beside them are not.
targets=()
[ $# -eq 0 ] && set -- test
for a in "$@"; do
  a=${a%/}; a=${a%.ts}
  if [ -d "$a" ]; then
    while IFS= read -r f; do targets+=("$f"); done < <(find "dist/$a" -name '*.test.js' | sort)
  else
    targets+=("dist/$a.js")
  fi
done

log=$(mktemp)
# One file at a time: the media tests run real encoders, browsers and WebRTC stacks on two shared cores, and
# two of them at once make frame-rate assertions flaky without testing anything more.
npx tap --jobs=1 --reporter=base "${targets[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^# \{ total: ' "$log" | tail -1)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$summary")
rm -f "$log"
if [ -z "$pass" ] && [ "$rc" = 0 ]; then echo "[test] no test ran" >&2; exit 1; fi
[ "$rc" != 0 ] && [ "${fail:-0}" = 0 ] && fail=1   # a crashed test file counts as a failure
echo "tests: ${pass:-0} passed, ${fail:-0} failed${skip:+, $skip skipped}"
exit "$rc"
