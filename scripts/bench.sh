#!/usr/bin/env bash
# lisafs benchmark: our gofer (dist/gofer) vs the reference (runsc-stock),
# driven by gVisor's real lisafs client over flipcall channels, both runs
# interleaved (ABAB...) in one invocation, client and server pinned to CPU 0.
# Prints a markdown table and writes it to bench/results/lisafs-latest.md.
#
# Usage: scripts/bench.sh [--only ours|ref] [--rounds N] [--iters N] [--warmup N]
#                         [--starts N] [--cpu N] [--gofer PATH] [--out FILE]
#                         [--metrics REGEXP]
# Defaults: both servers, 4 runs each, 2000 timed iterations per metric per run.
# --cpu -1 runs client and servers unpinned. --metrics runs only the rows
# whose name matches. A second table gives the client's and the server's CPU
# time per iteration (pinned, one side's scheduling can cost the other).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"

out="$GOFER_ROOT/bench/results/lisafs-latest.md"
cpu=0
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) out="$2"; shift 2 ;;
	--out=*) out="${1#--out=}"; shift ;;
	--cpu) cpu="$2"; shift 2 ;;
	--cpu=*) cpu="${1#--cpu=}"; shift ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

gofer_go_env
gofer_go_build bench
command -v taskset >/dev/null || { echo "FATAL: taskset (util-linux) is required" >&2; exit 2; }

export GOFER_BENCH_INVOCATION="scripts/bench.sh ${args[*]:-}"
cd "$GOFER_ROOT"
pin=(taskset -c "$cpu")
[[ "$cpu" == "-1" ]] && pin=()   # --cpu -1: unpinned, the scheduler decides
set -x
"${pin[@]}" build/lisafs_bench --cpu "$cpu" --gofer dist/gofer --runsc "$GOFER_RUNSC_STOCK" \
	--out "$out" "${args[@]}"
