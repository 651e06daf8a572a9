#!/usr/bin/env bash
# Test aid: runs the reference gofer (runsc-stock) behind our gofer's command
# line, so the `--server ours` code paths of the interop test and the benchmark
# can be exercised before dist/gofer exists:
#
#   build/lisafs_interop --server ours --gofer tests/interop/ref_shim.sh
#
# Accepts: --io-fd N --mount DIR[:ro] [--donate-mount-fd] [--host-uds X]
#          [--host-fifo X] [--xattr-user (ignored)] [--log-level debug]
set -euo pipefail
RUNSC="${RUNSC_STOCK:-/opt/gvisor-ref/bin/runsc-stock}"
io_fd="" mount="" ro=false directfs=false flags=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--io-fd) io_fd="$2"; shift 2 ;;
	--mount) mount="$2"; shift 2 ;;
	--donate-mount-fd) directfs=true; shift ;;
	--host-uds) flags+=("--host-uds=$2"); shift 2 ;;
	--host-fifo) flags+=("--host-fifo=$2"); shift 2 ;;
	--xattr-user) shift ;;
	--log-level) [[ "$2" == debug ]] && flags+=(--debug --debug-log=/dev/stderr); shift 2 ;;
	*) echo "ref_shim: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -n "$io_fd" && -n "$mount" ]] || { echo "ref_shim: need --io-fd and --mount" >&2; exit 2; }
if [[ "$mount" == *:ro ]]; then ro=true; mount="${mount%:ro}"; fi

bundle="$(mktemp -d /tmp/gofer-shim-XXXXXX)"
trap 'rm -rf "$bundle"' EXIT
cat >"$bundle/config.json" <<JSON
{"ociVersion": "1.0.0",
 "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
 "root": {"path": "$mount", "readonly": $ro},
 "mounts": []}
JSON
# runsc wants the socket on fd 5, the spec on fd 3 and a mounts sink on fd 4.
eval "exec 5<&$io_fd"
[[ "$io_fd" == 5 ]] || eval "exec $io_fd<&-"
exec 3<"$bundle/config.json" 4>/dev/null
# The spec is read through fd 3, so the bundle can go once runsc has started;
# run it as a child so that the trap above cleans up.
"$RUNSC" --TESTONLY-unsafe-nonroot --network=none --directfs=$directfs "${flags[@]}" \
	gofer --bundle "$bundle" --spec-fd=3 --mounts-fd=4 --io-fds=5 \
	--gofer-mount-confs=lisafs:none --apply-caps=false --setup-root=false
