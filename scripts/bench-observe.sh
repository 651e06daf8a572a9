#!/usr/bin/env bash
# What --metrics and --trace cost with gVisor's real lisafs client: runs
# build/lisafs_bench (bench/lisafs, over flipcall channels) against our gofer
# only, one run per configuration, the configurations rotated round by round:
#   off      dist/gofer as it is
#   metrics  dist/gofer --metrics unix:... (never scraped during the run)
#   trace    dist/gofer --trace (records to /dev/null)
#   before   --base PATH: another build (e.g. the branch point), no flag
# and prints, per configuration, the median over rounds of each row's median
# latency and of the server's CPU time per iteration, and the ratio to "off".
#
# Usage: scripts/bench-observe.sh [--rounds N] [--iters N] [--cpu N] [--base PATH]
#   --cpu N pins client and gofer to CPU N (default 0); -1 leaves them free.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"
rounds=6 iters=5000 cpu=0 base=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--rounds) rounds="$2"; shift 2 ;;
	--iters) iters="$2"; shift 2 ;;
	--cpu) cpu="$2"; shift 2 ;;
	--base) base="$(realpath "$2")"; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
gofer_go_env
gofer_go_build bench
cd "$GOFER_ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ours="$GOFER_ROOT/dist/gofer"
# Wrappers: the bench starts "--gofer PATH --io-fd 3 --mount DIR"; exec keeps
# the PID, so its CPU and memory readings are the gofer's.
printf '#!/bin/sh\nexec %q "$@"\n' "$ours" >"$work/off"
printf '#!/bin/sh\nexec %q "$@" --metrics "unix:%s/m-$$.sock"\n' "$ours" "$work" >"$work/metrics"
printf '#!/bin/sh\nexec %q "$@" --trace 2>/dev/null\n' "$ours" >"$work/trace"
configs=(off metrics trace)
if [[ -n "$base" ]]; then printf '#!/bin/sh\nexec %q "$@"\n' "$base" >"$work/before"; configs+=(before); fi
chmod +x "$work"/*
pin=(); [[ "$cpu" -ge 0 ]] && pin=(taskset -c "$cpu")
n=${#configs[@]}
for ((r = 0; r < rounds; r++)); do
	for ((k = 0; k < n; k++)); do
		c="${configs[$(((k + r) % n))]}"
		"${pin[@]}" build/lisafs_bench --only ours --gofer "$work/$c" --cpu "$cpu" --rounds 1 --starts 0 --idle 0s \
			--iters "$iters" --metrics '^(FStat|PRead 4 KiB|Walk \(1 component\) \+ Close)$' --out "$work/$c.$r.md" >/dev/null 2>&1 ||
			{ echo "round $((r + 1)) $c failed" >&2; exit 1; }
		echo "round $((r + 1))/$rounds $c done" >&2
	done
done
# Each report's rows: "| FStat, median | – | 9.37 µs (...) | – |" and
# "| FStat, server CPU per iteration | – | 14.74 µs | – |".
python3 - "$work" "$rounds" "${configs[@]}" <<'PY'
import re, statistics, sys
work, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
vals = {}
for c in configs:
    for r in range(rounds):
        for line in open(f"{work}/{c}.{r}.md"):
            m = re.match(r"\| (.+?), (median|server CPU per iteration) \| – \| ([\d.]+) µs", line)
            if m:
                vals.setdefault((m[1], m[2]), {}).setdefault(c, []).append(float(m[3]))
# Ratios are taken run by run against the "off" run of the same round (the
# machine's load drifts between rounds), then the median and the range.
print(f"| metric (median of {rounds} runs) | " + " | ".join(configs) + " | " + " | ".join(f"{c}/off per round: median (range)" for c in configs[1:]) + " |")
print("|---|" + "---:|" * (2 * len(configs) - 1))
for (name, kind), per in vals.items():
    med = [statistics.median(per[c]) for c in configs]
    label = f"{name}, {'latency' if kind == 'median' else 'server CPU/iteration'} (µs)"
    ratios = []
    for c in configs[1:]:
        r = [a / b for a, b in zip(per[c], per["off"])]
        ratios.append(f"{statistics.median(r):.3f} ({min(r):.2f}–{max(r):.2f})")
    print(f"| {label} | " + " | ".join(f"{v:.2f}" for v in med) + " | " + " | ".join(ratios) + " |")
PY
