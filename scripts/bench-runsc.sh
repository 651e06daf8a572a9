#!/usr/bin/env bash
# runsc benchmark: a real gVisor sandbox (ptrace, --directfs=false) served by
# our gofer (dist/gofer, through runsc's RUNSC_GOFER_OVERRIDE hook) against
# the same sandbox served by runsc's own gofer, runs alternated in one
# invocation. Prints a markdown table and writes it to
# bench/results/runsc-latest.md. See docs/benchmarks-runsc.md.
#
# Usage: scripts/bench-runsc.sh [--rounds N] [--warmup N] [--only ours|ref|both]
#                               [--gofer PATH] [--ref-gofer PATH] [--runsc PATH] [--out FILE]
#                               [--workloads walk,tar,files,start]
#                               [--walk-tree DIR] [--tar-tree DIR] [--files N] [--start-rounds N]
# Harness check (reference gofer on both sides, ratios should be ~1.0x):
#   scripts/bench-runsc.sh --gofer /opt/gvisor-ref/bin/runsc-stock
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runsc="${GVISOR_REF_HOME:-/opt/gvisor-ref}/bin/runsc"
gofer="$PWD/dist/gofer"
only=both
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	--runsc) runsc="${args[i+1]:-}" ;;
	--runsc=*) runsc="${args[i]#--runsc=}" ;;
	--gofer) gofer="${args[i+1]:-}" ;;
	--gofer=*) gofer="${args[i]#--gofer=}" ;;
	--only) only="${args[i+1]:-}" ;;
	--only=*) only="${args[i]#--only=}" ;;
	esac
done

bun=node_modules/.bin/bun
[[ -x "$bun" ]] || { echo "FATAL: $bun not found: run npm install" >&2; exit 2; }
if [[ ! -x "$runsc" ]]; then
	echo "FATAL: runsc not found at $runsc" >&2
	echo "       Install gVisor with: bash ../shared/gvisor/setup.sh (needs root), or pass --runsc PATH" >&2
	exit 2
fi
if [[ "$only" != ref && ! -x "$gofer" ]]; then
	echo "FATAL: gofer not found at $gofer" >&2
	echo "       Build it with: bun run build.ts, or pass --gofer PATH (or --only ref)" >&2
	exit 2
fi
[[ $EUID -eq 0 ]] || { echo "FATAL: runsc --rootless=false needs root" >&2; exit 2; }

exec "$bun" bench/runsc.ts "$@"
