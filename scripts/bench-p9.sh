#!/usr/bin/env bash
# 9P benchmark: our gofer (dist/gofer) vs diod, driven by gVisor's real p9
# client (gvisor.dev/gvisor/pkg/p9) over socketpairs, runs interleaved
# (diod, ours, diod, ours...) in one invocation, client and servers pinned to
# CPU 0; then diodload against diod -l and dist/gofer --listen.
# Prints a markdown table and writes it to bench/results/p9-latest.md
# (p9-unpinned-latest.md with --cpu -1).
#
# Usage: scripts/bench-p9.sh [--only ours|diod] [--rounds N] [--iters N] [--warmup N]
#                            [--version V] [--ours-native V] [--ours-aname A]
#                            [--load-seconds N] [--load-threads N] [--load-rounds N]
#                            [--cpu N] [--gofer PATH] [--out FILE] [--update-doc|--doc-only]
#                            [--metrics REGEXP]
# Defaults: both servers at plain 9P2000.L (what diod speaks), 4 runs each,
# 2000 timed iterations per metric per run; ours also at 9P2000.L.Google.13.
# --cpu -1 runs everything unpinned. --update-doc also puts the report
# between the "p9-bench" markers of docs/benchmarks-p9.md (pinned runs in
# the first pair, --cpu -1 runs in the second); --doc-only does only that,
# from the last report. --metrics runs only the rows whose name matches (e.g.
# readdir, or concurrent: 1, 2, 4 and 8 connections at once). --server-cpu 1
# (with the default --cpu 0) is the split placement: servers on CPU 1. A
# second table gives the client's and the server's CPU time per iteration.
# See docs/benchmarks-p9.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../tests/interop/lib.sh"

out=""
cpu=0
native=(--ours-native 9P2000.L.Google.13)
args=()
update_doc=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) out="$2"; shift 2 ;;
	--out=*) out="${1#--out=}"; shift ;;
	--cpu) cpu="$2"; shift 2 ;;
	--cpu=*) cpu="${1#--cpu=}"; shift ;;
	--ours-native) native=(--ours-native "$2"); shift 2 ;;
	--ours-native=*) native=(--ours-native "${1#--ours-native=}"); shift ;;
	--update-doc) update_doc=1; shift ;;
	--doc-only) update_doc=2; shift ;;   # no run: put the existing --out report into the doc
	-h|--help) sed -n '2,23p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done
[[ "${native[1]}" == "" ]] && native=()
if [[ -z "$out" ]]; then
	out="$GOFER_ROOT/bench/results/p9-latest.md"
	[[ "$cpu" == "-1" ]] && out="$GOFER_ROOT/bench/results/p9-unpinned-latest.md"
fi

for t in diod diodload taskset; do
	command -v "$t" >/dev/null || PATH="$PATH:/usr/sbin:/sbin" command -v "$t" >/dev/null || {
		echo "FATAL: $t is required (diod, diodload: apt-get install -y diod; taskset: util-linux)" >&2
		exit 2
	}
done
export PATH="$PATH:/usr/sbin:/sbin"

if [[ $update_doc != 2 ]]; then
	gofer_go_env
	gofer_go_build p9bench

	export GOFER_BENCH_INVOCATION="scripts/bench-p9.sh ${args[*]:-}"
	cd "$GOFER_ROOT"
	[[ -x dist/gofer ]] || { echo "FATAL: dist/gofer missing; build it: node_modules/.bin/bun run build.ts" >&2; exit 2; }
	pin=(taskset -c "$cpu")
	[[ "$cpu" == "-1" ]] && pin=()   # --cpu -1: unpinned, the scheduler decides
	set -x
	"${pin[@]}" build/p9_bench --cpu "$cpu" --gofer dist/gofer --diod "$(command -v diod)" \
		--diodload "$(command -v diodload)" "${native[@]}" --out "$out" "${args[@]}"
	set +x
fi

if [[ $update_doc != 0 ]]; then
	doc="$GOFER_ROOT/docs/benchmarks-p9.md"
	marker=pinned
	[[ "$cpu" == "-1" ]] && marker=unpinned
	grep -q "<!-- p9-bench:$marker:begin -->" "$doc" || { echo "FATAL: no p9-bench:$marker markers in $doc" >&2; exit 1; }
	awk -v m="$marker" -v f="$out" '
		$0 == "<!-- p9-bench:" m ":begin -->" {
			print
			while ((getline l < f) > 0) print (l ~ /^# / ? "##" l : l)   # the report title becomes a ###
			skip = 1; next
		}
		$0 == "<!-- p9-bench:" m ":end -->" { skip = 0 }
		!skip { print }
	' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
	echo "updated $doc ($marker)" >&2
fi
