#!/usr/bin/env bash
# lisafs benchmark: our gofer (dist/gofer) vs the reference (runsc-stock),
# driven by gVisor's real lisafs client over flipcall channels, both runs
# interleaved (ABAB...) in one invocation, in three placements by default:
#   pinned    client and servers on CPU 0 (taskset -c 0)
#   unpinned  nobody pinned: the scheduler decides (what production sees)
#   split     client on CPU 0, servers on CPU 1 (every wake crosses CPUs)
# Prints a markdown report per mode and writes each to
# bench/results/lisafs-MODE-latest.md (with --out FILE and one mode: FILE).
# Each report has per-run ratio spreads (run i of ours against run i of the
# reference) besides the medians over all runs.
#
# Usage: scripts/bench.sh [--modes pinned,unpinned,split] [--only ours|ref]
#                         [--rounds N] [--iters N] [--warmup N] [--starts N]
#                         [--cpu N] [--gofer PATH] [--out FILE] [--metrics REGEXP]
# Defaults: all three modes, both servers, 4 runs each, 2000 timed iterations
# per metric per run. --cpu N (N >= 0) runs the pinned mode only, on CPU N;
# --cpu -1 the unpinned mode only. --metrics runs only the rows whose name
# matches ('concurrent': the rows of 1, 2, 4 and 8 goroutines at once; their
# span per level: --conc-time). A second table gives the client's and the
# server's CPU time per iteration (pinned, one side's scheduling can cost the
# other). --extra NAME=PATH (repeatable) adds a server launched as ours is,
# measured only up to the after-Mount rows (bench/floor-mem: the floor);
# --json FILE also writes every sample.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"

out=""
modes="pinned,unpinned,split"
pincpu=0
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) out="$2"; shift 2 ;;
	--out=*) out="${1#--out=}"; shift ;;
	--modes) modes="$2"; shift 2 ;;
	--modes=*) modes="${1#--modes=}"; shift ;;
	--cpu|--cpu=*)
		if [[ "$1" == --cpu ]]; then c="$2"; shift 2; else c="${1#--cpu=}"; shift; fi
		if [[ "$c" == "-1" ]]; then modes=unpinned; else modes=pinned pincpu="$c"; fi ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done

gofer_go_env
gofer_go_build bench
command -v taskset >/dev/null || { echo "FATAL: taskset (util-linux) is required" >&2; exit 2; }
[[ "$(nproc)" -ge 2 ]] || [[ "$modes" != *split* ]] || { echo "FATAL: the split mode needs 2 CPUs (use --modes pinned,unpinned)" >&2; exit 2; }

export GOFER_BENCH_INVOCATION="scripts/bench.sh ${args[*]:-}"
cd "$GOFER_ROOT"
IFS=, read -r -a mode_list <<<"$modes"
for mode in "${mode_list[@]}"; do
	case "$mode" in
	pinned) pin=(taskset -c "$pincpu"); flags=(--cpu "$pincpu") ;;
	unpinned) pin=(); flags=(--cpu -1) ;;
	split) pin=(taskset -c 0); flags=(--cpu 0 --server-cpu 1) ;;
	*) echo "FATAL: unknown mode $mode (pinned, unpinned, split)" >&2; exit 2 ;;
	esac
	o="$GOFER_ROOT/bench/results/lisafs-$mode-latest.md"
	[[ -n "$out" && ${#mode_list[@]} -eq 1 ]] && o="$out"
	echo "== mode: $mode" >&2
	(
		set -x
		"${pin[@]}" build/lisafs_bench "${flags[@]}" --gofer dist/gofer --runsc "$GOFER_RUNSC_STOCK" \
			--out "$o" "${args[@]}"
	)
done
