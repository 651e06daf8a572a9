#!/usr/bin/env bash
# The protocol-aware fuzzers of the test suite (lisafs: tests/hostile.test.ts,
# over the socket and a channel; 9P: tests/p9-hostile.test.ts, inherited FD and
# --listen), run longer and with fresh seeds than the test command runs them.
# Each run checks what the tests check: every reply well-formed, no handler
# throwing (EREMOTEIO), the other connection still served, no FD left on the
# decoy, nothing outside the mount touched, exit 0.
#
# Usage: bench/fuzz.sh [--scale N] [--rounds N]
#   --scale N   messages per fuzzer: N times the test command's (default 20)
#   --rounds N  rounds, each with a new random seed (default 3)
# A failing round prints its FUZZ_SEED: rerun with
#   FUZZ_SEED=S FUZZ_SCALE=N node_modules/.bin/bun test --timeout 0 tests/hostile.test.ts tests/p9-hostile.test.ts -t fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
scale=20
rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) scale=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: bench/fuzz.sh [--scale N] [--rounds N]" >&2; exit 2 ;;
  esac
done
[[ -x node_modules/.bin/bun ]] || { echo "FATAL: run npm install first" >&2; exit 2; }
node_modules/.bin/bun run build.ts >&2
failed=0
for ((i = 1; i <= rounds; i++)); do
  seed=$(( (RANDOM << 15) | RANDOM ))
  echo "== round $i/$rounds: FUZZ_SEED=$seed FUZZ_SCALE=$scale" >&2
  if ! FUZZ_SEED=$seed FUZZ_SCALE=$scale node_modules/.bin/bun test --timeout 0 tests/hostile.test.ts tests/p9-hostile.test.ts -t "fuzz|random bytes" >&2; then
    echo "FAILED: FUZZ_SEED=$seed FUZZ_SCALE=$scale" >&2
    failed=$((failed + 1))
  fi
done
echo "fuzz: $((rounds - failed)) passed, $failed failed"
[[ $failed -eq 0 ]]
